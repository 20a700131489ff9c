// A roll-out's one signature for many hosts (issue 14, proto/catalog/rollout-plan.ts): the plan's
// Merkle tree is RFC 9162's (checked here against a reference written from the RFC's definition),
// every host's audit path leads to the signed root, and checkApproval — what the root helper runs —
// accepts a host's own entry and refuses a host outside the plan, another host's entry, an entry
// moved to another batch, altered parameters or strategy, and a single-host signature passed off
// as a roll-out's.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  canonicalRolloutStatement,
  checkApproval,
  newNonce,
  rolloutApprovalMessage,
  ROLLOUT_STATEMENT_VERSION,
  signSshSig,
  type RolloutStatement,
} from "../../proto/catalog/approval";
import { canonicalEntry, MAX_ROLLOUT_HOSTS, rolloutRequestId, rolloutTree, rootFromPath, strategyDigest, type RolloutEntry } from "../../proto/catalog/rollout-plan";
import type { Approval } from "../../proto/gen/hostward/v1/actions";
import { CLOCK, makeKey, NOW, signed, statement } from "./keys";

const key = (i: number) => `sha256:${createHash("sha256").update(`host-key-${i}`).digest("hex")}`;
const preview = (i: number) => `sha256:${createHash("sha256").update(`preview-${i}`).digest("hex")}`;

function entries(n: number, batchSize = 3): RolloutEntry[] {
  return Array.from({ length: n }, (_, i) => ({ index: i, host: `web${i + 1}`, hostKey: key(i), previewHash: preview(i), batch: i === 0 ? 0 : 1 + Math.floor((i - 1) / batchSize) }));
}

/** RFC 9162 §2.1.1's MTH, literally: the reference the implementation is checked against. */
function mth(data: Buffer[]): Buffer {
  const h = (...b: Buffer[]) => createHash("sha256").update(Buffer.concat(b)).digest();
  if (data.length === 1) return h(Buffer.from([0]), data[0]!);
  let k = 1;
  while (k * 2 < data.length) k *= 2;
  return h(Buffer.from([1]), mth(data.slice(0, k)), mth(data.slice(k)));
}

