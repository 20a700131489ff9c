// A small cross-process lock file (O_EXCL create, holding the owner's pid). Several broker processes
// may share one state directory (an MCP client starts one `hostward serve` per session, and
// `hostward approve` runs in a terminal): the audit log's appends and each action request's
// read-check-write use it so they never interleave. A lock whose owner died is broken.
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";

const WAIT_MS = 5_000;
const STALE_MS = 30_000;
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

export class LockError extends Error {
  override name = "LockError";
}

/** Removes a lock left by a dead process (or held far longer than any state change takes). */
function breakStale(lock: string): boolean {
  try {
    const pid = Number.parseInt(readFileSync(lock, "utf8"), 10);
    const age = Date.now() - statSync(lock).mtimeMs;
    let alive = true;
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 0);
      } catch (err) {
        alive = (err as NodeJS.ErrnoException).code === "EPERM";
      }
    }
    if (!alive || age > STALE_MS) {
      unlinkSync(lock);
      return true;
    }
    return false;
  } catch {
    // Vanished between attempts: try again at once.
    return true;
  }
}

/** Runs `fn` while holding `lock`; synchronous so nothing else in this process interleaves. */
export function withLock<T>(lock: string, fn: () => T): T {
  const deadline = Date.now() + WAIT_MS;
  let fd: number | undefined;
  while (fd === undefined) {
    try {
      fd = openSync(lock, "wx", 0o600);
      writeSync(fd, String(process.pid));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new LockError(`cannot lock ${lock}: ${(err as Error).message}`);
      if (breakStale(lock)) continue;
      if (Date.now() > deadline) throw new LockError(`${lock} stayed locked for ${WAIT_MS} ms`);
      Atomics.wait(sleepCell, 0, 0, 5);
    }
  }
  try {
    return fn();
  } finally {
    closeSync(fd);
    try {
      unlinkSync(lock);
    } catch {
      // Already removed as stale by another process.
    }
  }
}
