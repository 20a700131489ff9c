// The roll-out engine's stop rules (broker/src/rollouts/engine.ts) over the real service, record
// files and audit chain, with a scripted world in place of the hosts: which host fails, which
// outcome is lost, how long a pause lasts. (The real hosts' path — agents, helpers, gates over
// mTLS — is rollout-fleet.test.ts; these are the cases a live fleet cannot be made to produce on cue.)
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { checkApproval, formatOpenSshPrivateKey } from "../../../proto/catalog/approval";
import { findAction } from "../../../proto/catalog/actions/index";
import { previewSummary } from "../../../proto/catalog/preview-summary";
import { HostCallError } from "../../../broker/src/agents/errors";
import { fileSigner } from "../../../broker/src/approval/signer";
import { runRollout, type RolloutWorld } from "../../../broker/src/rollouts/engine";
import type { PlanHost } from "../../../broker/src/rollouts/record";
import { RolloutService } from "../../../broker/src/rollouts/service";
import { rolloutStrategy } from "../../../broker/src/rollouts/strategy";
import { openFileState } from "../../../broker/src/state/files";

const def = findAction("truncate_log")!;
const params = { path: "/var/log/app/debug.log" };
let dir: string;
let service: RolloutService;
let keyFile: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "hw-engine-"));
  const state = openFileState(join(dir, "state"), dir);
  service = new RolloutService(state.rollouts, state.audit, () => 900);
  keyFile = join(dir, "approver");
  writeFileSync(keyFile, formatOpenSshPrivateKey(generateKeyPairSync("ed25519").privateKey, "tester"), { mode: 0o600 });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function approved(n: number, strategy: Record<string, unknown>): Promise<string> {
  const facts = { systemd: true, paths: {}, path: params.path, device: 1, inode: 2, sizeBytes: 10, modifiedMs: 0 };
  const preview = { action: def.name, facts, summary: previewSummary(def, params, facts) };
  const hosts = Array.from({ length: n }, (_, i) => ({ host: `web${i + 1}`, hostIdentity: `web${i + 1}`, hostKey: `sha256:${i.toString(16).padStart(64, "0")}`, preview }));
  const r = await service.propose({ target: "tag:web", hosts, action: def.name, params, impact: def.impact, strategy: rolloutStrategy.parse(strategy), reason: "test", requester: "test" });
  const a = await service.approve(r.id, fileSigner(keyFile), { approver: "tester" });
  expect(a.ok, a.ok ? "" : a.reason).toBe(true);
  return r.id;
}

/** A world where `fail` hosts' actions fail, `lost` hosts lose the connection with no record to settle it. */
function world(opts: { fail?: string[]; lost?: string[]; ran?: string[] } = {}): RolloutWorld {
  return {
    async execute(h: PlanHost) {
      opts.ran?.push(h.host);
      if (opts.lost?.includes(h.host)) throw new HostCallError("UNAVAILABLE", "connection reset");
      const verdict = opts.fail?.includes(h.host) ? "FAILED" : "SUCCEEDED";
      return { before: null, after: null, verdict, output: "", ...(verdict === "FAILED" && { reason: "scripted failure" }) };
    },
    diagnose: async () => ({}),
    hostRecord: async () => ({ entry: null }),
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 5))),
    progress: () => undefined,
    concurrency: 8,
  };
}

