// Per-process facts from /proc/<pid>/{stat,status,cmdline}. Every reader returns null when the
// process disappears between listing and reading (ENOENT/ESRCH): callers skip it.
import { redactArgv, type RedactionPolicy } from "../../redact";
import { readdir, readFile } from "node:fs/promises";
import { capText, isGone, parseColonLines, readHead } from "./read";

/** The fields of /proc/<pid>/stat that the diagnostics use (see proc(5) for numbering). */
export interface ProcStat {
  pid: number;
  /** comm: the kernel's 15-character process name. */
  comm: string;
  /** One letter: R running, S sleeping, D disk sleep, Z zombie, T stopped, I idle, … */
  state: string;
  ppid: number;
  /** utime + stime, in USER_HZ ticks. */
  cpuTicks: number;
  nice: number;
  threads: number;
  /** Ticks after boot at which the process started. */
  startTicks: number;
  vszBytes: number;
}

/** Parses /proc/<pid>/stat. comm may contain spaces and ")" so it ends at the LAST ")". */
function parseStat(text: string): ProcStat {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) throw new Error("malformed /proc/<pid>/stat");
  // rest[0] is field 3 (state); field k is rest[k - 3].
  const rest = text.slice(close + 2).trim().split(" ");
  const f = (k: number) => Number(rest[k - 3] ?? 0);
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: rest[0] ?? "?",
    ppid: f(4),
    cpuTicks: f(14) + f(15),
    nice: f(19),
    threads: f(20),
    startTicks: f(22),
    vszBytes: f(23),
  };
}

export async function listPids(): Promise<number[]> {
  const entries = await readdir("/proc");
  return entries.filter((e) => /^\d+$/.test(e)).map(Number);
}

async function orNull<T>(read: Promise<T>): Promise<T | null> {
  try {
    return await read;
  } catch (err) {
    if (isGone(err)) return null;
    throw err;
  }
}

export async function readStat(pid: number): Promise<ProcStat | null> {
  const text = await orNull(readFile(`/proc/${pid}/stat`, "utf8"));
  return text === null ? null : parseStat(text);
}

export interface ProcStatus {
  /** Effective uid (what ps shows as USER). */
  uid: number;
  gid: number;
  rssBytes: number;
  /** Thread-group id: differs from the pid when the pid names a thread. */
  tgid: number;
  /** Every field, for get_process_info. */
  fields: Map<string, string>;
}

const kB = (v: string | undefined) => (v ? Number.parseInt(v, 10) * 1024 || 0 : 0);

export async function readStatus(pid: number): Promise<ProcStatus | null> {
  const text = await orNull(readFile(`/proc/${pid}/status`, "utf8"));
  if (text === null) return null;
  const fields = parseColonLines(text);
  const second = (key: string) => Number((fields.get(key) ?? "").split(/\s+/)[1] ?? 0);
  return {
    uid: second("Uid"),
    gid: second("Gid"),
    // Kernel threads have no VmRSS line: they own no user memory.
    rssBytes: kB(fields.get("VmRSS")),
    tgid: Number(fields.get("Tgid") ?? pid),
    fields,
  };
}

/**
 * The command line, arguments joined by spaces, cut to `maxChars`. Kernel threads have an empty
 * cmdline and are shown as "[comm]", as ps does. Reads a bounded prefix (cmdlines can be MBs).
 */
export async function readCommand(pid: number, comm: string, maxChars: number, policy: RedactionPolicy): Promise<{ command: string; redacted: boolean } | null> {
  const raw = await orNull(readHead(`/proc/${pid}/cmdline`, maxChars * 4 + 4));
  if (raw === null) return null;
  const argv = raw.toString("utf8").replace(/\0+$/, "").split("\0");
  // Redacted argument by argument (redact.ts) before anything is joined or cut.
  const safe = redactArgv(argv, policy);
  const redacted = safe.some((a, i) => a !== argv[i]);
  const text = safe.join(" ");
  return { command: text === "" ? `[${comm}]` : capText(text, maxChars), redacted };
}

/** The basename of argv[0] (the full name when comm was cut to 15 characters). */
export function argv0Name(command: string): string {
  if (command.startsWith("[")) return "";
  const first = command.split(" ")[0] ?? "";
  return first.slice(first.lastIndexOf("/") + 1);
}

export const STATE_NAMES: Readonly<Record<string, string>> = {
  R: "running",
  S: "sleeping",
  D: "disk-sleep",
  Z: "zombie",
  T: "stopped",
  t: "tracing-stop",
  X: "dead",
  I: "idle",
  P: "parked",
  W: "paging",
  K: "wakekill",
};
