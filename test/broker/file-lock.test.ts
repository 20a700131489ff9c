// The kernel lock (broker/src/file-lock.ts): two holders exclude each other; a holder that is
// paused keeps the lock for as long as the pause lasts (nobody breaks it), and a waiter gives up
// after its bounded wait without blocking the event loop; a holder that dies releases it at once.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KernelLock, LockBusyError, withFileLock } from "../../broker/src/file-lock";
import { ROOT } from "./helpers/broker-dir";

let dir: string;
let lock: string;
const children: ChildProcess[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "hw-lock-"));
  lock = join(dir, "x.lock");
});
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** Another process that takes the lock (with the same library) and says so, then waits. */
function holderProcess(path: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ["-e", `const f=require("fs-native-extensions");const fd=require("fs").openSync(process.argv[1],"a+");if(!f.tryLock(fd))process.exit(3);process.stdout.write("held\\n");setInterval(()=>{},1000);`, path],
    { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout!.once("data", () => resolve(child));
    child.once("exit", (code) => reject(new Error(`holder exited ${code}`)));
  });
}

describe("KernelLock", () => {
  it("two locks on one path exclude each other, in one process", () => {
    const a = new KernelLock(lock);
    const b = new KernelLock(lock);
    expect(a.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
    a.release();
    expect(b.tryAcquire()).toBe(true);
    a.close();
    b.close();
  });

  it("a paused holder keeps the lock past any wait; the waiter refuses after its bound while timers keep running", async () => {
    const holder = await holderProcess(lock);
    holder.kill("SIGSTOP");
    let ticks = 0;
    const ticker = setInterval(() => (ticks += 1), 10);
    const started = Date.now();
    const err = await new KernelLock(lock).acquire(400).catch((e: unknown) => e);
    clearInterval(ticker);
    expect(err).toBeInstanceOf(LockBusyError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(ticks).toBeGreaterThan(10);
    // Still paused, still held: a later waiter is refused too (the lock is never "broken").
    expect(new KernelLock(lock).tryAcquire()).toBe(false);
    holder.kill("SIGCONT");
  });

  it("a holder that dies (SIGKILL) releases the lock at once", async () => {
    const holder = await holderProcess(lock);
    const waiter = new KernelLock(lock);
    expect(waiter.tryAcquire()).toBe(false);
    const exited = new Promise((r) => holder.once("exit", r));
    holder.kill("SIGKILL");
    await exited;
    await expect(waiter.acquire(1_000)).resolves.toBeUndefined();
    waiter.close();
  });
});

describe("withFileLock", () => {
  it("releases the lock when fn throws", async () => {
    await expect(withFileLock(lock, () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    const after = new KernelLock(lock);
    expect(after.tryAcquire()).toBe(true);
    after.close();
  });
});
