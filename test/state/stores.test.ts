// The state seam's promises (broker/src/state/store.ts), held by BOTH stores from one suite: the
// file store (the embedded default) and the PostgreSQL store (a real server: test/support/postgres.ts).
// "Another broker" is a second store opened on the same state directory or database (its own
// locks / pool, as a second `hostward serve` has); real broker processes on one database are
// test/state/multi-broker.test.ts. Nothing is mocked.
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { formatOpenSshPrivateKey } from "../../proto/catalog/approval";
import { findAction } from "../../proto/catalog/actions/index";
import { previewSummary } from "../../proto/catalog/preview-summary";
import { ActionService } from "../../broker/src/actions/service";
import { fileSigner } from "../../broker/src/approval/signer";
import { verifyAuditFile, type VerifyResult } from "../../broker/src/audit/verify";
import { RolloutService } from "../../broker/src/rollouts/service";
import { rolloutStrategy } from "../../broker/src/rollouts/strategy";
import { AUDIT_FILE, openFileState } from "../../broker/src/state/files";
import { verifyPgChain } from "../../broker/src/state/postgres/admin";
import { openPostgresState } from "../../broker/src/state/postgres/index";
import type { StateChange, StateStore } from "../../broker/src/state/store";
import { TEST_PROPOSAL } from "../broker/actions/cli-support";
import { startPostgres, type TestPostgres } from "../support/postgres";

interface Kind {
  name: "files" | "postgres";
  /** A fresh, empty store location; `open()` opens one more store on it (another broker). */
  fresh(): Promise<{ open(options?: { lockWaitMs?: number }): StateStore; verify(): Promise<VerifyResult> }>;
}

let pgs: TestPostgres;
let scratch: string;
const opened: StateStore[] = [];
const track = (s: StateStore) => (opened.push(s), s);

beforeAll(async () => {
  pgs = await startPostgres();
  scratch = mkdtempSync(join(tmpdir(), "hw-stores-"));
});
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  pgs?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

let n = 0;
const KINDS: Kind[] = [
  {
    name: "files",
    async fresh() {
      const dir = join(scratch, `files-${++n}`);
      const stateDir = join(dir, "state");
      return {
        open: (o = {}) => track(openFileState(stateDir, dir, o)),
        verify: async () => verifyAuditFile(join(stateDir, AUDIT_FILE)),
      };
    },
  },
  {
    name: "postgres",
    async fresh() {
      const db = await pgs.newDatabase();
      const first = track(openPostgresState({ url: db.brokerUrl }));
      return {
        open: (o = {}) => track(openPostgresState({ url: db.brokerUrl }, o)),
        verify: () => verifyPgChain((first as ReturnType<typeof openPostgresState>).pool),
      };
    },
  },
];

const proposal = TEST_PROPOSAL;

const truncateLog = findAction("truncate_log")!;
const logParams = { path: "/var/log/app/debug.log" };
function logPreview(i: number) {
  const facts = { systemd: true, paths: {}, path: logParams.path, device: 1, inode: 2 + i, sizeBytes: 10, modifiedMs: 0 };
  return { action: truncateLog.name, facts, summary: previewSummary(truncateLog, logParams, facts) };
}

