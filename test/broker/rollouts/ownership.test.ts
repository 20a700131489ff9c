// Who runs a roll-out, under faults (broker/src/rollouts/owner.ts): a pid proves nothing across a
// restart or a PID namespace, so a record names its owner by a token plus what proves it gone, and
// holds a lease the owner renews. Two RolloutService instances with different owners play two broker
// processes on one state directory (the same record files, locks and audit chain a second
// `hostward serve` would use); the hosts are a scripted world (the real hosts' path is
// rollout-fleet.test.ts and test/e2e/rollouts.test.ts). Also: the record's size at 10,000 hosts,
// and a previews file changed behind the record's back.
import { RolloutFiles } from "../../../broker/src/state/rollout-files";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { formatOpenSshPrivateKey } from "../../../proto/catalog/approval";
import { findAction } from "../../../proto/catalog/actions/index";
import { previewSummary } from "../../../proto/catalog/preview-summary";
import { fileSigner } from "../../../broker/src/approval/signer";
import type { HostRecord } from "../../../broker/src/actions/host-record";
import { runRollout, type RolloutWorld } from "../../../broker/src/rollouts/engine";
import { processOwner } from "../../../broker/src/rollouts/owner";
import type { PlanHost, RolloutOwner } from "../../../broker/src/rollouts/record";
import { RolloutService } from "../../../broker/src/rollouts/service";
import { rolloutStrategy } from "../../../broker/src/rollouts/strategy";
import { openFileState } from "../../../broker/src/state/files";
import type { AuditStore } from "../../../broker/src/state/store";

const def = findAction("truncate_log")!;
const params = { path: "/var/log/app/debug.log" };
let dir: string;
let stateDir: string;
let audit: AuditStore;
let keyFile: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "hw-owner-"));
  stateDir = join(dir, "state");
  audit = openFileState(stateDir, dir).audit;
  keyFile = join(dir, "approver");
  writeFileSync(keyFile, formatOpenSshPrivateKey(generateKeyPairSync("ed25519").privateKey, "tester"), { mode: 0o600 });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const me = processOwner();
/** Another broker process: its own token; `proof` says what the record can prove about it here. */
function other(proof: Partial<RolloutOwner> = {}): RolloutOwner {
  return { token: "ab".repeat(16), ...(me.bootId && { bootId: me.bootId }), ...(me.pidNamespace && { pidNamespace: me.pidNamespace }), ...(me.startTime && { startTime: me.startTime }), ...proof };
}
const service = (owner?: RolloutOwner, lease: { leaseMs?: number; renewMs?: number } = {}) => new RolloutService(new RolloutFiles(stateDir), audit, () => 900, { ...(owner && { owner }), ...lease });

function preview(i = 0) {
  const facts = { systemd: true, paths: {}, path: params.path, device: 1, inode: 2 + i, sizeBytes: 10, modifiedMs: 0 };
  return { action: def.name, facts, summary: previewSummary(def, params, facts) };
}

async function approved(s: RolloutService, n: number, strategy: Record<string, unknown>, distinct = false): Promise<string> {
  const hosts = Array.from({ length: n }, (_, i) => ({ host: `web${i + 1}`, hostIdentity: `web${i + 1}`, hostKey: `sha256:${i.toString(16).padStart(64, "0")}`, preview: preview(distinct ? i : 0) }));
  const r = await s.propose({ target: "*", hosts, action: def.name, params, impact: def.impact, strategy: rolloutStrategy.parse(strategy), reason: "test", requester: "test" });
  const a = await s.approve(r.id, fileSigner(keyFile), { approver: "tester" });
  expect(a.ok, a.ok ? "" : a.reason).toBe(true);
  return r.id;
}

/** Hosts that succeed; `hold` makes one host's action wait for `release`; `ran` counts every action that reached a host. */
function world(ran: string[], opts: { hold?: string; release?: Promise<void>; record?: (h: PlanHost) => HostRecord } = {}): RolloutWorld {
  return {
    async execute(h: PlanHost) {
      ran.push(h.host);
      if (h.host === opts.hold) await opts.release;
      return { before: null, after: null, verdict: "SUCCEEDED", output: "" };
    },
    diagnose: async () => ({}),
    hostRecord: async (h) => opts.record?.(h) ?? { entry: null },
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 5))),
    progress: () => undefined,
    concurrency: 8,
  };
}

