// A roll-out's one approval, checked by the BUILT root helper of each host (issue 14): three hosts
// (three helper configurations, each with its own operator certificate and its own store of used
// approvals) on this machine, a plan naming two of them. Each host of the plan runs its part once
// and refuses it again; the host outside the plan refuses both another host's part and one forged
// for itself; nothing runs on it. Direct mode (no sudo, no systemd here): the helper's checks are
// the same code as under sudo.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalRolloutStatement, newNonce, previewDigest, rolloutApprovalMessage, ROLLOUT_STATEMENT_VERSION, signSshSig, type RolloutStatement } from "../../proto/catalog/approval";
import { rolloutTree, strategyDigest, type RolloutEntry } from "../../proto/catalog/rollout-plan";
import { canonicalJson } from "../../shared/canonical-json";
import type { Approval } from "../../proto/gen/hostward/v1/actions";
import { helperRequest, hostCertificate, HOST_CERT, makeApprover, makeHost, previewNow, runHelperBundle, type Approver, type HostCertificate, type HostDirs } from "./support";

let alice: Approver;
let logs: string;
let file: string;
const hosts: Array<{ name: string; cert: HostCertificate; dirs: HostDirs }> = [];
let parts: Approval[];
const params = () => ({ path: file });

beforeAll(async () => {
  alice = makeApprover("MEDIUM");
  logs = mkdtempSync(join(tmpdir(), "hw-rollout-logs-"));
  file = join(logs, "debug.log");
  writeFileSync(file, "x".repeat(1000));
  for (const [name, cert] of [["web1.test", HOST_CERT], ["web2.test", await hostCertificate("web2.test")], ["db1.test", await hostCertificate("db1.test")]] as const) {
    hosts.push({ name, cert, dirs: makeHost([alice], `units: []\ncontainers: []\nlogFiles: [${logs}]\n`, cert) });
  }
  // The plan: web1 (the canary, batch 0), web2 (batch 1). db1 is not in it.
  const previews = hosts.slice(0, 2).map((h) => canonicalJson(previewNow("truncate_log", params(), h.dirs.env)));
  const entries: RolloutEntry[] = hosts.slice(0, 2).map((h, i) => ({ index: i, host: h.name, hostKey: h.cert.fingerprint, previewHash: previewDigest(previews[i]!), batch: i }));
  const tree = rolloutTree(entries);
  const now = Math.floor(Date.now() / 1000);
  const statement: RolloutStatement = {
    v: ROLLOUT_STATEMENT_VERSION, kind: "rollout", id: "ro-test1", action: "truncate_log", params: params(), requester: "claude@workstation", impact: "MEDIUM",
    issuedAt: now, notAfter: now + 600, nonce: newNonce(), planRoot: tree.root, planSize: entries.length, strategyHash: strategyDigest({ canaries: 1, batchSize: 1 }),
  };
  const armored = signSshSig(canonicalRolloutStatement(statement), alice.privateKey);
  parts = entries.map((e, i) => rolloutApprovalMessage(statement, e, tree.proofs[i]!, alice.keyId, armored, previews[i]!));
});
afterAll(() => {
  rmSync(logs, { recursive: true, force: true });
  for (const h of hosts) rmSync(h.dirs.dir, { recursive: true, force: true });
});

const run = (host: number, part: Approval) => runHelperBundle(hosts[host]!.dirs.env, helperRequest("truncate_log", params(), part));

describe("a roll-out's approval through each host's built helper", () => {
  it("the canary runs its part once, under the request id <rollout>-<index>; the same part again is refused as replayed", async () => {
    const r = await run(0, parts[0]!);
    expect(r.lines.at(-1), r.stderr).toMatchObject({ type: "result", verdict: "SUCCEEDED", before: { sizeBytes: 1000 }, after: { sizeBytes: 0 } });
    expect(r.audit).toMatchObject({ requestId: "ro-test1-0", event: "executed" });
    writeFileSync(file, "y".repeat(500));
    const again = await run(0, parts[0]!);
    expect(again.lines.at(-1)).toMatchObject({ type: "refused", code: "REPLAYED" });
    expect(readFileSync(file, "utf8")).toBe("y".repeat(500));
  });

  it("the second host runs its own part (the plan's one nonce is used once per host, not once per fleet)", async () => {
    const r = await run(1, parts[1]!);
    expect(r.lines.at(-1), r.stderr).toMatchObject({ type: "result", verdict: "SUCCEEDED", before: { sizeBytes: 500 }, after: { sizeBytes: 0 } });
    expect(r.audit).toMatchObject({ requestId: "ro-test1-1" });
  });

  it("a host outside the plan refuses another host's part and a part forged for itself; nothing runs on it", async () => {
    writeFileSync(file, "z".repeat(300));
    const theirs = await run(2, parts[1]!);
    expect(theirs.lines.at(-1)).toMatchObject({ type: "refused", code: "OTHER_HOST", reason: expect.stringMatching(/approval is for host "web2\.test", this host is "db1\.test" \(entry 1 of roll-out ro-test1; a host that is not in the signed plan cannot run it\)/) });
    const db1 = hosts[2]!;
    const forged = { ...parts[1]!, host: db1.name, hostKey: db1.cert.fingerprint };
    const mine = await run(2, forged);
    expect(mine.lines.at(-1)).toMatchObject({ type: "refused", code: "OTHER_HOST", reason: expect.stringMatching(/is not in the signed plan ro-test1/) });
    for (const r of [theirs, mine]) expect(r.lines.some((l) => l.type === "output")).toBe(false);
    expect(readFileSync(file, "utf8")).toBe("z".repeat(300));
  });
});

