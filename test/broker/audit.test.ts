// The broker's audit log (broker/src/audit): append-only JSON lines, hash-chained, verified by
// verifyAuditFile; tampering of any kind is detected at the record where it happened; a write that
// cannot be made fails loudly; a record cut short is recovered (kept aside, recorded) and reported
// as a recovery; with the signed head, cutting records off the end or resealing the chain fails.
// Faults with real processes and a real full disk: audit-faults.test.ts.
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GENESIS, sealLine, sha256Hex } from "../../broker/src/audit/chain";
import { anchorFilesIn, AuditBusyError, AuditError, AuditLog, tornFile } from "../../broker/src/audit/log";
import { verifyAuditFile, verifyAuditText } from "../../broker/src/audit/verify";
import { KernelLock } from "../../broker/src/file-lock";

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "hw-audit-"));
  file = join(dir, "state", "audit.jsonl");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const lines = () => readFileSync(file, "utf8").trimEnd().split("\n");
const records = () => lines().map((l) => JSON.parse(l) as Record<string, unknown>);

async function fill(n: number, log = new AuditLog(file).open()): Promise<AuditLog> {
  for (let i = 0; i < n; i++) await log.append({ event: "tool.call", callId: `c${i}`, tool: "get_load", target: "*" });
  return log;
}

describe("writing", () => {
  it("appends one JSON line per record with seq, ts, code, prev and hash", async () => {
    const log = new AuditLog(file).open();
    await log.append({ event: "tool.call", callId: "a", caller: { transport: "stdio", client: { name: "t", version: "1" } }, tool: "get_load" });
    await log.append({ event: "policy.decision", callId: "a", host: "web1", decision: "allow" }, { event: "tool.result", callId: "a" });
    const r = records();
    expect(r.map((x) => x.seq)).toEqual([1, 2, 3]);
    expect(r.map((x) => x.code)).toEqual(["HW1001", "HW1002", "HW1004"]);
    expect(r[0]).toMatchObject({ v: 1, event: "tool.call", callId: "a", caller: { transport: "stdio", client: { name: "t", version: "1" } }, prev: GENESIS });
    expect(r[1]!.prev).toBe(sha256Hex(lines()[0]!));
    expect(r[2]!.prev).toBe(sha256Hex(lines()[1]!));
    expect(typeof r[0]!.ts).toBe("string");
    expect(verifyAuditFile(file)).toMatchObject({ ok: true, records: 3, recoveries: [], anchor: { status: "absent" } });
  });

  it("creates the file 0600 in a 0700 directory", async () => {
    await fill(1);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "state")).mode & 0o777).toBe(0o700);
  });

  it("a record cannot override the chain's own fields", async () => {
    const log = new AuditLog(file).open();
    await log.append({ event: "tool.call", seq: 99, prev: "x", hash: "y", v: 7 } as never);
    expect(records()[0]).toMatchObject({ seq: 1, prev: GENESIS, v: 1 });
    expect(verifyAuditFile(file).ok).toBe(true);
  });

  it("continues the chain of an existing file (a new broker process)", async () => {
    await fill(3);
    await new AuditLog(file).open().append({ event: "broker.start" });
    expect(records().map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(verifyAuditFile(file)).toMatchObject({ ok: true, records: 4 });
  });

  it("two logs on one file in one process, used alternately, continue one chain (each revalidates its cached tail)", async () => {
    const a = new AuditLog(file).open();
    const b = new AuditLog(file).open();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        Promise.all([a.append({ event: "tool.call", callId: `a${i}` }), b.append({ event: "tool.call", callId: `b${i}` }, { event: "tool.result", callId: `b${i}` })]),
      ),
    );
    expect(verifyAuditFile(file)).toMatchObject({ ok: true, records: 60 });
    expect(new Set(records().map((r) => r.seq)).size).toBe(60);
  });

  it("a deferred record is written before it resolves and made durable by the next flush", async () => {
    const log = new AuditLog(file).open();
    const lazy = await log.appendLazy({ event: "tool.result", callId: "a" });
    expect(records().map((r) => r.callId)).toEqual(["a"]);
    const next = await log.appendDeferred({ event: "tool.call", callId: "b" });
    await expect(Promise.all([lazy.durable, next.durable])).resolves.toEqual([undefined, undefined]);
    // Alone, its own timer flushes it.
    await expect((await log.appendLazy({ event: "tool.result", callId: "c" })).durable).resolves.toBeUndefined();
    expect(verifyAuditFile(file)).toMatchObject({ ok: true, records: 3 });
  });

  it("follows the path when the log is moved away between appends", async () => {
    const log = await fill(2);
    renameSync(file, `${file}.1`);
    await log.append({ event: "tool.call", callId: "after" });
    expect(records().map((r) => r.callId)).toEqual(["after"]);
    expect(readFileSync(`${file}.1`, "utf8").trimEnd().split("\n")).toHaveLength(2);
    // Replaced by something that cannot be a log: the append fails instead of going elsewhere.
    rmSync(file);
    mkdirSync(file);
    await expect(log.append({ event: "tool.call" })).rejects.toThrow(AuditError);
  });

  it("a lock held elsewhere: the append waits on timers (the event loop runs), then refuses with AUDIT_BUSY and writes nothing", async () => {
    await fill(1);
    const holder = new KernelLock(`${file}.lock`);
    expect(holder.tryAcquire()).toBe(true);
    let ticks = 0;
    const ticker = setInterval(() => (ticks += 1), 10);
    const log = new AuditLog(file, { lockWaitMs: 300 }).open();
    const err = await log.append({ event: "tool.call", callId: "blocked" }).catch((e: unknown) => e);
    clearInterval(ticker);
    expect(err).toBeInstanceOf(AuditBusyError);
    expect((err as AuditBusyError).code).toBe("AUDIT_BUSY");
    expect((err as Error).message).toMatch(/busy.*300 ms.*nothing was written/);
    expect(ticks).toBeGreaterThan(5);
    expect(records()).toHaveLength(1);
    // Released: the next append goes through at once.
    holder.close();
    await log.append({ event: "tool.call", callId: "after" });
    expect(verifyAuditFile(file)).toMatchObject({ ok: true, records: 2 });
  });

  it("fails with AuditError when the log cannot be created (a path under a regular file)", () => {
    writeFileSync(join(dir, "plain"), "");
    expect(() => new AuditLog(join(dir, "plain", "audit.jsonl")).open()).toThrow(AuditError);
  });

  it("refuses to extend a chain whose last complete record is damaged (edited, not torn)", async () => {
    await fill(2);
    writeFileSync(file, `${lines()[0]}\n{"seq":2,"hash":"${"0".repeat(64)}"}\n`);
    await expect(new AuditLog(file).open().append({ event: "tool.call" })).rejects.toThrow(/last complete record is damaged/);
  });
});