describe("the plan's tree (RFC 9162)", () => {
  it("its root is the RFC's Merkle Tree Hash of the canonical entries, and every audit path leads to it, for 1..40 hosts and 1000", () => {
    for (const n of [...Array.from({ length: 40 }, (_, i) => i + 1), 1000]) {
      const plan = entries(n);
      const tree = rolloutTree(plan);
      expect(tree.root).toBe(`sha256:${mth(plan.map((e) => Buffer.from(canonicalEntry(e)))).toString("hex")}`);
      for (const e of plan) {
        expect(tree.proofs[e.index]!.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)));
        expect(rootFromPath(e, tree.proofs[e.index]!, n)).toEqual({ ok: true, root: tree.root });
      }
    }
  });

  it("any change to an entry (host, key, preview, batch, index) or its path leads elsewhere; a path of the wrong length or for the wrong size is refused", () => {
    const plan = entries(13);
    const tree = rolloutTree(plan);
    const e = plan[6]!;
    const proof = tree.proofs[6]!;
    for (const changed of [{ ...e, host: "web99" }, { ...e, hostKey: key(99) }, { ...e, previewHash: preview(99) }, { ...e, batch: e.batch + 1 }, { ...e, index: 7 }]) {
      const r = rootFromPath(changed, proof, 13);
      expect(r.ok && r.root === tree.root).toBe(false);
    }
    const flipped = [...proof];
    flipped[1] = `sha256:${"00".repeat(32)}`;
    expect(rootFromPath(e, flipped, 13)).not.toEqual({ ok: true, root: tree.root });
    expect(rootFromPath(e, proof.slice(1), 13)).toMatchObject({ ok: false, reason: expect.stringMatching(/shorter than the plan's tree is deep/) });
    expect(rootFromPath(e, [...proof, proof[0]!], 13)).toMatchObject({ ok: false, reason: expect.stringMatching(/longer than the plan's tree is deep/) });
    expect(rootFromPath({ ...e, index: 13 }, proof, 13)).toMatchObject({ ok: false, reason: expect.stringMatching(/index 13 is outside the plan's 13 entries/) });
    expect(rootFromPath(e, ["sha256:xyz"], 13)).toMatchObject({ ok: false, reason: expect.stringMatching(/audit path is not a list/) });
    expect(() => rolloutTree([])).toThrow(/1 to 10000 hosts/);
    expect(() => rolloutTree([{ ...e, index: 1 }])).toThrow(/plan entry 0 has index 1/);
    expect(() => rolloutTree([plan[0]!, { ...plan[1]!, host: plan[0]!.host }])).toThrow(/plan entry 1 names web1 again/);
  });

  it("holds the largest plan: 10,000 hosts, paths of at most 14 hashes", () => {
    const plan = entries(MAX_ROLLOUT_HOSTS, 50);
    const tree = rolloutTree(plan);
    expect(Math.max(...tree.proofs.map((p) => p.length))).toBe(14);
    for (const i of [0, 1, 4095, 4096, 8191, 8192, 9999]) expect(rootFromPath(plan[i]!, tree.proofs[i]!, plan.length)).toEqual({ ok: true, root: tree.root });
  });
});

describe("checkApproval of a roll-out host's approval", () => {
  const alice = makeKey("MEDIUM", "alice@laptop");
  const plan = entries(5);
  const tree = rolloutTree(plan);
  const strategy = { canaries: ["web1"], batchSize: 3, maxFailures: 1, gates: [{ diagnostic: "check_http", when: "status == 200" }] };
  const rollout: RolloutStatement = {
    v: ROLLOUT_STATEMENT_VERSION,
    kind: "rollout",
    id: "ro-7f3a",
    action: "restart_service",
    params: { unit: "nginx.service" },
    requester: "claude@broker",
    impact: "MEDIUM",
    issuedAt: NOW - 60,
    notAfter: NOW + 600,
    nonce: newNonce(),
    planRoot: tree.root,
    planSize: plan.length,
    strategyHash: strategyDigest(strategy),
  };
  const armored = signSshSig(canonicalRolloutStatement(rollout), alice.privateKey);
  const messageFor = (i: number, over: Partial<Approval> = {}): Approval => ({ ...rolloutApprovalMessage(rollout, plan[i]!, tree.proofs[i]!, alice.approver.keyId, armored, ""), ...over });
  const check = (a: Approval, host: string, hostKey: string, params: Record<string, unknown> = rollout.params) =>
    checkApproval(a, { host, hostKey, action: "restart_service", params, impact: "MEDIUM", clock: CLOCK, approvers: [alice.approver] });

  it("each host of the plan accepts its own entry, under the request id <rollout>-<index> and the plan's one nonce", () => {
    for (const e of plan) {
      const v = check(messageFor(e.index), e.host, e.hostKey);
      expect(v).toMatchObject({ ok: true, statement: { id: rolloutRequestId("ro-7f3a", e.index), host: e.host, nonce: rollout.nonce, previewHash: e.previewHash } });
    }
  });

  it("a host outside the plan refuses: with another host's entry (OTHER_HOST), or with an entry forged for itself (not in the signed plan)", () => {
    const other = check(messageFor(2), "db1", key(42));
    expect(other).toMatchObject({ ok: false, code: "OTHER_HOST", reason: expect.stringMatching(/approval is for host "web3", this host is "db1" \(entry 2 of roll-out ro-7f3a; a host that is not in the signed plan cannot run it\)/) });
    const forged = check(messageFor(2, { host: "db1", hostKey: key(42) }), "db1", key(42));
    expect(forged).toMatchObject({ ok: false, code: "OTHER_HOST", reason: expect.stringMatching(/entry 2 \(host "db1".*is not in the signed plan ro-7f3a: its audit path leads to sha256:[0-9a-f]{64}, not the plan's root/) });
  });

  it("an entry moved to another batch, or given another preview, is not in the signed plan", () => {
    const moved = messageFor(3);
    moved.rollout = { ...moved.rollout!, batch: 0 };
    expect(check(moved, "web4", key(3))).toMatchObject({ ok: false, code: "OTHER_HOST", reason: expect.stringMatching(/not in the signed plan/) });
    expect(check(messageFor(3, { previewHash: preview(0) }), "web4", key(3))).toMatchObject({ ok: false, code: "OTHER_HOST" });
  });

  it("a plan with another root, size or strategy than the signed one fails the signature; altered parameters are ALTERED", () => {
    // A root from a plan with one more host: the entry's path does not reach it, so it is refused before the signature.
    const bigger = rolloutTree(entries(6));
    const reRooted = messageFor(1);
    reRooted.rollout = { ...reRooted.rollout!, planRoot: bigger.root, planSize: 6, proof: bigger.proofs[1]! };
    expect(check(reRooted, "web2", key(1))).toMatchObject({ ok: false, code: "BAD_SIGNATURE", reason: expect.stringMatching(/over the roll-out statement of ro-7f3a/) });
    const otherStrategy = messageFor(1);
    otherStrategy.rollout = { ...otherStrategy.rollout!, strategyHash: strategyDigest({ ...strategy, maxFailures: 5 }) };
    expect(check(otherStrategy, "web2", key(1))).toMatchObject({ ok: false, code: "BAD_SIGNATURE" });
    expect(check(messageFor(1, { parametersJson: '{"unit":"sshd.service"}' }), "web2", key(1), { unit: "sshd.service" })).toMatchObject({ ok: false, code: "BAD_SIGNATURE" });
    expect(check(messageFor(1), "web2", key(1), { unit: "sshd.service" })).toMatchObject({ ok: false, code: "ALTERED" });
  });

  it("a single-host signature cannot pass for a roll-out's, nor a roll-out's for a single host's", () => {
    const single = signed(statement({ host: "web2", hostKey: key(1), action: "restart_service", params: { unit: "nginx.service" }, previewHash: preview(1) }), alice);
    const dressed = { ...messageFor(1), signature: single.signature, nonce: single.nonce, issuedAtUnix: single.issuedAtUnix, notAfterUnix: single.notAfterUnix };
    expect(check(dressed, "web2", key(1))).toMatchObject({ ok: false, code: "BAD_SIGNATURE" });
    const stripped = { ...messageFor(1), rollout: undefined, requestId: "ro-7f3a-1" };
    expect(check(stripped, "web2", key(1))).toMatchObject({ ok: false, code: "BAD_SIGNATURE" });
  });

  it("refuses a malformed roll-out part before any hashing, naming the field", () => {
    const cases: Array<[Partial<Approval> | ((a: Approval) => void), RegExp]> = [
      [{ requestId: "ro-7f3a" }, /request_id "ro-7f3a" is not the roll-out's "ro-7f3a-1"/],
      [(a) => (a.rollout!.planRoot = "sha256:zz"), /rollout\.plan_root is not/],
      [(a) => (a.rollout!.planSize = 0), /rollout\.plan_size is not an integer 1\.\.10000/],
      [(a) => (a.rollout!.index = 5), /rollout\.index is not an integer 0\.\.4/],
      [(a) => (a.rollout!.rolloutId = "Ro_7f3a"), /rollout\.rollout_id is not 1 to 40 lowercase letters/],
      [(a) => (a.rollout!.proof = Array.from({ length: 15 }, () => tree.root)), /rollout\.proof is not a list of at most 14/],
    ];
    for (const [change, message] of cases) {
      const a = messageFor(1);
      a.rollout = { ...a.rollout!, proof: [...a.rollout!.proof] };
      if (typeof change === "function") change(a);
      else Object.assign(a, change);
      expect(check(a, "web2", key(1))).toMatchObject({ ok: false, code: "MALFORMED", reason: expect.stringMatching(message) });
    }
  });
});

// A plan that rolls back (strategy.rollback): the statement names the inverse it may run on a host
// whose gate failed, and each host's undo part is signed by the same one statement.
describe("checkApproval of a roll-out that rolls back", () => {
  const alice = makeKey("MEDIUM", "alice@laptop");
  const plan = entries(3);
  const tree = rolloutTree(plan);
  const rollout: RolloutStatement = {
    v: ROLLOUT_STATEMENT_VERSION,
    kind: "rollout",
    id: "ro-5b2c",
    action: "stop_service",
    params: { unit: "caddy.service" },
    requester: "claude@broker",
    impact: "MEDIUM",
    issuedAt: NOW - 60,
    notAfter: NOW + 600,
    nonce: newNonce(),
    planRoot: tree.root,
    planSize: plan.length,
    strategyHash: strategyDigest({ canaries: 1, rollback: true }),
    rollback: "start_service",
  };
  const armored = signSshSig(canonicalRolloutStatement(rollout), alice.privateKey);
  const part = (i: number, undo: boolean) => rolloutApprovalMessage(rollout, plan[i]!, tree.proofs[i]!, alice.approver.keyId, armored, "", undo);
  const check = (a: Approval, action: string, i = 1) => checkApproval(a, { host: plan[i]!.host, hostKey: plan[i]!.hostKey, action, params: rollout.params, impact: "MEDIUM", clock: CLOCK, approvers: [alice.approver] });

  it("the canonical statement names the rollback only when the plan has one (older statements read as they did)", () => {
    expect(canonicalRolloutStatement(rollout)).toContain('"rollback":"start_service"');
    const { rollback: _dropped, ...without } = rollout;
    expect(canonicalRolloutStatement(without)).not.toContain("rollback");
  });

  it("a host's forward part and its undo part both verify, the undo under <rollout>-<index>-undo running the inverse", () => {
    expect(check(part(1, false), "stop_service")).toMatchObject({ ok: true, statement: { id: "ro-5b2c-1", action: "stop_service" } });
    expect(part(1, true)).toMatchObject({ requestId: "ro-5b2c-1-undo", action: "start_service", rollout: { undo: true, forwardAction: "stop_service", rollbackAction: "start_service" } });
    expect(check(part(1, true), "start_service")).toMatchObject({ ok: true, statement: { id: "ro-5b2c-1-undo", action: "start_service" } });
  });

  it("an undo part cannot run another action, hide the plan's rollback, or be made from a plan signed without one", () => {
    // Another action than the signed rollback, whatever the part claims.
    const other = { ...part(1, true), action: "restart_service", rollout: { ...part(1, true).rollout!, rollbackAction: "restart_service" } };
    expect(check(other, "restart_service")).toMatchObject({ ok: false, code: "BAD_SIGNATURE" });
    expect(check({ ...part(1, true), action: "restart_service" }, "restart_service")).toMatchObject({ ok: false, code: "MALFORMED", reason: expect.stringMatching(/action "restart_service" of an undo part is not the plan's rollback_action "start_service"/) });
    // The forward part with its rollback stripped: not the statement that was signed.
    expect(check({ ...part(1, false), rollout: { ...part(1, false).rollout!, rollbackAction: "" } }, "stop_service")).toMatchObject({ ok: false, code: "BAD_SIGNATURE" });
    // A plan signed without a rollback cannot be given one afterwards.
    const { rollback: _none, ...plain } = rollout;
    const plainSig = signSshSig(canonicalRolloutStatement(plain), alice.privateKey);
    const forgedUndo = { ...rolloutApprovalMessage(rollout, plan[1]!, tree.proofs[1]!, alice.approver.keyId, plainSig, "", true) };
    expect(check(forgedUndo, "start_service")).toMatchObject({ ok: false, code: "BAD_SIGNATURE" });
    expect(() => rolloutApprovalMessage(plain, plan[1]!, tree.proofs[1]!, alice.approver.keyId, plainSig, "", true)).toThrow(/names no rollback action/);
    // An undo part's request id is its own.
    expect(check({ ...part(1, true), requestId: "ro-5b2c-1" }, "start_service")).toMatchObject({ ok: false, code: "MALFORMED", reason: expect.stringMatching(/is not the roll-out's "ro-5b2c-1-undo"/) });
  });
});