/** Leaves roll-out `id` RUNNING as broker `owner` (pid `pid`) left it, its lease until `leaseUntil`. */
async function leftRunningBy(s: RolloutService, id: string, owner: RolloutOwner, pid: number, leaseUntil: number): Promise<void> {
  const t = await s.files.update(id, (cur) => ({ next: { ...cur, state: "RUNNING", execution: { startedAt: new Date().toISOString(), pid, owner, leaseUntil, callId: "old", batch: 0, failures: 0, resumes: 0 } } }));
  expect(t.ok).toBe(true);
}

describe("taking a roll-out over", () => {
  it("a broker that came back with the same pid (a container's PID 1 after a restart) takes its roll-out over at once", async () => {
    const s = service();
    const id = await approved(s, 3, { canaries: 1, batchSize: 1 });
    // The previous incarnation: same pid, same boot and namespace, another start time.
    await leftRunningBy(s, id, other({ startTime: "1" }), process.pid, Date.now() + 3_600_000);
    const ran: string[] = [];
    const out = await runRollout(s, world(ran), id, "call-2");
    expect(out.ok, out.ok ? "" : out.reason).toBe(true);
    expect(out.ok && out.record.state).toBe("SUCCEEDED");
    expect(out.ok && out.record.execution?.resumes).toBe(1);
    expect(ran.sort()).toEqual(["web1", "web2", "web3"]);
  });

  it("a live broker elsewhere (another PID namespace, its pid alive here too) keeps it while its lease runs, and loses it once the lease lapses", async () => {
    const s = service();
    const id = await approved(s, 2, { canaries: 1, batchSize: 1 });
    const elsewhere = other({ pidNamespace: "pid:[4026530000]" });
    await leftRunningBy(s, id, elsewhere, 1, Date.now() + 60_000);
    const refused = await runRollout(s, world([]), id, "call-2");
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.reason).toMatch(/running in broker process 1 \(its lease runs until .*; a broker that stopped is taken over after it\)/);
    expect((await s.get(id))?.execution?.owner.token).toBe(elsewhere.token);

    await leftRunningBy(s, id, elsewhere, 1, Date.now() - 1);
    const ran: string[] = [];
    const out = await runRollout(s, world(ran), id, "call-3");
    expect(out.ok && out.record.state).toBe("SUCCEEDED");
    expect(ran.sort()).toEqual(["web1", "web2"]);
  });

  it("a running broker renews its lease: a second broker cannot take over a batch that outlasts the lease", async () => {
    const a = service(other({ bootId: "elsewhere" }), { leaseMs: 400, renewMs: 100 });
    const id = await approved(a, 2, { canaries: 1, batchSize: 1 });
    let release!: () => void;
    const ranA: string[] = [];
    const runA = runRollout(a, world(ranA, { hold: "web1", release: new Promise<void>((r) => (release = r)) }), id, "call-a");
    await new Promise((r) => setTimeout(r, 1_000)); // 2.5 leases
    const b = service();
    const tried = await runRollout(b, world([]), id, "call-b");
    expect(tried.ok).toBe(false);
    expect(!tried.ok && tried.reason).toMatch(/its lease runs until/);
    release();
    const out = await runA;
    expect(out.ok && out.record.state).toBe("SUCCEEDED");
    expect(ranA).toEqual(["web1", "web2"]);
  });

  it("a broker frozen past its lease (SIGSTOP, a clock step) is taken over; when it wakes it writes nothing and starts nothing, and no host runs twice", async () => {
    const a = service(other({ bootId: "elsewhere" }), { leaseMs: 300, renewMs: 60_000 }); // never renews in time: frozen
    const id = await approved(a, 3, { canaries: 1, batchSize: 1 });
    let release!: () => void;
    const ranA: string[] = [];
    const runA = runRollout(a, world(ranA, { hold: "web1", release: new Promise<void>((r) => (release = r)) }), id, "call-a");
    await new Promise((r) => setTimeout(r, 500));
    expect((await a.get(id))?.hosts[0]?.state).toBe("RUNNING");

    // The second broker settles web1 from the host's record (it did run: its helper's ledger says so) and goes on.
    const b = service();
    const ranB: string[] = [];
    const ended = { entry: { requestId: `${id}-0`, state: "ENDED" as const, verdict: "SUCCEEDED" as const, endedAt: new Date().toISOString() } };
    const outB = await runRollout(b, world(ranB, { record: (h) => (h.index === 0 ? ended : { entry: null }) }), id, "call-b");
    expect(outB.ok && outB.record.state).toBe("SUCCEEDED");
    expect(ranB).toEqual(["web2", "web3"]);

    release();
    const outA = await runA;
    expect(outA.ok).toBe(false);
    expect(!outA.ok && outA.reason).toMatch(/taken over by another broker/);
    expect(ranA).toEqual(["web1"]);
    const final = await b.get(id);
    expect(final?.state).toBe("SUCCEEDED");
    expect(final?.hosts.map((h) => [h.host, h.state, h.run?.reconciled ?? null])).toEqual([
      ["web1", "SUCCEEDED", "ENDED"],
      ["web2", "SUCCEEDED", null],
      ["web3", "SUCCEEDED", null],
    ]);
  });
});