describe("the engine's stop rules", () => {
  it("within the error budget it goes on: 1 failure of 5 with maxFailures 1 ends SUCCEEDED, saying so", async () => {
    const id = await approved(5, { canaries: 1, batchSize: 2, maxFailures: 1 });
    const ran: string[] = [];
    const out = await runRollout(service, world({ fail: ["web3"], ran }), id, "call-1");
    expect(out.ok && out.record.state).toBe("SUCCEEDED");
    expect(ran).toHaveLength(5);
    expect(out.ok && out.record.execution?.halt?.reason).toMatch(/1 host\(s\) failed, within the error budget of 1/);
  });

  it("past the budget it stops before the next batch: the hosts after are UNTOUCHED and never called", async () => {
    const id = await approved(7, { canaries: 1, batchSize: 2, maxFailures: 1 });
    const ran: string[] = [];
    const out = await runRollout(service, world({ fail: ["web2", "web3"], ran }), id, "call-1");
    expect(out.ok && out.record.state).toBe("HALTED");
    expect(ran).toEqual(expect.arrayContaining(["web1", "web2", "web3"]));
    expect(ran).toHaveLength(3);
    expect(out.ok && out.record.hosts.filter((h) => h.state === "UNTOUCHED").map((h) => h.host)).toEqual(["web4", "web5", "web6", "web7"]);
    expect(out.ok && out.record.execution?.halt?.reason).toMatch(/2 host\(s\) failed, more than the error budget of 1 .*stopped before batch 3/);
  });

  it("a host whose outcome is unknown stops it whatever the budget: it may still be running", async () => {
    const id = await approved(5, { canaries: 0, batchSize: 2, maxFailures: "100%" });
    const ran: string[] = [];
    const out = await runRollout(service, world({ lost: ["web2"], ran }), id, "call-1");
    expect(out.ok && out.record.state).toBe("HALTED");
    expect(ran).toHaveLength(2);
    expect(out.ok && out.record.hosts.find((h) => h.host === "web2")?.state).toBe("UNKNOWN");
    expect(out.ok && out.record.execution?.halt?.reason).toMatch(/the outcome on web2 is unknown .*stopped before batch 2/);
  });

  it("a long halt reason stays within the record's bound: 100 failed canaries, 10 named and the rest counted", async () => {
    const id = await approved(110, { canaries: 100, batchSize: 10 });
    const fail = Array.from({ length: 100 }, (_, i) => `web${i + 1}`);
    const out = await runRollout(service, world({ fail }), id, "call-1");
    expect(out.ok && out.record.state).toBe("HALTED");
    expect(out.ok && out.record.execution?.halt?.reason).toMatch(/the canary batch failed \(web1: FAILED, .* and 90 more\)/);
  });

  it("a second runner is refused while the first runs; a finished roll-out cannot be run again", async () => {
    const id = await approved(2, { canaries: 1 });
    const out = await runRollout(service, world(), id, "call-1");
    expect(out.ok && out.record.state).toBe("SUCCEEDED");
    const again = await runRollout(service, world(), id, "call-2");
    expect(again).toMatchObject({ ok: false, reason: expect.stringMatching(/is SUCCEEDED; only an APPROVED roll-out can be executed/) });
  });
});

