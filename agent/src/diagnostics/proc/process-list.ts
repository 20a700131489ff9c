// list_processes: two passes over /proc/<pid>/stat CPU_SAMPLE_MS apart give each process's CPU
// use in that window (as top does); filters and sorting happen before command lines are read,
// so only the returned rows cost a cmdline read.
import type { InputOf, OutputOf } from "../../../../proto/catalog/define";
import {
  COMMAND_MAX_CHARS,
  CPU_SAMPLE_MS,
  PROCESS_SCAN_MAX,
  type listProcesses,
} from "../../../../proto/catalog/diagnostics/system";
import { commandFor, type CommandPolicy } from "./command-policy";
import { readProcStat } from "./cpu-times";
import { readMeminfo } from "./meminfo";
import { argv0Name, listPids, readCommand, readStat, readStatus, STATE_NAMES, type ProcStat } from "./processes";
import { USER_HZ, mapLimit, percent, round1, sampleDelay } from "./read";
import { readUserNames, userLabel } from "./users";

type Input = InputOf<typeof listProcesses>;
type Output = OutputOf<typeof listProcesses>;
type Row = Omit<Output["processes"][number], "command" | "commandRedacted"> & { uid: number };

/** /proc reads in flight at once: enough to be quick, few enough not to starve other work. */
const CONCURRENCY = 32;
/** comm is cut to 15 characters by the kernel; a name that long may be truncated. */
const COMM_MAX = 15;

async function scan(): Promise<ProcStat[]> {
  const pids = (await listPids()).slice(0, PROCESS_SCAN_MAX);
  const stats = await mapLimit(pids, CONCURRENCY, readStat);
  return stats.filter((s): s is ProcStat => s !== null);
}

const ORDER: Record<Input["sortBy"], (a: Row, b: Row) => number> = {
  cpu: (a, b) => b.cpuPercent - a.cpuPercent || b.rssBytes - a.rssBytes || a.pid - b.pid,
  memory: (a, b) => b.rssBytes - a.rssBytes || a.pid - b.pid,
  pid: (a, b) => a.pid - b.pid,
};

export async function readProcessList(input: Input, signal: AbortSignal, policy: CommandPolicy): Promise<Output> {
  const before = new Map((await scan()).map((s) => [s.pid, s]));
  const t0 = performance.now();
  await sampleDelay(CPU_SAMPLE_MS, signal);
  const after = await scan();
  const windowSeconds = (performance.now() - t0) / 1000;

  const [names, meminfo, procStat] = await Promise.all([readUserNames(), readMeminfo(), readProcStat()]);
  const memTotal = meminfo.get("MemTotal") ?? 0;
  const needle = input.nameContains?.toLowerCase();

  const rows = await mapLimit(after, CONCURRENCY, async (s): Promise<Row | null> => {
    const status = await readStatus(s.pid);
    if (status === null) return null; // exited since the second pass
    const user = userLabel(names, status.uid);
    if (input.user !== undefined && user !== input.user) return null;
    if (needle !== undefined && !s.comm.toLowerCase().includes(needle)) {
      // comm may be cut to 15 characters: try the program name from argv[0] too.
      if (s.comm.length < COMM_MAX) return null;
      const read = await readCommand(s.pid, s.comm, COMMAND_MAX_CHARS, policy.redaction);
      if (read === null || !argv0Name(read.command).toLowerCase().includes(needle)) return null;
    }
    // A pid absent from the first pass (or reused: other start time) started inside the window.
    const prev = before.get(s.pid);
    const prevTicks = prev && prev.startTicks === s.startTicks ? prev.cpuTicks : 0;
    return {
      pid: s.pid,
      ppid: s.ppid,
      uid: status.uid,
      user,
      name: s.comm,
      state: STATE_NAMES[s.state] ?? s.state,
      cpuPercent: round1(((s.cpuTicks - prevTicks) / USER_HZ / windowSeconds) * 100),
      rssBytes: status.rssBytes,
      memoryPercent: percent(status.rssBytes, memTotal),
      threads: s.threads,
      startTime: new Date((procStat.bootTimeSeconds + s.startTicks / USER_HZ) * 1000).toISOString(),
    };
  });
  const matching = rows.filter((r): r is Row => r !== null).sort(ORDER[input.sortBy]);

  // Command lines for the winners only; one that exits now is skipped and the next one used.
  const processes: Output["processes"] = [];
  for (const row of matching) {
    if (processes.length >= input.limit) break;
    const shown = await commandFor(row.pid, row.name, row.uid, COMMAND_MAX_CHARS, policy);
    const { uid: _uid, ...fields } = row;
    if (shown !== null) processes.push({ ...fields, ...shown });
  }
  return { processes, total: matching.length, scanned: after.length, sampleMs: Math.round(windowSeconds * 1000) };
}
