// Reconciliation: the broker settles a request whose outcome it lost from the host's own record,
// through the BUILT broker (SDK Client over stdio), the BUILT operator agent over real mTLS and the
// BUILT root helper in direct mode with its real ledger. What is simulated, and how: the broker
// crash itself — a request is left RUNNING under a pid that has exited, exactly what a broker
// killed mid-action leaves on disk (the e2e suite kills real brokers and agents on real systemd);
// the host-side outcomes SUCCEEDED and INTERRUPTED are ledger files written by the test where this
// machine (no systemd) cannot produce them.
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { currentBootId, ledgerDir, type LedgerEntry } from "../../../agent/src/helper/ledger";
import { approvalToMessage, canonicalJson, keyIdOf, publicKeyBlob } from "../../../proto/catalog/approval";
import { ActionService } from "../../../broker/src/actions/service";
import { ActionStore } from "../../../broker/src/actions/store";
import { fileSigner } from "../../../broker/src/approval/signer";
import { formatOpenSshPrivateKey } from "../../../broker/src/approval/private-key";
import { AuditLog } from "../../../broker/src/audit/log";
import { verifyAuditFile } from "../../../broker/src/audit/verify";
import { configFiles } from "../../../broker/src/paths";
import { startAgent, type TestAgent } from "../../support/agent";
import { createTestPki, type TestPki } from "../../support/pki";
import { HELPER_BUNDLE, helperRequest, HOST, HOST_CERT, makeHost, previewNow, runHelperBundle, type HostDirs } from "../../actions/support";
import { createBrokerDir, type BrokerDir } from "../helpers/broker-dir";
import { call, connectBroker, type BrokerSession } from "../helpers/mcp-client";

let host: HostDirs;
let pki: TestPki;
let agent: TestAgent;
let bd: BrokerDir;
let keyFile: string;
let service: ActionService;
let session: BrokerSession;

const deadPid = () => Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout);

beforeAll(async () => {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const line = `max-impact="HIGH" ssh-ed25519 ${publicKeyBlob(publicKey).toString("base64")} alice@laptop`;
  host = makeHost([{ privateKey, keyId: keyIdOf(publicKeyBlob(publicKey)), line }]);
  keyFile = join(host.dir, "alice.key");
  writeFileSync(keyFile, formatOpenSshPrivateKey(privateKey, "alice@laptop"), { mode: 0o600 });
  pki = await createTestPki(join(host.dir, "pki"));
  agent = await startAgent({
    role: "operator",
    pki,
    dir: join(host.dir, "agent"),
    // The helper judges approvals by its own operator certificate (HOST_CERT: name and key).
    config: { helper: { mode: "direct", path: HELPER_BUNDLE, approversDir: host.approversDir, stateDir: host.stateDir, actionsFile: host.actionsFile, agentCert: host.agentCert } },
  });
  bd = createBrokerDir(join(host.dir, "cfg"), pki);
  const files = configFiles(bd.dir);
  copyFileSync(pki.clients.operator.certFile, files.clientCert("operator"));
  copyFileSync(pki.clients.operator.keyFile, files.clientKey("operator"));
  writeFileSync(files.hosts, JSON.stringify({ hosts: [{ name: "web1", address: "127.0.0.1", ports: { reader: 1, operator: agent.port }, tags: [], certName: "localhost" }] }));
  bd.writePolicy([{ target: "*", allow: ["group:actions"] }]);
  service = new ActionService(new ActionStore(bd.stateDir), new AuditLog(bd.auditFile).open(), () => 600);
  session = await connectBroker(bd.dir, host.dir);
}, 60_000);

afterAll(async () => {
  await session?.close();
  await agent?.stop();
});

/** An approved request, its RUNNING record left by a broker that died (pid gone). */
async function runningOfDeadBroker(): Promise<{ id: string; approval: ReturnType<typeof approvalToMessage> }> {
  const r = await service.propose({ host: "web1", hostIdentity: HOST, hostKey: HOST_CERT.fingerprint, preview: previewNow("restart_service", { unit: "nginx.service" }, host.env)!, action: "restart_service", params: { unit: "nginx.service" }, impact: "MEDIUM", reason: "test", requester: "mcp:test" });
  const approved = await service.approve(r.id, fileSigner(keyFile), { via: "cli", approver: "alice" });
  if (!approved.ok) throw new Error(approved.reason);
  const a = approved.request.approval!;
  await service.store.transition(r.id, "RUNNING", { from: ["APPROVED"], by: "test", patch: () => ({ execution: { startedAt: new Date().toISOString(), pid: deadPid(), callId: "call-lost" } }) });
  return { id: r.id, approval: approvalToMessage(a.statement, a.keyId, a.signature, canonicalJson(r.preview)) };
}

/** The host's record of request `id`, approved with `nonce` (written where this machine cannot make one). */
function ledgerEntry(id: string, nonce: string, over: Partial<LedgerEntry>): void {
  const entry: LedgerEntry = { v: 1, requestId: id, action: "restart_service", params: { unit: "nginx.service" }, requester: "mcp:test", keyId: "k", nonce, state: "STARTED", startedAt: new Date().toISOString(), helperPid: deadPid(), bootId: currentBootId(), ...over };
  writeFileSync(join(ledgerDir(host.stateDir), `${id}.json`), JSON.stringify(entry), { mode: 0o600 });
}

const getAction = async (id: string) => (await call(session, "get_action", { id })).structuredContent as { state: string; execution: Record<string, unknown> };
const reconciled = (id: string) => bd.audit().filter((r) => r.event === "action.reconciled" && r.actionId === id);