// strategy.rollback: a host whose gate failed after its action is rolled back with the inverse
// (its own part of the same signed plan, request <rollout>-<index>-undo) and gated again.
describe("rolling a host back", () => {
  const stop = findAction("stop_service")!;
  const unit = { unit: "caddy.service" };
  async function approvedStop(n: number, strategy: Record<string, unknown>): Promise<string> {
    const facts = { systemd: false, paths: {}, unit: "caddy.service" };
    const preview = { action: stop.name, facts, summary: previewSummary(stop, unit, facts) };
    const hosts = Array.from({ length: n }, (_, i) => ({ host: `web${i + 1}`, hostIdentity: `web${i + 1}`, hostKey: `sha256:${i.toString(16).padStart(64, "0")}`, preview }));
    const r = await service.propose({ target: "tag:web", hosts, action: stop.name, params: unit, impact: stop.impact, strategy: rolloutStrategy.parse(strategy), reason: "test", requester: "test" });
    const a = await service.approve(r.id, fileSigner(keyFile), { approver: "tester" });
    expect(a.ok, a.ok ? "" : a.reason).toBe(true);
    expect(a.ok && a.record.approval?.statement.rollback).toBe(strategy.rollback ? "start_service" : undefined);
    return r.id;
  }
  const gate = { diagnostic: "check_http", input: { url: "http://127.0.0.1:8080/" }, when: [{ field: "status", op: "==", value: 200 }] };
  /** `broken`: hosts whose gate fails after the action; `healed`: of those, the ones the rollback restores. */
  function rbWorld(parts: Array<{ host: string; action: string; undo: boolean; requestId: string }>, broken: string[], healed: string[]): RolloutWorld {
    const undone = new Set<string>();
    return {
      async execute(h: PlanHost, approval) {
        parts.push({ host: h.host, action: approval.action, undo: approval.rollout?.undo ?? false, requestId: approval.requestId });
        if (approval.rollout?.undo) undone.add(h.host);
        return { before: null, after: null, verdict: "SUCCEEDED", output: "" };
      },
      diagnose: async (h) => ({ status: broken.includes(h.host) && !(undone.has(h.host) && healed.includes(h.host)) ? 502 : 200 }),
      hostRecord: async () => ({ entry: null }),
      sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 5))),
      progress: () => undefined,
      concurrency: 8,
    };
  }

  it("a gate that fails is rolled back with the inverse, under its own request id, gated again: ROLLED_BACK, counted as failed", async () => {
    const id = await approvedStop(3, { canaries: 1, batchSize: 2, maxFailures: 1, gates: [gate], rollback: true });
    const parts: Array<{ host: string; action: string; undo: boolean; requestId: string }> = [];
    const out = await runRollout(service, rbWorld(parts, ["web2"], ["web2"]), id, "call-1");
    expect(out.ok && out.record.state).toBe("SUCCEEDED");
    expect(out.ok && out.record.execution?.halt?.reason).toMatch(/1 host\(s\) failed, within the error budget of 1/);
    expect(parts.filter((p) => p.undo)).toEqual([{ host: "web2", action: "start_service", undo: true, requestId: `${id}-1-undo` }]);
    const web2 = out.ok ? out.record.hosts.find((h) => h.host === "web2")! : undefined;
    expect(web2).toMatchObject({ state: "ROLLED_BACK", gates: [{ ok: false }], rollback: { run: { verdict: "SUCCEEDED" }, gates: [{ ok: true }] } });
  });

  it("a rollback that does not restore the host leaves it GATE_FAILED and stops the roll-out; without rollback nothing is undone", async () => {
    const id = await approvedStop(3, { canaries: 1, batchSize: 1, gates: [gate], rollback: true });
    const parts: Array<{ host: string; action: string; undo: boolean; requestId: string }> = [];
    const out = await runRollout(service, rbWorld(parts, ["web2"], []), id, "call-1");
    expect(out.ok && out.record.state).toBe("HALTED");
    expect(out.ok && out.record.hosts.map((h) => h.state)).toEqual(["SUCCEEDED", "GATE_FAILED", "UNTOUCHED"]);
    expect(out.ok && out.record.hosts[1]!.rollback).toMatchObject({ run: { verdict: "SUCCEEDED" }, gates: [{ ok: false }] });

    const plain = await approvedStop(3, { canaries: 1, batchSize: 1, gates: [gate] });
    const none: typeof parts = [];
    const out2 = await runRollout(service, rbWorld(none, ["web2"], ["web2"]), plain, "call-2");
    expect(out2.ok && out2.record.hosts.map((h) => h.state)).toEqual(["SUCCEEDED", "GATE_FAILED", "UNTOUCHED"]);
    expect(none.some((p) => p.undo)).toBe(false);
  });
});

describe("M-of-N on a roll-out", () => {
  it("an APPROVED roll-out takes a second approver's signature over the same statement, once per key; every host's part carries both, and checkApproval counts two keys", async () => {
    const id = await approved(2, { canaries: 0, batchSize: 2 });
    const second = join(dir, "second");
    const secondKey = generateKeyPairSync("ed25519").privateKey;
    writeFileSync(second, formatOpenSshPrivateKey(secondKey, "second"), { mode: 0o600 });
    const again = await service.cosign(id, fileSigner(keyFile), { approver: "tester" });
    expect(again.ok).toBe(false);
    expect(!again.ok && again.reason).toMatch(/already signed by the key/);
    const c = await service.cosign(id, fileSigner(second), { approver: "second" });
    expect(c.ok, c.ok ? "" : c.reason).toBe(true);
    const r = (await service.get(id))!;
    expect(r.approval!.cosignatures).toHaveLength(1);
    const part = await service.partFor(r, 1);
    expect(part.cosignatures).toHaveLength(1);
    // The host's check over the part: both keys are known (max HIGH), two are required.
    const keys = [fileSigner(keyFile), fileSigner(second)].map((s) => ({ ...s.publicKey, maxImpact: "HIGH" as const }));
    const verdict = checkApproval(part, {
      host: "web2",
      hostKey: r.hosts[1]!.hostKey,
      action: def.name,
      params,
      impact: def.impact,
      clock: { now: Math.floor(Date.now() / 1000), maxSkewSeconds: 120, maxLifetimeSeconds: 3600 },
      approvers: keys,
      required: 2,
    });
    expect(verdict, JSON.stringify(verdict)).toMatchObject({ ok: true });
    expect(verdict.ok && verdict.keys).toHaveLength(2);
  });
});
