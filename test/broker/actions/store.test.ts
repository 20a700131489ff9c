// The action request store and the workflow's state machine: persisted files (atomic, survive a
// new store/process), checked transitions, expiry, and "no audit record, no change".
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ACTION_STATES, canTransition, isTerminal, type ActionRequest } from "../../../broker/src/actions/request";
import { ActionService } from "../../../broker/src/actions/service";
import { ActionStore } from "../../../broker/src/actions/store";
import { AuditLog } from "../../../broker/src/audit/log";
import { verifyAuditFile } from "../../../broker/src/audit/verify";
import { TEST_PROPOSAL } from "./cli-support";

let dir: string;
let audit: AuditLog;

function service(stateDir = dir, ttl = 900, log = audit): ActionService {
  return new ActionService(new ActionStore(stateDir), log, () => ttl);
}

const proposal = TEST_PROPOSAL;

function records(): Array<Record<string, unknown>> {
  if (!existsSync(audit.file)) return [];
  return readFileSync(audit.file, "utf8").trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** An audit log that cannot be written (its path is a directory; chmod does not stop root). */
function unwritableAudit(): AuditLog {
  const path = join(dir, "audit-is-a-directory");
  mkdirSync(path);
  return new AuditLog(path);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "hw-actions-store-"));
  audit = new AuditLog(join(dir, "audit.jsonl")).open();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("state machine", () => {
  it("allows exactly the documented moves", async () => {
    const allowed = ACTION_STATES.flatMap((from) => ACTION_STATES.filter((to) => canTransition(from, to)).map((to) => `${from}>${to}`));
    expect(allowed.sort()).toEqual(
      [
        "PENDING>APPROVED",
        "PENDING>REJECTED",
        "PENDING>EXPIRED",
        "PENDING>CANCELLED",
        // Another approver's signature over the same statement (M-of-N): the state stays APPROVED.
        "APPROVED>APPROVED",
        "APPROVED>RUNNING",
        "APPROVED>EXPIRED",
        "APPROVED>CANCELLED",
        "RUNNING>SUCCEEDED",
        "RUNNING>FAILED",
      ].sort(),
    );
    for (const s of ["REJECTED", "EXPIRED", "CANCELLED", "SUCCEEDED", "FAILED"] as const) expect(isTerminal(s)).toBe(true);
  });

  it("refuses a move from the wrong state and leaves the file as it was", async () => {
    const svc = service();
    const r = await svc.propose(proposal);
    const file = join(dir, "actions", `${r.id}.json`);
    const before = readFileSync(file, "utf8");
    const t = await svc.store.transition(r.id, "RUNNING", { from: ["APPROVED"], by: "test" });
    expect(t).toMatchObject({ ok: false, reason: expect.stringContaining("is PENDING, not APPROVED") });
    expect(readFileSync(file, "utf8")).toBe(before);
  });
});

describe("persistence", () => {
  it("a PENDING request is read back by a new store (a restarted broker) exactly as written", async () => {
    const r = await service().propose(proposal);
    const again = (await new ActionStore(dir).get(r.id));
    expect(again).toEqual(r);
    expect(again?.state).toBe("PENDING");
    expect(readdirSync(join(dir, "actions")).filter((n) => n !== "locks")).toEqual([`${r.id}.json`]); // no temporary file left (kernel lock files live in actions/locks/)
  });

  it("each transition is persisted with its history; no temporary files remain", async () => {
    const svc = service();
    const r = await svc.propose(proposal);
    const c = await svc.cancel(r.id, "not needed", { who: "tester" });
    expect(c.ok).toBe(true);
    const stored = (await new ActionStore(dir).get(r.id))!;
    expect(stored.state).toBe("CANCELLED");
    expect(stored.cancellation).toMatchObject({ reason: "not needed", by: "tester" });
    expect(stored.history.map((h) => h.state)).toEqual(["PENDING", "CANCELLED"]);
    expect(readdirSync(join(dir, "actions")).filter((n) => n !== "locks")).toEqual([`${r.id}.json`]);
    // Terminal: cannot be cancelled (or anything else) again.
    expect((await svc.cancel(r.id, "again", { who: "tester" })).ok).toBe(false);
  });

  it("a damaged request file is reported, not half-read", async () => {
    const svc = service();
    const r = await svc.propose(proposal);
    const file = join(dir, "actions", `${r.id}.json`);
    const text = readFileSync(file, "utf8").replace('"PENDING"', '"APPROVED-ISH"');
    rmSync(file);
    writeFileSync(file, text);
    await expect(svc.get(r.id)).rejects.toThrow(/not a valid action request/);
    expect((await svc.list()).problems).toHaveLength(1);
  });

  it("ids are checked before they become file names", async () => {
    await expect(new ActionStore(dir).get("../../etc/passwd")).rejects.toThrow(/not an action id/);
  });
});