describe("a request whose broker died while it ran", () => {
  it("the host finished it (the real helper's ledger): get_action settles it with the host's verdict, audited", async () => {
    const { id, approval } = await runningOfDeadBroker();
    // The action ran on the host after the broker was gone: the real helper, its real ledger.
    const ran = await runHelperBundle(host.env, helperRequest("restart_service", { unit: "nginx.service" }, approval));
    expect(ran.lines.at(-1)).toMatchObject({ type: "result", verdict: "FAILED" });

    const view = await getAction(id);
    expect(view.state).toBe("FAILED");
    expect(view.execution).toMatchObject({
      verdict: "FAILED",
      error: { code: "ACTION_FAILED", message: "systemd is not running on this host" },
      result: { verdict: "FAILED", reason: "systemd is not running on this host" },
      reconciliation: { host: "ENDED", previous: { state: "FAILED", error: { code: "OUTCOME_UNKNOWN" } } },
    });
    expect(reconciled(id)).toEqual([expect.objectContaining({ host: "ENDED", verdict: "FAILED", was: expect.objectContaining({ state: "FAILED" }) })]);
    // Settled once: asking again changes nothing and records nothing.
    await getAction(id);
    expect(reconciled(id)).toHaveLength(1);
  });

  it("the host recorded success: the request becomes SUCCEEDED", async () => {
    const { id, approval } = await runningOfDeadBroker();
    ledgerEntry(id, approval.nonce, { state: "ENDED", endedAt: new Date().toISOString(), verdict: "SUCCEEDED", before: { mainPid: 10 }, after: { mainPid: 11 }, output: ["$ systemctl restart nginx.service"] });
    const view = await getAction(id);
    expect(view.state).toBe("SUCCEEDED");
    expect(view.execution).toMatchObject({ verdict: "SUCCEEDED", result: { verdict: "SUCCEEDED", before: { mainPid: 10 }, after: { mainPid: 11 } }, reconciliation: { host: "ENDED" } });
    expect(view.execution.error).toBeUndefined();
  });

  it("the host never started it: FAILED, NOT_STARTED — nothing ran", async () => {
    const { id } = await runningOfDeadBroker();
    const view = await getAction(id);
    expect(view).toMatchObject({ state: "FAILED", execution: { error: { code: "NOT_STARTED", message: expect.stringContaining("nothing ran there") }, reconciliation: { host: "NOT_STARTED" } } });
  });

  it("the host started it but its helper was killed: FAILED, INTERRUPTED — it did start, outcome unknown", async () => {
    const { id, approval } = await runningOfDeadBroker();
    ledgerEntry(id, approval.nonce, { state: "STARTED" });
    const view = await getAction(id);
    expect(view).toMatchObject({ state: "FAILED", execution: { error: { code: "INTERRUPTED", message: expect.stringContaining("it did start") }, reconciliation: { host: "INTERRUPTED" } } });
    expect(verifyAuditFile(bd.auditFile).ok).toBe(true);
  });

  it("a host whose helper still runs it: nothing is settled yet", async () => {
    const { id, approval } = await runningOfDeadBroker();
    // A STARTED record whose helper is this very test process (alive, same boot, same start time).
    const stat = readFileSync("/proc/self/stat", "utf8");
    ledgerEntry(id, approval.nonce, { state: "STARTED", helperPid: process.pid, helperStart: stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] });
    const view = await getAction(id);
    expect(view.state).toBe("FAILED");
    expect(view.execution?.reconciliation).toBeUndefined();
    expect(reconciled(id)).toEqual([]);
  });

  it("two brokers settling one request at once: settled once, audited once", async () => {
    const { id } = await runningOfDeadBroker();
    const other = new ActionService(new ActionStore(bd.stateDir), new AuditLog(bd.auditFile).open(), () => 600);
    // In-process (no host asked): RUNNING of a dead broker → FAILED OUTCOME_UNKNOWN, not yet settled.
    const current = await service.get(id);
    expect(current).toMatchObject({ state: "FAILED", execution: { error: { code: "OUTCOME_UNKNOWN" } } });
    expect(current?.execution?.reconciliation).toBeUndefined();
    const nonce = current!.approval!.statement.nonce;
    const ended = { entry: { requestId: id, action: "restart_service", nonce, state: "ENDED" as const, startedAt: new Date().toISOString(), endedAt: new Date().toISOString(), verdict: "FAILED" as const, reason: "post-check failed" } };
    const voided = { entry: { requestId: id, action: "restart_service", state: "VOIDED" as const, voidedAt: new Date().toISOString() } };
    const [a, b] = await Promise.all([service.reconcile(id, ended), other.reconcile(id, voided)]);
    expect([a.changed, b.changed].filter(Boolean)).toHaveLength(1);
    expect(reconciled(id)).toHaveLength(1);
  });

  it("a record of another approval of the same id (another broker's request) settles nothing", async () => {
    const { id } = await runningOfDeadBroker();
    const current = await service.get(id);
    const r = await service.reconcile(id, { entry: { requestId: id, action: "restart_service", nonce: "0".repeat(32), state: "ENDED", startedAt: new Date().toISOString(), endedAt: new Date().toISOString(), verdict: "SUCCEEDED" } });
    expect(r).toMatchObject({ changed: false, note: expect.stringContaining("another approval") });
    expect((await service.get(id))?.state).toBe(current?.state);
  });

  it("list_actions settles them too", async () => {
    const { id, approval } = await runningOfDeadBroker();
    ledgerEntry(id, approval.nonce, { state: "ENDED", endedAt: new Date().toISOString(), verdict: "SUCCEEDED", before: null, after: null, output: [] });
    const list = (await call(session, "list_actions", {})).structuredContent as { actions: Array<{ id: string; state: string }> };
    expect(list.actions.find((a) => a.id === id)?.state).toBe("SUCCEEDED");
  });
});
