// The broker's audit log (broker/src/audit): append-only JSON lines, hash-chained, verified by
// verifyAuditFile; tampering of any kind is detected at the line where it happened; a write that
// cannot be made fails loudly.
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GENESIS, sha256Hex } from "../../broker/src/audit/chain";
import { AuditError, AuditLog } from "../../broker/src/audit/log";
import { verifyAuditFile, verifyAuditText } from "../../broker/src/audit/verify";
import { releaseLeases } from "../../broker/src/file-lock";

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "hw-audit-"));
  file = join(dir, "state", "audit.jsonl");
});
afterEach(() => {
  releaseLeases();
  rmSync(dir, { recursive: true, force: true });
});

const lines = () => readFileSync(file, "utf8").trimEnd().split("\n");
const records = () => lines().map((l) => JSON.parse(l) as Record<string, unknown>);

function fill(n: number): AuditLog {
  const log = new AuditLog(file).open();
  for (let i = 0; i < n; i++) log.append({ event: "tool.call", callId: `c${i}`, tool: "get_load", target: "*" });
  return log;
}

describe("writing", () => {
  it("appends one JSON line per record with seq, ts, code, prev and hash", () => {
    const log = new AuditLog(file).open();
    log.append({ event: "tool.call", callId: "a", caller: { transport: "stdio", client: { name: "t", version: "1" } }, tool: "get_load" });
    log.append({ event: "policy.decision", callId: "a", host: "web1", decision: "allow" }, { event: "tool.result", callId: "a" });
    const r = records();
    expect(r.map((x) => x.seq)).toEqual([1, 2, 3]);
    expect(r.map((x) => x.code)).toEqual(["HW1001", "HW1002", "HW1004"]);
    expect(r[0]).toMatchObject({ v: 1, event: "tool.call", callId: "a", caller: { transport: "stdio", client: { name: "t", version: "1" } }, prev: GENESIS });
    expect(r[1]!.prev).toBe(sha256Hex(lines()[0]!));
    expect(r[2]!.prev).toBe(sha256Hex(lines()[1]!));
    expect(typeof r[0]!.ts).toBe("string");
    expect(verifyAuditFile(file)).toEqual({ ok: true, records: 3 });
  });

  it("creates the file 0600 in a 0700 directory", () => {
    fill(1);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "state")).mode & 0o777).toBe(0o700);
  });

  it("a record cannot override the chain's own fields", () => {
    const log = new AuditLog(file).open();
    log.append({ event: "tool.call", seq: 99, prev: "x", hash: "y", v: 7 } as never);
    expect(records()[0]).toMatchObject({ seq: 1, prev: GENESIS, v: 1 });
    expect(verifyAuditFile(file).ok).toBe(true);
  });

  it("continues the chain of an existing file (a new broker process)", () => {
    fill(3);
    const again = new AuditLog(file).open();
    again.append({ event: "broker.start" });
    expect(records().map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(verifyAuditFile(file)).toEqual({ ok: true, records: 4 });
  });

  it("two writers on one file interleave without breaking the chain", () => {
    const a = new AuditLog(file).open();
    const b = new AuditLog(file).open();
    for (let i = 0; i < 10; i++) {
      a.append({ event: "tool.call", callId: `a${i}` });
      b.append({ event: "tool.call", callId: `b${i}` }, { event: "tool.result", callId: `b${i}` });
    }
    expect(verifyAuditFile(file)).toEqual({ ok: true, records: 30 });
  });

  it("a lazily appended record is written at once and made durable by the next flush", async () => {
    const log = new AuditLog(file).open();
    const lazy = log.appendLazy({ event: "tool.result", callId: "a" });
    // Written before appendLazy returns, fsync'd later.
    expect(records().map((r) => r.callId)).toEqual(["a"]);
    const next = log.appendDeferred({ event: "tool.call", callId: "b" });
    await expect(Promise.all([lazy, next])).resolves.toEqual([undefined, undefined]);
    // Alone, its own timer flushes it.
    await expect(log.appendLazy({ event: "tool.result", callId: "c" })).resolves.toBeUndefined();
    expect(verifyAuditFile(file)).toEqual({ ok: true, records: 3 });
  });

  it("follows the path when the log is moved away between appends (the lock still leased)", () => {
    const log = fill(2);
    renameSync(file, `${file}.1`);
    log.append({ event: "tool.call", callId: "after" });
    expect(records().map((r) => r.callId)).toEqual(["after"]);
    expect(readFileSync(`${file}.1`, "utf8").trimEnd().split("\n")).toHaveLength(2);
    // Replaced by something that cannot be a log: the append fails instead of going elsewhere.
    rmSync(file);
    mkdirSync(file);
    expect(() => log.append({ event: "tool.call" })).toThrow(AuditError);
  });

  it("removes a stale lock left by a dead process", () => {
    fill(1);
    releaseLeases();
    writeFileSync(`${file}.lock`, "999999999");
    new AuditLog(file).open().append({ event: "tool.call" });
    expect(verifyAuditFile(file)).toEqual({ ok: true, records: 2 });
  });

  it("fails with AuditError when the log cannot be created (a path under a regular file)", () => {
    writeFileSync(join(dir, "plain"), "");
    expect(() => new AuditLog(join(dir, "plain", "audit.jsonl")).open()).toThrow(AuditError);
  });

  it("refuses to extend a chain whose last line is damaged", () => {
    fill(2);
    appendFileSync(file, '{"half":');
    expect(() => new AuditLog(file).append({ event: "tool.call" })).toThrow(/last line is incomplete/);
    writeFileSync(file, `${lines()[0]}\n{"seq":2,"hash":"${"0".repeat(64)}"}\n`);
    expect(() => new AuditLog(file).append({ event: "tool.call" })).toThrow(/last line is damaged/);
  });
});