describe("a record cut short (a crash mid-write, a full disk)", () => {
  it("is found by the next append: its bytes kept aside, the log cut back, the recovery recorded and verified as one", async () => {
    await fill(3);
    const torn = Buffer.from('{"v":1,"seq":4,"ts":"2026-12-07T00:00:00.000Z","code":"HW1001","event":"tool.c');
    const good = statSync(file).size;
    appendFileSync(file, torn);
    const before = verifyAuditFile(file);
    expect(before).toMatchObject({ ok: true, records: 3, tornTail: torn.length });

    await new AuditLog(file).open().append({ event: "tool.call", callId: "next" });
    const r = records();
    expect(r.map((x) => x.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(r[3]).toMatchObject({ event: "audit.recovered", code: "HW1006", tornOffset: good, tornBytes: torn.length, afterSeq: 3 });
    expect(r[4]).toMatchObject({ event: "tool.call", callId: "next" });
    expect(readFileSync(tornFile(file, good))).toEqual(torn);
    const after = verifyAuditFile(file);
    expect(after).toMatchObject({ ok: true, records: 5, recoveries: [{ seq: 4, tornBytes: torn.length, kept: "present" }] });
    expect(after.tornTail).toBeUndefined();
  });

  it("a new process with nothing else to write recovers it with repair()", async () => {
    await fill(2);
    appendFileSync(file, Buffer.from([0x7b, 0x22, 0xff, 0x00])); // not even UTF-8
    const log = new AuditLog(file).open();
    await expect(log.repair()).resolves.toEqual({ recovered: true, seq: 3 });
    await expect(log.repair()).resolves.toEqual({ recovered: false, seq: 3 });
    expect(verifyAuditFile(file)).toMatchObject({ ok: true, records: 3, recoveries: [{ seq: 3, tornBytes: 4, kept: "present" }] });
  });

  it("verify says when the kept-aside bytes are gone", async () => {
    await fill(1);
    appendFileSync(file, "{half");
    await new AuditLog(file).open().repair();
    rmSync(tornFile(file, Buffer.byteLength(`${lines()[0]}\n`)));
    expect(verifyAuditFile(file).recoveries).toEqual([expect.objectContaining({ kept: "missing" })]);
  });
});

describe("the signed head (anchor)", () => {
  const configDir = () => join(dir, "config");
  const anchor = () => anchorFilesIn(configDir());
  const anchored = () => new AuditLog(file, { anchor: anchor() }).open();

  it("is written (key 0600, outside the state directory) once records are durable, and verifies", async () => {
    const log = await fill(3, anchored());
    await log.close();
    expect(statSync(anchor().key).mode & 0o777).toBe(0o600);
    const head = JSON.parse(readFileSync(anchor().head, "utf8")) as { seq: number; chain: string };
    expect(head).toMatchObject({ seq: 3, chain: sha256Hex(lines()[0]!) });
    expect(verifyAuditFile(file, { head: anchor().head })).toMatchObject({ ok: true, anchor: { status: "verified", seq: 3 } });
  });

  it("an action's record moves the head at once", async () => {
    const log = await fill(1, anchored());
    await log.close();
    const log2 = anchored();
    await log2.append({ event: "action.execute", actionId: "act-x" });
    expect(JSON.parse(readFileSync(anchor().head, "utf8"))).toMatchObject({ seq: 2 });
    await log2.close();
  });

  it("cutting records off the end fails the anchor check, naming it", async () => {
    await (await fill(4, anchored())).close();
    writeFileSync(file, `${lines().slice(0, 2).join("\n")}\n`);
    const r = verifyAuditFile(file, { head: anchor().head });
    expect(r).toMatchObject({ ok: false, failure: { check: "anchor", error: expect.stringContaining("records were cut off the end") } });
    expect(verifyAuditFile(file).ok).toBe(true); // the chain alone cannot tell
  });

  it("rewriting a record and resealing the whole chain fails the anchor check", async () => {
    await (await fill(4, anchored())).close();
    // Reseal: change record 2, then recompute every hash and prev from there on.
    let prev = GENESIS;
    const resealed = lines().map((l) => {
      const { hash: _h, prev: _p, ...rest } = JSON.parse(l) as Record<string, unknown>;
      if (rest.seq === 2) rest.tool = "execute_action";
      const line = sealLine({ ...rest, prev });
      prev = sha256Hex(line);
      return line;
    });
    writeFileSync(file, `${resealed.join("\n")}\n`);
    expect(verifyAuditFile(file).ok).toBe(true);
    expect(verifyAuditFile(file, { head: anchor().head })).toMatchObject({ ok: false, failure: { check: "anchor", line: 4, error: expect.stringContaining("rewritten and resealed") } });
  });

  it("a log swapped for another chain, or an edited head, fails the anchor check", async () => {
    await (await fill(3, anchored())).close();
    const original = readFileSync(file);
    rmSync(file);
    await fill(5);
    expect(verifyAuditFile(file, { head: anchor().head }).failure).toMatchObject({ check: "anchor", error: expect.stringContaining("another chain") });
    writeFileSync(file, original);
    const head = JSON.parse(readFileSync(anchor().head, "utf8")) as Record<string, unknown>;
    writeFileSync(anchor().head, JSON.stringify({ ...head, seq: 1 }));
    expect(verifyAuditFile(file, { head: anchor().head }).failure).toMatchObject({ check: "anchor", error: expect.stringContaining("signature does not verify") });
  });

  it("a head due while the lock is busy elsewhere is signed once it is free (retried on a timer, no recursion)", async () => {
    const log = anchored();
    await log.append({ event: "tool.call", callId: "first" });
    const second = await log.appendDeferred({ event: "tool.call", callId: "second" });
    const other = new KernelLock(`${file}.lock`);
    expect(other.tryAcquire()).toBe(true);
    await second.durable; // its head is due now, but the lock is held by "another broker"
    await new Promise((r) => setTimeout(r, 1_200));
    other.close();
    await new Promise((r) => setTimeout(r, 200));
    expect(JSON.parse(readFileSync(anchor().head, "utf8"))).toMatchObject({ seq: 2 });
    await log.close();
  });

  for (const how of ["append", "appendDeferred"] as const) {
    it(`a log moved away with its head while a broker runs (the documented rotation), then ${how}: the new log verifies against its own head`, async () => {
      const log = anchored();
      for (let i = 0; i < 3; i++) await log.append({ event: "action.execute", actionId: `act-${i}` });
      expect(JSON.parse(readFileSync(anchor().head, "utf8"))).toMatchObject({ seq: 3 });
      renameSync(file, `${file}.1`);
      renameSync(anchor().head, `${anchor().head}.1`);
      if (how === "append") await log.append({ event: "tool.call", callId: "after" });
      else await (await log.appendDeferred({ event: "tool.call", callId: "after" })).durable;
      await log.close();
      expect(JSON.parse(readFileSync(anchor().head, "utf8"))).toMatchObject({ seq: 1, chain: sha256Hex(lines()[0]!) });
      expect(verifyAuditFile(file, { head: anchor().head })).toMatchObject({ ok: true, anchor: { status: "verified", seq: 1 } });
      expect(verifyAuditFile(`${file}.1`, { head: `${anchor().head}.1` })).toMatchObject({ ok: true, anchor: { status: "verified", seq: 3 } });
    });
  }

  it("a deleted head fails the check once the anchor key exists; an emptied log fails as cut off", async () => {
    await (await fill(2, anchored())).close();
    rmSync(anchor().head, { force: true });
    const head = { head: anchor().head, requireHead: true };
    expect(verifyAuditFile(file, head)).toMatchObject({ ok: false, failure: { check: "anchor", error: expect.stringContaining("is missing (deleted?)") } });
    await (await fill(1, anchored())).close();
    writeFileSync(file, "");
    expect(verifyAuditFile(file, head)).toMatchObject({ ok: false, failure: { check: "anchor", error: expect.stringContaining("the log is empty") } });
  });

  it("no head file: reported as not anchored", async () => {
    await fill(2);
    expect(existsSync(anchor().head)).toBe(false);
    expect(verifyAuditFile(file, { head: anchor().head })).toMatchObject({ ok: true, anchor: { status: "absent" } });
  });
});

describe("verifying", () => {
  it("an empty log verifies", () => expect(verifyAuditText("")).toMatchObject({ ok: true, records: 0 }));

  it("detects an edited record", async () => {
    await fill(4);
    const l = lines();
    l[2] = l[2]!.replace('"c2"', '"cX"');
    expect(verifyAuditText(`${l.join("\n")}\n`)).toMatchObject({ ok: false, records: 2, failure: { check: "record-hash", line: 3, error: expect.stringContaining("edited") } });
  });

  it("detects an edited record whose own hash was recomputed (the next record's prev breaks)", async () => {
    await fill(4);
    const l = lines();
    const body = l[1]!.replace(/,"hash":"[0-9a-f]{64}"\}$/, "}").replace('"c1"', '"cX"');
    l[1] = `${body.slice(0, -1)},"hash":"${sha256Hex(body)}"}`;
    expect(verifyAuditText(`${l.join("\n")}\n`)).toMatchObject({ ok: false, failure: { check: "chain", line: 3, error: expect.stringContaining("prev") } });
  });

  it("detects a removed record", async () => {
    await fill(4);
    const l = lines();
    l.splice(1, 1);
    expect(verifyAuditText(`${l.join("\n")}\n`)).toMatchObject({ ok: false, failure: { line: 2 } });
  });

  it("detects reordered records", async () => {
    await fill(4);
    const l = lines();
    [l[1], l[2]] = [l[2]!, l[1]!];
    expect(verifyAuditText(`${l.join("\n")}\n`)).toMatchObject({ ok: false, failure: { line: 2 } });
  });

  it("detects a fork: two records with the same seq and prev", async () => {
    await fill(2);
    const l = lines();
    const twin = sealLine({ v: 1, seq: 2, ts: "2026-12-07T00:00:00.000Z", code: "HW1001", event: "tool.call", callId: "other-broker", prev: sha256Hex(l[0]!) });
    expect(verifyAuditText(`${l.join("\n")}\n${twin}\n`)).toMatchObject({ ok: false, failure: { check: "chain", line: 3 } });
  });

  it("detects a truncated head (the first record must start the chain)", async () => {
    await fill(3);
    expect(verifyAuditText(`${lines().slice(1).join("\n")}\n`)).toMatchObject({ ok: false, failure: { line: 1 } });
  });
});
