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

/** Takes `lock` (waiting up to WAIT_MS, breaking a stale one); returns the lock file's descriptor. */
function acquire(lock: string): number {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(lock, "wx", 0o600);
      writeSync(fd, String(process.pid));
      return fd;
    } catch (err) {
      if (fd !== undefined) {
        closeSync(fd);
        unlinkQuietly(lock);
        throw new LockError(`cannot lock ${lock}: ${(err as Error).message}`);
      }
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new LockError(`cannot lock ${lock}: ${(err as Error).message}`);
      if (breakStale(lock)) continue;
      if (Date.now() > deadline) throw new LockError(`${lock} stayed locked for ${WAIT_MS} ms`);
      Atomics.wait(sleepCell, 0, 0, 5);
    }
  }
}

function unlinkQuietly(lock: string): void {
  try {
    unlinkSync(lock);
  } catch {
    // Already removed as stale by another process.
  }
}

function release(lock: string, fd: number): void {
  closeSync(fd);
  unlinkQuietly(lock);
}

/** Runs `fn` while holding `lock`; synchronous so nothing else in this process interleaves. */
export function withLock<T>(lock: string, fn: () => T): T {
  const fd = acquire(lock);
  try {
    return fn();
  } finally {
    release(lock, fd);
  }
}

// A lease keeps a lock between uses, for a writer that takes it on every call (the audit log: two
// appends per tool call). Creating and unlinking the lock file are journaled metadata changes
// that queue behind the log's own fsyncs; holding it across calls turns them into none per call
// (test/bench/results.md). Other processes still get it: it is released once unused for
// LEASE_IDLE_MS, and at exit; after LEASE_MAX_MS of holding it is released at the end of the use in
// progress and, for LEASE_COOLDOWN_MS, taken per use only, so that a waiting process (polling every
// 5 ms) finds it free between uses however busy this one is.
// Within this process every user of the same lock path shares the lease (uses are synchronous).
export const LEASE_IDLE_MS = 20;
export const LEASE_MAX_MS = 250;
export const LEASE_COOLDOWN_MS = 25;

interface Lease {
  fd: number;
  since: number;
  timer: NodeJS.Timeout | undefined;
}
const leases = new Map<string, Lease>();
const cooldownUntil = new Map<string, number>();
let exitHook = false;

function endLease(lock: string): void {
  const lease = leases.get(lock);
  if (!lease) return;
  leases.delete(lock);
  clearTimeout(lease.timer);
  release(lock, lease.fd);
}

/**
 * Runs `fn` holding `lock`, which stays held for a while after `fn` returns (see above). `fresh` is
 * true when the lock was just taken: another process may have changed the guarded files since.
 */
export function withLease<T>(lock: string, fn: (fresh: boolean) => T): T {
  const cooling = cooldownUntil.get(lock);
  if (cooling !== undefined) {
    if (Date.now() < cooling) return withLock(lock, () => fn(true));
    cooldownUntil.delete(lock);
  }
  let lease = leases.get(lock);
  const fresh = lease === undefined;
  if (!lease) {
    lease = { fd: acquire(lock), since: Date.now(), timer: undefined };
    leases.set(lock, lease);
    if (!exitHook) {
      exitHook = true;
      process.once("exit", () => {
        for (const l of [...leases.keys()]) endLease(l);
      });
    }
  }
  try {
    return fn(fresh);
  } finally {
    clearTimeout(lease.timer);
    if (Date.now() - lease.since >= LEASE_MAX_MS) {
      endLease(lock);
      cooldownUntil.set(lock, Date.now() + LEASE_COOLDOWN_MS);
    } else {
      lease.timer = setTimeout(() => endLease(lock), LEASE_IDLE_MS);
      lease.timer.unref();
    }
  }
}

/** Releases every lease this process holds now (tests; a process about to hand over its state). */
export function releaseLeases(): void {
  for (const l of [...leases.keys()]) endLease(l);
}
