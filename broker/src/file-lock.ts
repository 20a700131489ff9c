// Cross-process locks held by the kernel. Several broker processes share one state directory (an
// MCP client starts one `hostward serve` per session, and `hostward approve` runs in a terminal):
// the audit log's appends and each action request's read-check-write take an exclusive lock on a
// lock file that is never removed.
//
// The lock is an open-file-description lock (Linux `F_OFD_SETLK`; `flock` on macOS, `LockFileEx`
// on Windows) taken through fs-native-extensions. The kernel holds it for as long as the holder's
// descriptor is open and releases it only when the holder unlocks, closes it or dies: a paused
// holder (SIGSTOP, a laptop suspend, a long GC) keeps it for as long as the pause lasts, so nobody
// ever "breaks" a lock that is still in use. That is what makes a fork of the audit chain
// impossible rather than unlikely (docs/design/audit-log.md).
//
// Nothing here blocks the event loop: a busy lock is polled with a non-blocking try on timers, up
// to a bounded wait, after which the caller gets a LockBusyError and can say so before it has done
// anything (host-call.ts refuses the call before any host is contacted).
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { tryLock, unlock } from "fs-native-extensions";

/** How long a caller waits for a busy lock by default. */
export const LOCK_WAIT_MS = 2_000;

class LockError extends Error {
  override name = "LockError";
}

/** The lock stayed held by another process (or another descriptor) for the whole wait. */
export class LockBusyError extends LockError {
  override name = "LockBusyError";
  readonly code = "LOCK_BUSY";
  constructor(
    readonly path: string,
    readonly waitedMs: number,
  ) {
    super(`${path} stayed locked by another hostward process for ${waitedMs} ms (a broker paused or stopped while writing — a suspended laptop, SIGSTOP, a debugger — or a disk that stalls)`);
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * One lock file, opened once and kept open; `tryAcquire`/`release` lock and unlock it. Two
 * KernelLocks on the same path exclude each other, in one process as across processes (the lock
 * belongs to the open file description, not to the process).
 */
export class KernelLock {
  #fd: number | undefined;
  #held = false;

  constructor(readonly path: string) {}

  #open(): number {
    if (this.#fd !== undefined) return this.#fd;
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      // Writable: an exclusive lock needs a descriptor open for writing on some systems.
      this.#fd = openSync(this.path, "a+", 0o600);
    } catch (err) {
      throw new LockError(`cannot open the lock file ${this.path}: ${(err as Error).message}`);
    }
    return this.#fd;
  }

  get held(): boolean {
    return this.#held;
  }

  /**
   * Takes the lock if it is free now; never waits. Held by this KernelLock already (another use in
   * this process, between its acquire and its release) counts as busy.
   */
  tryAcquire(): boolean {
    if (this.#held) return false;
    const fd = this.#open();
    let granted: boolean;
    try {
      granted = tryLock(fd);
    } catch (err) {
      throw new LockError(`cannot lock ${this.path}: ${(err as Error).message}`);
    }
    this.#held = granted;
    return granted;
  }

  /** Takes the lock, polling on timers for at most `waitMs`; throws LockBusyError after that. */
  async acquire(waitMs: number = LOCK_WAIT_MS): Promise<void> {
    if (this.tryAcquire()) return;
    const started = Date.now();
    let delay = 1;
    for (;;) {
      const left = started + waitMs - Date.now();
      if (left <= 0) throw new LockBusyError(this.path, waitMs);
      await sleep(Math.min(delay, left));
      delay = Math.min(delay * 2, 16);
      if (this.tryAcquire()) return;
    }
  }

  release(): void {
    if (!this.#held || this.#fd === undefined) return;
    this.#held = false;
    try {
      unlock(this.#fd);
    } catch {
      // The descriptor is closed below: closing it releases the lock in any case.
      this.close();
    }
  }

  /** Closes the descriptor (releasing the lock if held). */
  close(): void {
    this.#held = false;
    if (this.#fd === undefined) return;
    try {
      closeSync(this.#fd);
    } catch {
      // Already closed.
    }
    this.#fd = undefined;
  }
}

/**
 * Runs `fn` holding the lock at `path` (waiting at most `waitMs`), and releases it afterwards —
 * also when `fn` throws. The lock file is opened for this use only.
 */
export async function withFileLock<T>(path: string, fn: () => T | Promise<T>, waitMs: number = LOCK_WAIT_MS): Promise<T> {
  const lock = new KernelLock(path);
  try {
    await lock.acquire(waitMs);
    return await fn();
  } finally {
    lock.close();
  }
}