describe("expiry", () => {
  it("a PENDING request past its expiry reads as EXPIRED, persisted and audited", async () => {
    const svc = service(dir, -1); // already expired when proposed
    const r = await svc.propose(proposal);
    const read = (await svc.get(r.id))!;
    expect(read.state).toBe("EXPIRED");
    expect((await new ActionStore(dir).get(r.id))!.state).toBe("EXPIRED");
    expect(records().map((x) => x.code)).toEqual(["HW1100", "HW1104"]);
    expect(verifyAuditFile(audit.file)).toMatchObject({ ok: true, records: 2 });
  });
});

describe("audit first", () => {
  it("a proposal is audited with its code; nothing is stored when the record cannot be written", async () => {
    const svc = service();
    const r = await svc.propose(proposal);
    expect(records()[0]).toMatchObject({ code: "HW1100", event: "action.proposed", actionId: r.id, host: "web1", action: "restart_service" });

    const svc2 = new ActionService(new ActionStore(join(dir, "other")), unwritableAudit(), () => 900);
    await expect(svc2.propose(proposal)).rejects.toThrow(/audit log/);
    expect(existsSync(join(dir, "other", "actions"))).toBe(false);
  });

  it("an execution does not start (stays APPROVED) when its record cannot be written", async () => {
    const svc = service();
    const r = await svc.propose(proposal);
    // Approve directly in the store (the signing path has its own tests).
    const approved = await svc.store.transition(r.id, "APPROVED", { from: ["PENDING"], by: "test" });
    expect(approved.ok).toBe(true);
    const svc2 = new ActionService(new ActionStore(dir), unwritableAudit(), () => 900);
    await expect(svc2.startExecution(r.id, "call-1", { transport: "stdio" })).rejects.toThrow(/audit log/);
    expect((await new ActionStore(dir).get(r.id))!.state).toBe("APPROVED");
    // With a writable log it starts, exactly once.
    const started = await svc.startExecution(r.id, "call-2", { transport: "stdio" });
    expect(started).toMatchObject({ ok: true, request: { state: "RUNNING" } });
    expect(await svc.startExecution(r.id, "call-3", { transport: "stdio" })).toMatchObject({ ok: false, reason: expect.stringContaining("RUNNING") });
    expect(records().filter((x) => x.event === "action.execute")).toHaveLength(1);
  });

  it("the result is recorded and the request ends SUCCEEDED or FAILED", async () => {
    const svc = service();
    const r = await svc.propose(proposal);
    await svc.store.transition(r.id, "APPROVED", { from: ["PENDING"], by: "test" });
    await svc.startExecution(r.id, "call", { transport: "stdio" });
    const done = await svc.finishExecution(r.id, { verdict: "FAILED", error: { code: "UNAVAILABLE", message: "web1 is unreachable" }, durationMs: 12 });
    expect(done.audited).toBe(true);
    const stored: ActionRequest = (await new ActionStore(dir).get(r.id))!;
    expect(stored.state).toBe("FAILED");
    expect(stored.execution).toMatchObject({ verdict: "FAILED", error: { code: "UNAVAILABLE" }, durationMs: 12 });
    expect(records().map((x) => x.code)).toEqual(["HW1100", "HW1105", "HW1106"]);
  });
});

describe("a RUNNING request whose broker is gone", () => {
  /** A pid that existed and has exited (its parent, this test, reaped it). */
  function deadPid(): number {
    const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    return Number(r.stdout);
  }

  async function running(pid: number, startedAt = new Date().toISOString()): Promise<string> {
    const svc = service();
    const r = await svc.propose(proposal);
    await svc.store.transition(r.id, "APPROVED", { from: ["PENDING"], by: "test" });
    await svc.store.transition(r.id, "RUNNING", { from: ["APPROVED"], by: "test", patch: () => ({ execution: { startedAt, pid, callId: "call-x" } }) });
    return r.id;
  }

  it("becomes FAILED with an unknown outcome, audited, when its broker process has exited", async () => {
    const id = await running(deadPid());
    const r = (await service().get(id))!;
    expect(r.state).toBe("FAILED");
    expect(r.execution?.error).toMatchObject({ code: "OUTCOME_UNKNOWN", message: expect.stringContaining("is unknown") });
    expect(records().at(-1)).toMatchObject({ event: "action.result", verdict: "FAILED", error: { code: "OUTCOME_UNKNOWN" } });
    expect(verifyAuditFile(audit.file).ok).toBe(true);
  });

  it("stays RUNNING while its broker lives (this process) and within the action's time bound", async () => {
    const id = await running(process.pid);
    expect((await service().get(id))!.state).toBe("RUNNING");
    expect((await service().list({ state: "RUNNING" })).requests.map((x) => x.id)).toEqual([id]);
  });

  it("becomes FAILED once far past the action's timeout, even if its pid is alive (pid reuse)", async () => {
    const id = await running(process.pid, new Date(Date.now() - 24 * 3600_000).toISOString());
    expect((await service().get(id))!.state).toBe("FAILED");
  });
});