describe("verifying", () => {
  it("an empty log verifies", () => expect(verifyAuditText("")).toEqual({ ok: true, records: 0 }));

  it("detects an edited line", () => {
    fill(4);
    const l = lines();
    l[2] = l[2]!.replace('"c2"', '"cX"');
    expect(verifyAuditText(`${l.join("\n")}\n`)).toMatchObject({ ok: false, line: 3, records: 2, error: expect.stringContaining("edited") });
  });

  it("detects an edited line whose own hash was recomputed (the next line's prev breaks)", () => {
    fill(4);
    const l = lines();
    const body = l[1]!.replace(/,"hash":"[0-9a-f]{64}"\}$/, "}").replace('"c1"', '"cX"');
    l[1] = `${body.slice(0, -1)},"hash":"${sha256Hex(body)}"}`;
    expect(verifyAuditText(`${l.join("\n")}\n`)).toMatchObject({ ok: false, line: 3, error: expect.stringContaining("prev") });
  });

  it("detects a removed line", () => {
    fill(4);
    const l = lines();
    l.splice(1, 1);
    expect(verifyAuditText(`${l.join("\n")}\n`)).toMatchObject({ ok: false, line: 2 });
  });

  it("detects reordered lines", () => {
    fill(4);
    const l = lines();
    [l[1], l[2]] = [l[2]!, l[1]!];
    expect(verifyAuditText(`${l.join("\n")}\n`)).toMatchObject({ ok: false, line: 2 });
  });

  it("detects a truncated head (the first line must start the chain)", () => {
    fill(3);
    expect(verifyAuditText(`${lines().slice(1).join("\n")}\n`)).toMatchObject({ ok: false, line: 1 });
  });

  it("detects an incomplete last line", () => {
    fill(2);
    expect(verifyAuditText(`${lines().join("\n")}\n{"seq":3`)).toMatchObject({ ok: false, line: 3, error: expect.stringContaining("incomplete") });
  });
});
