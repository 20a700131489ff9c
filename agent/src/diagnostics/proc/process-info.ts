// get_process_info: everything /proc/<pid> tells about one process without special privileges,
// and what it cannot (fd table, exe of other users' processes) reported as null with the reason.
import { opendir, readlink } from "node:fs/promises";
import type { OutputOf } from "../../../../proto/catalog/define";
import { COMMAND_MAX_CHARS, type getProcessInfo } from "../../../../proto/catalog/diagnostics/system";
import { DiagnosticError } from "../context";
import { readProcStat } from "./cpu-times";
import { commandFor, type CommandPolicy } from "./command-policy";
import { readStat, readStatus, STATE_NAMES } from "./processes";
import { USER_HZ, errnoCode, readOptional } from "./read";
import { readUserNames, userLabel } from "./users";

type Output = OutputOf<typeof getProcessInfo>;

/** Counts entries of /proc/<pid>/fd without building the whole list (a process may hold 1M fds). */
async function countFds(pid: number): Promise<{ fdCount: number | null; fdError: string | null }> {
  try {
    let n = 0;
    for await (const _entry of await opendir(`/proc/${pid}/fd`)) n++;
    return { fdCount: n, fdError: null };
  } catch (err) {
    return { fdCount: null, fdError: `cannot read /proc/${pid}/fd: ${errnoCode(err)}` };
  }
}

async function exeName(pid: number): Promise<string | null> {
  try {
    // A replaced binary reads "/usr/sbin/nginx (deleted)": kept, it says a restart is due.
    const target = await readlink(`/proc/${pid}/exe`);
    return target.slice(target.lastIndexOf("/") + 1);
  } catch {
    return null; // kernel thread, or another user's process without CAP_SYS_PTRACE
  }
}

/** /proc/<pid>/limits rows: "Max open files            1024                 524288               files". */
function parseLimits(text: string): Output["limits"] {
  const out: Output["limits"] = [];
  for (const line of text.split("\n").slice(1, 33)) {
    const m = /^(\S+(?: \S+)*)\s+(unlimited|\d+)\s+(unlimited|\d+)(?:\s+(\S+))?\s*$/.exec(line);
    if (!m) continue;
    const value = (v: string) => (v === "unlimited" ? ("unlimited" as const) : Number(v));
    out.push({ name: m[1] as string, soft: value(m[2] as string), hard: value(m[3] as string), units: m[4] ?? null });
  }
  return out;
}

/** The cgroup path: the unified (v2) one when it says something, else systemd's v1 hierarchy. */
export function parseCgroup(text: string): string | null {
  const paths = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) paths.set(m[1] as string, m[2] as string);
  }
  const unified = paths.get("");
  const v1 = paths.get("name=systemd");
  if (unified && unified !== "/") return unified;
  return v1 ?? unified ?? null;
}

/** The innermost service or scope in a cgroup path (delegated sub-cgroups sit below it). */
export function unitFromCgroup(path: string | null): string | null {
  const segments = (path ?? "").split("/").reverse();
  return segments.find((s) => /\.(?:service|scope)$/.test(s)) ?? null;
}

export async function readProcessInfo(pid: number, policy: CommandPolicy): Promise<Output> {
  const [stat, status] = await Promise.all([readStat(pid), readStatus(pid)]);
  if (stat === null || status === null) throw new DiagnosticError("NOT_FOUND", `pid: no process with pid ${pid} on this host`);
  const [command, exe, fds, limits, cgroupText, names, procStat] = await Promise.all([
    commandFor(pid, stat.comm, status.uid, COMMAND_MAX_CHARS, policy),
    exeName(pid),
    countFds(pid),
    readOptional(`/proc/${pid}/limits`).catch(() => null),
    readOptional(`/proc/${pid}/cgroup`).catch(() => null),
    readUserNames(),
    readProcStat(),
  ]);
  if (command === null) throw new DiagnosticError("NOT_FOUND", `pid: process ${pid} exited while being read`);
  const cgroup = cgroupText === null ? null : parseCgroup(cgroupText);
  return {
    pid,
    ppid: stat.ppid,
    name: stat.comm,
    state: STATE_NAMES[stat.state] ?? stat.state,
    user: userLabel(names, status.uid),
    uid: status.uid,
    gid: status.gid,
    ...command,
    exe,
    threads: stat.threads,
    nice: stat.nice,
    ...fds,
    limits: limits === null ? [] : parseLimits(limits),
    cgroup,
    systemdUnit: unitFromCgroup(cgroup),
    startTime: new Date((procStat.bootTimeSeconds + stat.startTicks / USER_HZ) * 1000).toISOString(),
    cpuSeconds: stat.cpuTicks / USER_HZ,
    rssBytes: status.rssBytes,
    vszBytes: stat.vszBytes,
  };
}
