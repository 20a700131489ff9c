// Small file-reading helpers shared by the /proc, /sys and /etc parsers. Nothing here spawns.
import { readFileSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { DiagnosticError } from "../context";

/**
 * USER_HZ, the unit of every tick count in /proc (stat, <pid>/stat). The kernel exposes 100 to
 * userspace on every architecture Node runs on; reading sysconf(_SC_CLK_TCK) would need a spawn.
 */
export const USER_HZ = 100;

/** The errno code of a failed fs call ("ENOENT", "EACCES", …), or "unknown error". */
export function errnoCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? (err instanceof Error ? err.message : "unknown error");
}

/** True when a /proc read failed because the file (or the process behind it) is gone. */
export function isGone(err: unknown): boolean {
  const code = errnoCode(err);
  return code === "ENOENT" || code === "ESRCH";
}

/**
 * Reads one of the kernel's small, system-wide files (/proc/loadavg, /proc/uptime, /proc/meminfo,
 * /sys/devices/system/cpu/online, and the agent's own mount table) synchronously. The kernel
 * generates them on read without touching a disk (a hung NFS mount does not block mountinfo),
 * and they are small (mountinfo: ~150 bytes per mount); an async readFile would cost four
 * thread-pool round trips each (about 1 ms per call on a busy host, test/bench/results.md). Never
 * use it for another process's file (a hung process can block reads of /proc/PID/*) or anything
 * caller-chosen.
 */
export function readKernelFile(path: "/proc/loadavg" | "/proc/uptime" | "/proc/meminfo" | "/sys/devices/system/cpu/online" | "/proc/self/mountinfo"): string {
  return readFileSync(path, "utf8");
}

/** Reads a text file; null when it does not exist. Any other failure is thrown. */
export async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if (isGone(err) || errnoCode(err) === "ENOTDIR") return null;
    throw err;
  }
}

/** Reads a one-line sysfs/procfs attribute, trimmed; null when absent, unreadable or empty. */
export async function readAttribute(path: string): Promise<string | null> {
  try {
    const text = (await readFile(path, "utf8")).trim();
    return text === "" ? null : text;
  } catch {
    return null;
  }
}

/**
 * Reads at most `maxBytes` from the start of a file. For files that can be huge (a process's
 * cmdline may be megabytes) so a reply is never built from an unbounded read.
 */
export async function readHead(path: string, maxBytes: number): Promise<Buffer> {
  const handle = await open(path, "r");
  try {
    const buf = Buffer.alloc(maxBytes);
    let filled = 0;
    while (filled < maxBytes) {
      const { bytesRead } = await handle.read(buf, filled, maxBytes - filled, null);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buf.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

/** "Key:   value" lines (meminfo, status, cpuinfo blocks) → Map of trimmed key → trimmed value. */
export function parseColonLines(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    out.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return out;
}

/** Cuts `text` to `max` characters, marking the cut with "…" so a reader knows it is partial. */
export function capText(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Rounds to one decimal: percentages and rates read better without float noise. */
export function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

/** `part / whole` as a percentage with one decimal; 0 when `whole` is 0. */
export function percent(part: number, whole: number): number {
  return whole > 0 ? round1((part / whole) * 100) : 0;
}

/** Maps `items` through `fn` with at most `limit` calls in flight (bounded /proc fan-out). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Waits between two samples; a cancelled call stops waiting and fails as DEADLINE_EXCEEDED. */
export async function sampleDelay(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    throw new DiagnosticError("DEADLINE_EXCEEDED", "the call was cancelled while sampling");
  }
}
