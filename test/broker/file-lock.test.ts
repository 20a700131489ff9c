// The cross-process lock file (broker/src/file-lock.ts) and its lease: held between uses, released
// when unused, and never starving another process even when its holder is busy.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LEASE_IDLE_MS, releaseLeases, withLease, withLock } from "../../broker/src/file-lock";

let dir: string;
let lock: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "hw-lock-"));
  lock = join(dir, "x.lock");
});
afterEach(() => {
  releaseLeases();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("withLock", () => {
  it("holds the lock file only while fn runs", () => {
    const seen = withLock(lock, () => existsSync(lock));
    expect(seen).toBe(true);
    expect(existsSync(lock)).toBe(false);
  });
});

describe("withLease", () => {
  it("keeps the lock after use, then releases it once unused", async () => {
    const fresh: boolean[] = [];
    withLease(lock, (f) => fresh.push(f));
    withLease(lock, (f) => fresh.push(f));
    expect(fresh).toEqual([true, false]);
    expect(existsSync(lock)).toBe(true);
    const deadline = Date.now() + 2_000;
    while (existsSync(lock) && Date.now() < deadline) await sleep(LEASE_IDLE_MS);
    expect(existsSync(lock)).toBe(false);
    withLease(lock, (f) => fresh.push(f));
    expect(fresh).toEqual([true, false, true]);
  });

  it("a busy holder still lets another waiter in (released after LEASE_MAX_MS)", async () => {
    withLease(lock, () => undefined);
    // The other waiter follows the same protocol as acquire(): O_EXCL create, poll every 5 ms.
    // A worker thread shares this pid, so the lock is never taken for a dead owner's.
    const worker = new Worker(
      `const { openSync, writeSync, closeSync, unlinkSync } = require("node:fs");
       const { parentPort, workerData } = require("node:worker_threads");
       const cell = new Int32Array(new SharedArrayBuffer(4));
       for (;;) {
         try {
           const fd = openSync(workerData, "wx");
           writeSync(fd, String(process.pid));
           Atomics.wait(cell, 0, 0, 10);
           closeSync(fd);
           unlinkSync(workerData);
           parentPort.postMessage("got it");
           break;
         } catch (err) {
           if (err.code !== "EEXIST") throw err;
           Atomics.wait(cell, 0, 0, 5);
         }
       }`,
      { eval: true, workerData: lock },
    );
    let got = false;
    worker.once("message", () => (got = true));
    const started = Date.now();
    // A writer using the lock every millisecond for up to 3 s (10 × LEASE_MAX_MS).
    while (!got && Date.now() - started < 3_000) {
      withLease(lock, () => undefined);
      await sleep(1);
    }
    await worker.terminate();
    expect(got).toBe(true);
  });
});