describe("the record at fleet size", () => {
  it("10,000 hosts: the record holds entries and states (a few MB); previews sit beside it once; a batch rewrites only the record", async () => {
    const s = service();
    const id = await approved(s, 10_000, { canaries: 1, batchSize: 5_000 }, true);
    const record = join(stateDir, "rollouts", `${id}.json`);
    const previews = join(stateDir, "rollouts", `${id}.previews.jsonl`);
    const recordBytes = statSync(record).size;
    expect(recordBytes).toBeLessThan(6 * 1024 * 1024);
    expect(readFileSync(previews, "utf8").trimEnd().split("\n")).toHaveLength(10_000);
    const r = (await s.get(id))!;
    // One host's part: its preview, its entry and its proof, from the cached plan.
    const part = await s.partFor(r, 9_999);
    expect(JSON.parse(part.previewJson)).toEqual(preview(9_999));
    const before = statSync(previews).mtimeMs;
    const ran: string[] = [];
    const out = await runRollout(s, world(ran), id, "call-1");
    expect(out.ok && out.record.state).toBe("SUCCEEDED");
    expect(ran).toHaveLength(10_000);
    expect(statSync(previews).mtimeMs).toBe(before);
    expect(statSync(record).size).toBeLessThan(8 * 1024 * 1024);
  }, 120_000);

  it("a previews file gone after approval halts the run before any host is contacted, naming the file; no host's request id is spent", async () => {
    const s = service();
    const id = await approved(s, 3, { canaries: 1, batchSize: 1, maxFailures: 3 });
    rmSync(join(stateDir, "rollouts", `${id}.previews.jsonl`));
    const asked: string[] = [];
    const w = world(asked);
    w.hostRecord = async (h) => {
      asked.push(`record ${h.host}`);
      return { entry: null };
    };
    const out = await runRollout(service(), w, id, "call-1");
    expect(out.ok && out.record.state).toBe("HALTED");
    expect(out.ok && out.record.execution?.halt?.reason).toMatch(/its plan cannot be read: cannot read .*\.previews\.jsonl.*nothing more was sent to any host/);
    expect(asked).toEqual([]);
    expect(out.ok && out.record.hosts.map((h) => h.state)).toEqual(["UNTOUCHED", "UNTOUCHED", "UNTOUCHED"]);
  });

  it("a preview changed in its file after the proposal is refused at approval, naming the host; nothing is signed", async () => {
    const s = service();
    const hosts = [0, 1, 2].map((i) => ({ host: `web${i + 1}`, hostIdentity: `web${i + 1}`, hostKey: `sha256:${i.toString(16).padStart(64, "0")}`, preview: preview(i) }));
    const r = await s.propose({ target: "*", hosts, action: def.name, params, impact: def.impact, strategy: rolloutStrategy.parse({ canaries: 1 }), reason: "test", requester: "test" });
    const file = join(stateDir, "rollouts", `${r.id}.previews.jsonl`);
    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    lines[1] = JSON.stringify(preview(7));
    writeFileSync(file, `${lines.join("\n")}\n`);
    // A fresh broker process (nothing cached) reads the file.
    const fresh = service();
    const a = await fresh.approve(r.id, fileSigner(keyFile), { approver: "tester" });
    expect(a.ok).toBe(false);
    expect(!a.ok && a.reason).toMatch(/host 2 \(web2\): the preview does not hash to its entry of the plan; nothing was signed/);
    expect((await fresh.get(r.id))?.state).toBe("PENDING");
  });
});