// A plan that rolls back (strategy.rollback): a host's undo part runs the inverse only after the
// plan's own action succeeded on that host, and only the catalog's inverse of it. (Running a real
// inverse needs systemd: test/e2e/rollouts.test.ts.)
describe("a roll-out's rollback part through the built helper", () => {
  let web: HostDirs;
  const unit = { unit: "caddy.service" };
  const planOf = (action: string, rollback: string, preview: string) => {
    const entries: RolloutEntry[] = [{ index: 0, host: "web1.test", hostKey: HOST_CERT.fingerprint, previewHash: previewDigest(preview), batch: 0 }];
    const tree = rolloutTree(entries);
    const now = Math.floor(Date.now() / 1000);
    const statement: RolloutStatement = {
      v: ROLLOUT_STATEMENT_VERSION, kind: "rollout", id: `ro-rb${action.length}`, action, params: unit, requester: "claude@workstation", impact: "MEDIUM",
      issuedAt: now, notAfter: now + 600, nonce: newNonce(), planRoot: tree.root, planSize: 1, strategyHash: strategyDigest({ canaries: 1, rollback: true }), rollback,
    };
    const armored = signSshSig(canonicalRolloutStatement(statement), alice.privateKey);
    return { forward: rolloutApprovalMessage(statement, entries[0]!, tree.proofs[0]!, alice.keyId, armored, preview), undo: rolloutApprovalMessage(statement, entries[0]!, tree.proofs[0]!, alice.keyId, armored, preview, true) };
  };
  beforeAll(() => {
    web = makeHost([alice], "units: [caddy.service]\ncontainers: []\nlogFiles: []\n", HOST_CERT);
  });
  afterAll(() => rmSync(web.dir, { recursive: true, force: true }));

  it("an undo part before the plan's action ran on the host is refused (nothing to roll back), and voids nothing", async () => {
    const preview = canonicalJson(previewNow("stop_service", unit, web.env));
    const { undo } = planOf("stop_service", "start_service", preview);
    const r = await runHelperBundle(web.env, helperRequest("start_service", unit, undo));
    expect(r.lines.at(-1), r.stderr).toMatchObject({ type: "refused", code: "HOST_CHANGED", reason: expect.stringMatching(/nothing to roll back: the plan's stop_service \(ro-rb12-0\) has not succeeded on this host \(it has no record here\); nothing ran/) });
    expect(r.lines.some((l) => l.type === "output")).toBe(false);
    // The check reads the forward's record without voiding it: the forward part can still run.
    expect(existsSync(join(web.stateDir, "ledger", "ro-rb12-0.json"))).toBe(false);
    expect(existsSync(join(web.stateDir, "ledger", "ro-rb12-0-undo.json"))).toBe(false);
  });

  it("an undo part whose <rollout>-<index> record is another request (another action, another nonce) is refused: nothing to roll back", async () => {
    // What some other approval left under the same request id on this host (found by review: the
    // check read the record by id only, and the inverse ran although this plan's action never had).
    const id = "ro-rb12";
    mkdirSync(join(web.stateDir, "ledger"), { recursive: true, mode: 0o700 });
    const at = new Date().toISOString();
    writeFileSync(
      join(web.stateDir, "ledger", `${id}-0.json`),
      `${JSON.stringify({ v: 1, requestId: `${id}-0`, action: "restart_service", params: { unit: "other.service" }, requester: "x", keyId: "k", nonce: "0".repeat(32), state: "ENDED", startedAt: at, helperPid: 1, bootId: "b", endedAt: at, verdict: "SUCCEEDED" })}\n`,
      { mode: 0o600 },
    );
    const preview = canonicalJson(previewNow("stop_service", unit, web.env));
    const { undo } = planOf("stop_service", "start_service", preview);
    const r = await runHelperBundle(web.env, helperRequest("start_service", unit, undo));
    expect(r.lines.at(-1), r.stderr).toMatchObject({ type: "refused", code: "HOST_CHANGED", reason: expect.stringMatching(/nothing to roll back: this host's record of ro-rb12-0 is not this plan's stop_service \(restart_service .*another approval\); nothing ran/) });
    expect(existsSync(join(web.stateDir, "ledger", `${id}-0-undo.json`))).toBe(false);
  });

  it("a plan whose rollback is not the catalog's inverse of its action is refused on the host, forward and undo (OTHER_ACTION)", async () => {
    const preview = canonicalJson(previewNow("restart_service", unit, web.env));
    const { forward, undo } = planOf("restart_service", "start_service", preview);
    const f = await runHelperBundle(web.env, helperRequest("restart_service", unit, forward));
    expect(f.lines.at(-1), f.stderr).toMatchObject({ type: "refused", code: "OTHER_ACTION", reason: expect.stringMatching(/start_service is not the inverse of restart_service in this host's catalog/) });
    const u = await runHelperBundle(web.env, helperRequest("start_service", unit, undo));
    expect(u.lines.at(-1)).toMatchObject({ type: "refused", code: "OTHER_ACTION" });
  });
});
