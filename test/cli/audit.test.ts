// `hostward audit verify|tail` on a log written by the broker's own AuditLog.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { anchorFilesIn, AuditLog } from "../../broker/src/audit/log";
import { hostward } from "./cli";

describe("hostward audit", () => {
  let dir: string;
  let file: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "hostward-audit-"));
    const state = join(dir, "state");
    mkdirSync(state);
    writeFileSync(join(dir, "broker.yaml"), `stateDir: ${state}\n`);
    file = join(state, "audit.jsonl");
    const log = new AuditLog(file).open();
    for (let i = 0; i < 5; i++) await log.append({ event: "tool.call", tool: `get_load`, callId: `c${i}` });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("verify finds the log through broker.yaml and reports an intact chain", async () => {
    const r = await hostward(["audit", "verify", "--config", dir]);
    expect(r.stdout).toContain("5 records, hash chain intact");
    expect(r.code).toBe(0);
  });

  it("verify reports the first tampered record and exits 1", async () => {
    const lines = readFileSync(file, "utf8").split("\n");
    lines[2] = lines[2]!.replace('"get_load"', '"get_lood"');
    writeFileSync(file, lines.join("\n"));
    const r = await hostward(["audit", "verify", "--file", file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAILED check "record-hash" at record 3: record 3: the line's hash does not match/);
  });

  it("verify --config checks the signed head; records cut off the end fail the anchor check", async () => {
    const log = new AuditLog(file, { anchor: anchorFilesIn(dir) }).open();
    await log.append({ event: "action.execute", actionId: "act-000000000001" });
    await log.close();
    const ok = await hostward(["audit", "verify", "--config", dir]);
    expect(ok.stdout).toContain("6 records, hash chain intact");
    expect(ok.stdout).toContain("signed head: verified (record 6");
    expect(ok.code).toBe(0);
    const lines = readFileSync(file, "utf8").split("\n");
    writeFileSync(file, `${lines.slice(0, 4).join("\n")}\n`);
    const cut = await hostward(["audit", "verify", "--config", dir]);
    expect(cut.code).toBe(1);
    expect(cut.stdout).toMatch(/FAILED check "anchor" .*records were cut off the end/);
  });

  it("repair sets a torn last record aside and says so; verify then reports the recovery", async () => {
    writeFileSync(file, `${readFileSync(file, "utf8")}{"v":1,"seq":6,"ev`);
    const before = await hostward(["audit", "verify", "--config", dir]);
    expect(before.code).toBe(0);
    expect(before.stdout).toContain("the last 18 bytes are a record cut short");
    const repaired = await hostward(["audit", "repair", "--config", dir]);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stdout).toContain("a record cut short was set aside; the recovery is record 6");
    const after = await hostward(["audit", "verify", "--config", dir]);
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(/recovery at record 6: a record cut short \(18 bytes.*\(present\); not tampering/);
  });

  it("tail prints the last N records as JSON lines", async () => {
    const r = await hostward(["audit", "tail", "-n", "2", "--config", dir]);
    expect(r.code).toBe(0);
    const records = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { callId: string });
    expect(records.map((x) => x.callId)).toEqual(["c3", "c4"]);
    const bad = await hostward(["audit", "tail", "-n", "0", "--config", dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("-n must be an integer");
  });

  it("tail escapes what the model or a host wrote (bidi overrides, zero-width and tag characters), and the lines stay the same JSON", async () => {
    const reason = "fine\u202e\u2066txt.exe\u200b\u{e0041}\u00a0";
    await new AuditLog(file).open().append({ event: "action.proposed", reason, callId: "c5" });
    const r = await hostward(["audit", "tail", "-n", "1", "--config", dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[\u0020-\u007e\n]*$/);
    expect(r.stdout).toContain("fine\\u202e\\u2066txt.exe\\u200b\\udb40\\udc41\\u00a0");
    expect((JSON.parse(r.stdout) as { reason: string }).reason).toBe(reason);
    // The stored record itself is unchanged (the chain covers the bytes written).
    expect((await hostward(["audit", "verify", "--config", dir])).stdout).toContain("hash chain intact");
  });
});