describe.each(KINDS)("the $name store", (kind) => {
  let at: Awaited<ReturnType<Kind["fresh"]>>;
  beforeEach(async () => {
    at = await kind.fresh();
  });

  describe("the audit chain", () => {
    it("appends in one total order; tail returns the last records, each checked; verify passes", async () => {
      const s = at.open();
      await s.audit.append({ event: "broker.start", pid: 1 });
      await s.audit.append({ event: "tool.call", tool: "get_load" }, { event: "tool.result", tool: "get_load" });
      const w = await s.audit.appendDeferred({ event: "tool.call", tool: "get_disks" });
      await w.durable;
      await (await s.audit.appendLazy({ event: "broker.stop", reason: "test" })).durable;
      const tail = await s.audit.tail(3, 1 << 20);
      expect(tail.problems).toEqual([]);
      expect(tail.records.map((r) => [r.seq, r.event])).toEqual([
        [3, "tool.result"],
        [4, "tool.call"],
        [5, "broker.stop"],
      ]);
      // The chain's own fields are the chain's: a record cannot set its seq, prev or code.
      await s.audit.append({ event: "tool.call", seq: 99, prev: "f".repeat(64), code: "HW9999" });
      expect((await s.audit.tail(1, 1 << 20)).records[0]).toMatchObject({ seq: 6, code: "HW1001" });
      expect(await at.verify()).toMatchObject({ ok: true, records: 6 });
    });

    it("four brokers appending at once make one chain: no fork, no gap, every record once", async () => {
      const brokers = [at.open({ lockWaitMs: 20_000 }), at.open({ lockWaitMs: 20_000 }), at.open({ lockWaitMs: 20_000 }), at.open({ lockWaitMs: 20_000 })];
      await Promise.all(brokers.map((b, i) => Promise.all(Array.from({ length: 25 }, (_, j) => b.audit.append({ event: "tool.call", tool: "get_load", broker: i, j })))));
      const v = await at.verify();
      expect(v).toMatchObject({ ok: true, records: 100 });
      const all = (await brokers[0]!.audit.tail(200, 1 << 24)).records;
      expect(new Set(all.map((r) => `${String(r.broker)}:${String(r.j)}`)).size).toBe(100);
    });
  });

  describe("action requests", () => {
    it("another broker sees a proposal at once, as written", async () => {
      const a = new ActionService(at.open().actions, at.open().audit, () => 900);
      const r = await a.propose(proposal);
      const other = at.open();
      expect(await other.actions.get(r.id)).toEqual(r);
      expect((await other.actions.list()).requests.map((x) => x.id)).toEqual([r.id]);
      await expect(other.actions.create(r)).rejects.toThrow(/exists/);
    });

    it("an approved request moves to RUNNING once, whichever of five brokers tries at the same time", async () => {
      const first = at.open();
      const svc = new ActionService(first.actions, first.audit, () => 900);
      const r = await svc.propose(proposal);
      expect((await first.actions.transition(r.id, "APPROVED", { from: ["PENDING"], by: "test" })).ok).toBe(true);
      const brokers = Array.from({ length: 5 }, () => at.open());
      const tries = await Promise.all(brokers.map((b, i) => new ActionService(b.actions, b.audit, () => 900).startExecution(r.id, `call-${i}`, { transport: "stdio" })));
      expect(tries.filter((t) => t.ok)).toHaveLength(1);
      for (const t of tries.filter((t) => !t.ok)) expect(t).toMatchObject({ ok: false, reason: expect.stringContaining("RUNNING") });
      const execs = (await first.audit.tail(50, 1 << 20)).records.filter((x) => x.event === "action.execute");
      expect(execs).toHaveLength(1);
      expect((await first.actions.get(r.id))!.state).toBe("RUNNING");
    });

    it("no audit record, no change: a transition whose record fails leaves the request as it was", async () => {
      const s = at.open();
      const svc = new ActionService(s.actions, s.audit, () => 900);
      const r = await svc.propose(proposal);
      const t = s.actions.transition(r.id, "APPROVED", {
        from: ["PENDING"],
        by: "test",
        before: () => {
          throw new Error("the audit store refused");
        },
      });
      await expect(t).rejects.toThrow("the audit store refused");
      expect(await at.open().actions.get(r.id)).toEqual(r);
      // A refused move (wrong state) changes nothing either.
      expect(await s.actions.transition(r.id, "RUNNING", { from: ["APPROVED"], by: "test" })).toMatchObject({ ok: false, reason: expect.stringContaining("is PENDING, not APPROVED") });
      expect(await at.open().actions.get(r.id)).toEqual(r);
    });

    it("a RUNNING request started by a broker on another machine is not judged gone here (its pid means nothing here)", async () => {
      const s = at.open();
      const svc = new ActionService(s.actions, s.audit, () => 900);
      const r = await svc.propose(proposal);
      await s.actions.transition(r.id, "APPROVED", { from: ["PENDING"], by: "test" });
      // A pid no process here has, recorded by a broker whose boot id is another machine's.
      const owner = { token: "cd".repeat(16), bootId: "00000000-0000-4000-8000-000000000000", pidNamespace: "pid:[1]", startTime: "1" };
      await s.actions.transition(r.id, "RUNNING", { from: ["APPROVED"], by: "test", patch: () => ({ execution: { startedAt: new Date().toISOString(), pid: 4_000_000, owner, callId: "call-x" } }) });
      expect((await svc.get(r.id))!.state).toBe("RUNNING");
      // Negative control: without the owner's proof, the same dead pid is judged gone (the old rule).
      const r2 = await svc.propose(proposal);
      await s.actions.transition(r2.id, "APPROVED", { from: ["PENDING"], by: "test" });
      await s.actions.transition(r2.id, "RUNNING", { from: ["APPROVED"], by: "test", patch: () => ({ execution: { startedAt: new Date().toISOString(), pid: 4_000_000, callId: "call-y" } }) });
      expect((await svc.get(r2.id))!.state).toBe("FAILED");
    });

    it("ids are checked before they reach the store", async () => {
      await expect(at.open().actions.get("../../etc/passwd")).rejects.toThrow(/not an? (valid )?action (request )?id/);
    });
  });

  describe("roll-outs", () => {
    it("a record and its previews are stored together; updates change its version; results are kept by host", async () => {
      const s = at.open();
      const svc = new RolloutService(s.rollouts, s.audit, () => 900);
      const hosts = [0, 1, 2].map((i) => ({ host: `web${i + 1}`, hostIdentity: `web${i + 1}`, hostKey: `sha256:${i.toString(16).padStart(64, "0")}`, preview: logPreview(i) }));
      const r = await svc.propose({ target: "*", hosts, action: truncateLog.name, params: logParams, impact: truncateLog.impact, strategy: rolloutStrategy.parse({}), reason: "test", requester: "test" });
      const other = at.open();
      const otherSvc = new RolloutService(other.rollouts, other.audit, () => 900);
      expect((await otherSvc.plan(r)).previews).toEqual(hosts.map((h) => h.preview));
      expect(await other.rollouts.ids()).toEqual([r.id]);
      const v1 = await other.rollouts.version(r.id);
      const dir = mkdtempSync(join(scratch, "key-"));
      const keyFile = join(dir, "approver");
      writeFileSync(keyFile, formatOpenSshPrivateKey(generateKeyPairSync("ed25519").privateKey, "tester"), { mode: 0o600 });
      const a = await otherSvc.approve(r.id, fileSigner(keyFile), { approver: "tester" });
      expect(a.ok, a.ok ? "" : a.reason).toBe(true);
      expect(await s.rollouts.version(r.id)).not.toBe(v1);
      expect((await svc.get(r.id))!.state).toBe("APPROVED");
      expect(await svc.saveResult(r, 1, { verdict: "SUCCEEDED", output: "ok" })).toBe(true);
      expect([...(await otherSvc.results(r, [0, 1, 2]))]).toEqual([[1, { verdict: "SUCCEEDED", output: "ok" }]]);
      // Two approvers racing on the same PENDING roll-out: the second finds it APPROVED.
      const again = await svc.approve(r.id, fileSigner(keyFile), { approver: "tester" });
      expect(again).toMatchObject({ ok: false, reason: expect.stringContaining("only a PENDING roll-out can be approved") });
    });
  });

  describe("change notices", () => {
    it("a proposal made through another broker is noticed", async () => {
      const watcher = at.open();
      const seen: StateChange[] = [];
      const heard = new Promise<void>((resolve) => {
        const stop = watcher.changes.watch((c) => {
          seen.push(c);
          stop();
          resolve();
        });
      });
      // LISTEN / inotify is set up asynchronously: propose until heard (bounded by the test's timeout).
      const other = at.open();
      const svc = new ActionService(other.actions, other.audit, () => 900);
      let id = "";
      let done = false;
      void heard.then(() => (done = true));
      while (!done) {
        id = (await svc.propose(proposal)).id;
        await Promise.race([heard, new Promise((r) => setTimeout(r, 200))]);
      }
      expect(seen[0]).toMatchObject({ kind: "action" });
      expect(seen[0]!.id).toMatch(/^act-/);
      expect(id).toMatch(/^act-/);
    });
  });
});
