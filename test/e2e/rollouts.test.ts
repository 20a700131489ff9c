// Fleet roll-outs (issue 14) on three booted containers, each running the real .deb, nginx on :80
// and a small HTTP endpoint on :8081 whose answer can be delayed (the window for the broker-kill
// case). Everything goes through the real broker driven by the MCP SDK's Client: propose_rollout
// (every host previews the action) → `hostward approve ro-… --key --yes` (one signature over the
// plan's Merkle root) → execute_rollout → get_rollout; each host's part runs on its operator agent,
// through sudo and the root helper, which checks its membership of the signed plan.
//   1. restart nginx on web1, web2, web3: canary web1, then batches of one, a check_http gate
//      (status 200 within 2 s): every host SUCCEEDED, a new MainPID on each, the audit verified;
//   2. the same with web2 made unhealthy (a site that passes `nginx -t` but answers 500, loaded
//      only by the restart): the gate fails on web2, the roll-out halts before batch 3, web3 is
//      reported untouched and its nginx is not restarted;
//   3. a plan of web1 and web2, approved: web1's part and a part forged for web3 are each refused by
//      web3's helper (OTHER_HOST), nothing runs there; the same part runs on web1;
//   4. the broker SIGKILLed while web2's batch runs (its restart done, its gate in flight): a new
//      broker on the same state resumes at start, settles web2 from web2's ledger and finishes;
//      each host restarted exactly once;
//   5. stop_service (nginx) with rollback: the canary's gate fails once nginx is stopped, the host
//      is rolled back with start_service (its own part of the same signed plan) and gated again:
//      ROLLED_BACK, nginx serving again, the rest untouched; the undo part runs once.
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { HELPER_EXIT } from "../../agent/src/helper/exit-codes";
import { canonicalJson, previewDigest, rolloutApprovalMessage, type RolloutStatement } from "../../proto/catalog/approval";
import { rolloutTree, type RolloutEntry } from "../../proto/catalog/rollout-plan";
import { createApprover, helperRequest, installAllowlist, installApprovers, type Approver } from "./support/approvals";
import { connectBrokerInNetns, writeBrokerConfig, type BrokerConfigDir, type BrokerSession } from "./support/broker";
import type { Container } from "./support/container";
import { helperAsOperator, previewIn } from "./support/helper";
import { record } from "./support/measurements";
import type { Network } from "./support/netns";
import { debPath } from "./support/packages";
import { BROKER_BUNDLE } from "./support/paths";
import { createCliPki, installAgentCerts, type CliPki } from "./support/pki";
import { run, sleep, waitFor } from "./support/run";
import { createScope, requirePackages } from "./support/scope";
import { activeState, aptInstall, mainPid, unitReport, UNITS, waitActive } from "./support/units";

const HOSTS = ["web1", "web2", "web3"] as const;
type Host = (typeof HOSTS)[number];
const NGINX = "nginx.service";
const SLOW = "hwslow.service";
const SLOW_PORT = 8081;
const SLOW_DELAY_FILE = "/etc/hwslow.delay";
const LEDGER = "/var/lib/hostward/helper/ledger";
const SITE = "/etc/nginx/sites-enabled/default";
/** A site `nginx -t` accepts that answers every request with 500. */
const SITE_500 = "server {\n  listen 80 default_server;\n  listen [::]:80 default_server;\n  location / {\n    return 500;\n  }\n}\n";
/** An HTTP endpoint that answers 200 after the number of seconds in SLOW_DELAY_FILE (read per request). */
const SLOW_SERVER = `import http.server, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            delay = float(open(${JSON.stringify(SLOW_DELAY_FILE)}).read())
        except (OSError, ValueError):
            delay = 0
        time.sleep(delay)
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\\n")
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", ${SLOW_PORT}), H).serve_forever()
`;

const scope = createScope("rollouts");
let net: Network;
let pki: CliPki;
let alice: Approver;
let keyFile: string;
let config: BrokerConfigDir;
let broker: BrokerSession;
const containers = new Map<Host, Container>();
const hostKeys = new Map<Host, string>();

const box = (h: Host): Container => {
  const c = containers.get(h);
  if (!c) throw new Error(`no container ${h}`);
  return c;
};

async function provision(name: Host): Promise<void> {
  const host = net.hosts[name];
  if (!host) throw new Error(`no namespace for ${name}`);
  const c = await scope.container(name, host.nsPath);
  containers.set(name, c);
  await aptInstall(c, debPath());
  const files = await pki.issueAgent(name, host.address);
  hostKeys.set(name, files.hostKey);
  await installAgentCerts(c, files);
  installApprovers(c, [alice]);
  installAllowlist(c, { units: [NGINX] });
  writeFileSync(c.path("/usr/local/lib/hwslow.py"), SLOW_SERVER);
  writeFileSync(c.path(SLOW_DELAY_FILE), "0\n");
  writeFileSync(c.path(`/etc/systemd/system/${SLOW}`), `[Unit]\nDescription=hostward e2e: an HTTP endpoint that answers late\n[Service]\nExecStart=/usr/bin/python3 /usr/local/lib/hwslow.py\n[Install]\nWantedBy=multi-user.target\n`);
  await c.execOk(["systemctl", "daemon-reload"]);
  await c.execOk(["systemctl", "enable", "--now", ...UNITS, SLOW]);
  await waitActive(c, [...UNITS, NGINX, SLOW]).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${await unitReport(c, UNITS[1])}\n${await unitReport(c, SLOW)}`);
  });
}

beforeAll(async () => {
  requirePackages();
  net = await scope.network(9, HOSTS);
  pki = await createCliPki(join(scope.dir, "pki"));
  alice = createApprover("alice", "MEDIUM");
  keyFile = join(scope.dir, "alice.key");
  writeFileSync(keyFile, alice.privateKeyText, { mode: 0o600 });
  const provisioned = await Promise.allSettled(HOSTS.map((h) => provision(h)));
  for (const p of provisioned) if (p.status === "rejected") throw p.reason;
  config = await writeBrokerConfig(
    join(scope.dir, "broker"),
    pki,
    HOSTS.map((h) => ({ name: h, address: net.hosts[h]?.address ?? "", tags: ["web"] })),
    { operator: true, extraRules: [{ target: "tag:web", allow: ["restart_service", "stop_service", "start_service", "check_http"] }] },
  );
  broker = await connectBrokerInNetns(net.clientNs, config);
  // The broker current at the end (the broker-kill case replaces it).
  scope.defer("broker", () => broker.close());
});
afterAll(() => scope.close());

const cli = (...args: string[]) => run(process.execPath, [BROKER_BUNDLE, ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: config.home }, timeoutMs: 60_000 });

const nginxGate = { diagnostic: "check_http", input: { url: "http://127.0.0.1/", timeoutMs: 2000 }, when: [{ field: "status", op: "==", value: 200 }, { field: "timings.totalMs", op: "<=", value: 2000 }] };
const STRATEGY = { canaries: 1, batchSize: 1, maxFailures: 0, gates: [nginxGate] };

interface GateView {
  diagnostic: string;
  ok: boolean;
  conditions: Array<{ text: string; ok: boolean; seen: unknown }>;
}
interface RolloutView {
  id: string;
  state: string;
  batches: string[][];
  counts: Record<string, number>;
  untouched: string[];
  execution?: { startedAt: string; endedAt?: string; batch: number; failures: number; resumes: number; halt?: { reason: string } };
  hosts: Array<{ host: string; batch: number; state: string; reconciled?: string; gates?: GateView[]; error?: { code: string; message: string } }>;
}
interface StoredHost {
  index: number;
  host: string;
  hostIdentity: string;
  hostKey: string;
  batch: number;
  previewHash: string;
  state: string;
  run?: { startedAt: string; endedAt?: string; verdict?: string; reconciled?: string };
}
interface StoredRollout {
  id: string;
  state: string;
  params: Record<string, unknown>;
  planRoot: string;
  hosts: StoredHost[];
  approval?: { statement: RolloutStatement; keyId: string; signature: string };
  execution?: { pid: number; batch: number; startedAt: string; endedAt?: string; resumes: number };
}
interface LedgerEntry {
  requestId: string;
  state: string;
  verdict?: string;
  startedAt: string;
}

const stored = (id: string): StoredRollout => JSON.parse(readFileSync(join(config.dir, "state", "rollouts", `${id}.json`), "utf8")) as StoredRollout;
/** Each host's preview, as the broker stored it beside the record (one canonical JSON line per host). */
const previewsOf = (id: string): string[] => readFileSync(join(config.dir, "state", "rollouts", `${id}.previews.jsonl`), "utf8").trimEnd().split("\n");

/** The host's helper's own record of a roll-out: one ledger file per request id `<id>-<index>`. */
function ledgerOf(h: Host, id: string): LedgerEntry[] {
  const dir = box(h).path(LEDGER);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n.startsWith(`${id}-`) && n.endsWith(".json"))
    .map((n) => JSON.parse(readFileSync(join(dir, n), "utf8")) as LedgerEntry);
}

/** How many times systemd has started nginx in this container (its "Started nginx.service" journal lines). */
async function nginxStarts(h: Host): Promise<number> {
  const j = await box(h).execOk(["journalctl", "--no-pager", "-o", "cat", "-u", NGINX]);
  return j.stdout.split("\n").filter((l) => l.startsWith(`Started ${NGINX}`)).length;
}

/** The helper's own "started" journal lines for a roll-out's requests on one host. */
async function helperStarts(h: Host, id: string): Promise<number> {
  const j = await box(h).execOk(["journalctl", "--no-pager", "-o", "cat", "-t", "hostward-action"]);
  return j.stdout.split("\n").filter((l) => l.includes(`"event":"started","requestId":"${id}-`)).length;
}

const pids = async (): Promise<Record<Host, number>> => ({ web1: await mainPid(box("web1"), NGINX), web2: await mainPid(box("web2"), NGINX), web3: await mainPid(box("web3"), NGINX) });
const starts = async (): Promise<Record<Host, number>> => ({ web1: await nginxStarts("web1"), web2: await nginxStarts("web2"), web3: await nginxStarts("web3") });

/** propose_rollout on `target` → `hostward approve --key --yes`; returns the id. */
async function proposeAndApprove(target: string, strategy: Record<string, unknown>, reason: string, action = "restart_service"): Promise<{ id: string; proposed: RolloutView; approveText: string }> {
  const t0 = Date.now();
  const p = await broker.call("propose_rollout", { target, action, params: { unit: NGINX }, strategy, reason });
  expect(p.isError, JSON.stringify(p.content)).toBeFalsy();
  record(`roll-out: propose_rollout on ${target} (each host's key and preview), ms`, Date.now() - t0);
  const proposed = p.structuredContent as unknown as RolloutView;
  expect(proposed.state).toBe("PENDING");
  const t1 = Date.now();
  const approved = await cli("approve", proposed.id, "--key", keyFile, "--yes", "--config", config.dir);
  expect(approved.code, approved.stdout + approved.stderr).toBe(0);
  record("roll-out: hostward approve ro-… --yes (show the plan, sign its root), ms", Date.now() - t1);
  expect(approved.stdout).toContain(`APPROVED ${proposed.id}`);
  return { id: proposed.id, proposed, approveText: approved.stdout };
}

async function execute(id: string, on: BrokerSession = broker): Promise<void> {
  const r = await on.call("execute_rollout", { id });
  expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
}

/** get_rollout (every host) until the roll-out has ended. */
async function settled(id: string, on: BrokerSession = broker, timeoutMs = 90_000): Promise<RolloutView> {
  return waitFor(
    `roll-out ${id} to end`,
    async () => {
      const r = await on.call("get_rollout", { id, hosts: true });
      if (r.isError) throw new Error(JSON.stringify(r.content));
      const v = r.structuredContent as unknown as RolloutView;
      return ["RUNNING", "APPROVED"].includes(v.state) ? undefined : v;
    },
    timeoutMs,
    250,
  );
}

/** Each host's action time (run.startedAt → endedAt) from the stored record, and the roll-out's wall time. */
function timings(id: string): { wallMs: number; perHostMs: number[]; order: Array<{ host: string; start: number; end: number }> } {
  const r = stored(id);
  const t = (s: string | undefined) => (s ? Date.parse(s) : Number.NaN);
  const order = r.hosts.map((h) => ({ host: h.host, start: t(h.run?.startedAt), end: t(h.run?.endedAt) }));
  return { wallMs: t(r.execution?.endedAt) - t(r.execution?.startedAt), perHostMs: order.map((o) => o.end - o.start), order };
}

async function auditEvents(): Promise<Array<Record<string, unknown>>> {
  const tail = await cli("audit", "tail", "-n", "20000", "--config", config.dir);
  expect(tail.code, tail.stderr).toBe(0);
  return tail.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function expectAuditVerifies(): Promise<void> {
  // The head is signed at most a second behind.
  await sleep(1200);
  const verify = await cli("audit", "verify", "--config", config.dir);
  expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  expect(verify.stdout).toContain("signed head: verified");
}

/** Waits until each host's journal shows `expected` nginx starts, then a moment more, and returns what it shows. */
async function startsSettled(expected: Record<Host, number>): Promise<Record<Host, number>> {
  await waitFor("the nginx starts to reach the journal", async () => {
    const s = await starts();
    return HOSTS.every((h) => s[h] >= expected[h]) ? s : undefined;
  }, 10_000, 200).catch(() => undefined);
  await sleep(500);
  return starts();
}

describe("a roll-out of restart_service (nginx) over three containers", () => {
  test("canary web1, then batches of one, a check_http gate (200 within 2 s): every host SUCCEEDED with a new nginx MainPID, in order; the audit verifies", async () => {
    const before = await pids();
    const startsBefore = await starts();
    const { id, proposed, approveText } = await proposeAndApprove("tag:web", STRATEGY, "e2e: a config change needs a restart on every web host");
    expect(proposed.batches).toEqual([["web1"], ["web2"], ["web3"]]);
    expect(approveText).toMatch(/restart_service - Restart a service on 3 host\(s\) in 3 batch\(es\)/);
    expect(approveText).toMatch(/1\. \(canary\) web1\n\s+2\. web2\n\s+3\. web3/);
    expect(approveText).toContain('check_http {"timeoutMs":2000,"url":"http://127.0.0.1/"}: status == 200 and timings.totalMs <= 2000');

    const t0 = Date.now();
    await execute(id);
    const r = await settled(id);
    const elapsed = Date.now() - t0;
    expect(r.state, JSON.stringify(r)).toBe("SUCCEEDED");
    expect(r.counts).toEqual({ SUCCEEDED: 3 });
    expect(r.untouched).toEqual([]);
    expect(r.hosts.map((h) => [h.host, h.batch, h.state])).toEqual([
      ["web1", 1, "SUCCEEDED"],
      ["web2", 2, "SUCCEEDED"],
      ["web3", 3, "SUCCEEDED"],
    ]);
    for (const h of r.hosts) {
      expect(h.gates?.[0], h.host).toMatchObject({ diagnostic: "check_http", ok: true, conditions: [{ text: "status == 200", ok: true, seen: 200 }, { text: "timings.totalMs <= 2000", ok: true }] });
      expect(h.gates?.[0]?.conditions[1]?.seen as number).toBeLessThanOrEqual(2000);
    }

    // Each host: nginx active with a new main process; its helper ran the host's entry once.
    const after = await pids();
    for (const h of HOSTS) {
      expect(after[h], h).not.toBe(before[h]);
      expect(await activeState(box(h), NGINX), h).toBe("active");
      expect(ledgerOf(h, id), h).toEqual([expect.objectContaining({ requestId: `${id}-${HOSTS.indexOf(h)}`, state: "ENDED", verdict: "SUCCEEDED" })]);
      expect(await helperStarts(h, id), h).toBe(1);
    }
    const startsAfter = await startsSettled({ web1: startsBefore.web1 + 1, web2: startsBefore.web2 + 1, web3: startsBefore.web3 + 1 });
    expect(startsAfter).toEqual({ web1: startsBefore.web1 + 1, web2: startsBefore.web2 + 1, web3: startsBefore.web3 + 1 });

    // The batches ran one after another: a host's action began after the previous host's had ended.
    const t = timings(id);
    for (let i = 1; i < t.order.length; i++) expect(t.order[i]!.start, `${t.order[i]!.host} after ${t.order[i - 1]!.host}`).toBeGreaterThanOrEqual(t.order[i - 1]!.end);
    record("roll-out of restart_service (nginx) on 3 hosts, canary + batches of 1 + check_http gate: execute_rollout → SUCCEEDED seen, ms", elapsed);
    record("roll-out of restart_service on 3 hosts: the record's wall time (first batch → end), ms", t.wallMs);
    record("roll-out of restart_service: wall time per host (wall time / 3), ms", Math.round(t.wallMs / 3));
    record("roll-out of restart_service: each host's action (agent + sudo + helper + systemctl restart), median ms", [...t.perHostMs].sort((a, b) => a - b)[1]!);

    // The audit has the roll-out's life; the chain and its signed head verify.
    const events = (await auditEvents()).filter((e) => e.rolloutId === id);
    const names = events.map((e) => e.event);
    expect(names[0]).toBe("rollout.proposed");
    expect(names).toContain("rollout.approved");
    expect(events.filter((e) => e.event === "rollout.batch.result").map((e) => e.batch)).toEqual([0, 1, 2]);
    expect(events.filter((e) => e.event === "rollout.end")).toEqual([expect.objectContaining({ state: "SUCCEEDED", counts: { SUCCEEDED: 3 } })]);
    await expectAuditVerifies();
  }, 180_000);

  test("with web2 made unhealthy (a site that passes nginx -t but answers 500): its gate fails, the roll-out halts before batch 3, web3 is untouched and its nginx not restarted", async () => {
    const web2 = box("web2");
    // Debian's site is a symlink to sites-available/default, which is left as it is.
    const link = readlinkSync(web2.path(SITE));
    try {
      // Written, not loaded: nginx keeps serving the old site until the roll-out restarts it.
      await web2.execOk(["rm", "-f", SITE]);
      writeFileSync(web2.path(SITE), SITE_500);
      await web2.execOk(["nginx", "-t", "-q"]);
      const healthy = await broker.hostsOk<{ status: number }>("check_http", { target: "web2", url: "http://127.0.0.1/" });
      expect(healthy.results[0]?.data?.status, "web2 answers 200 until its restart").toBe(200);

      const before = await pids();
      const startsBefore = await starts();
      const { id } = await proposeAndApprove("tag:web", STRATEGY, "e2e: the same restart, web2 broken by it");
      const t0 = Date.now();
      await execute(id);
      const r = await settled(id);
      record("roll-out halted by a failed gate on the 2nd batch: execute_rollout → HALTED seen, ms", Date.now() - t0);
      expect(r.state, JSON.stringify(r)).toBe("HALTED");
      expect(r.counts).toEqual({ SUCCEEDED: 1, GATE_FAILED: 1, UNTOUCHED: 1 });
      expect(r.untouched).toEqual(["web3"]);
      expect(r.hosts.map((h) => [h.host, h.state])).toEqual([
        ["web1", "SUCCEEDED"],
        ["web2", "GATE_FAILED"],
        ["web3", "UNTOUCHED"],
      ]);
      expect(r.execution?.halt?.reason).toMatch(/^1 host\(s\) failed, more than the error budget of 0 \(maxFailures 0\); stopped before batch 3$/);
      const web2Gate = r.hosts.find((h) => h.host === "web2")?.gates?.[0];
      expect(web2Gate).toMatchObject({ diagnostic: "check_http", ok: false });
      expect(web2Gate?.conditions[0]).toEqual({ text: "status == 200", ok: false, seen: 500 });

      // web1 and web2 ran their entries (web2's restart is what loaded the broken site); web3 never did.
      const after = await pids();
      expect(after.web1).not.toBe(before.web1);
      expect(after.web2).not.toBe(before.web2);
      expect(after.web3, "web3's nginx is the same process").toBe(before.web3);
      expect(ledgerOf("web1", id).map((e) => e.state)).toEqual(["ENDED"]);
      expect(ledgerOf("web2", id)).toEqual([expect.objectContaining({ state: "ENDED", verdict: "SUCCEEDED" })]);
      expect(ledgerOf("web3", id), "web3's helper has no record of the roll-out").toEqual([]);
      expect(await helperStarts("web3", id)).toBe(0);
      const startsAfter = await startsSettled({ ...startsBefore, web1: startsBefore.web1 + 1, web2: startsBefore.web2 + 1 });
      expect(startsAfter).toEqual({ web1: startsBefore.web1 + 1, web2: startsBefore.web2 + 1, web3: startsBefore.web3 });
      const broken = await broker.hostsOk<{ status: number }>("check_http", { target: "web2", url: "http://127.0.0.1/" });
      expect(broken.results[0]?.data?.status, "web2 answers 500 after its restart").toBe(500);

      const end = (await auditEvents()).filter((e) => e.rolloutId === id && e.event === "rollout.end");
      expect(end).toEqual([expect.objectContaining({ state: "HALTED", untouched: ["web3"] })]);
      // Halted for good: it cannot be run again.
      const again = await broker.call("execute_rollout", { id });
      expect(again.isError).toBe(true);
      expect(again.content.map((c) => c.text ?? "").join("")).toMatch(/is HALTED, not APPROVED/);
    } finally {
      await web2.execOk(["ln", "-sfn", link, SITE]);
      await web2.execOk(["systemctl", "restart", NGINX]);
    }
    const restored = await broker.hostsOk<{ status: number }>("check_http", { target: "web2", url: "http://127.0.0.1/" });
    expect(restored.results[0]?.data?.status).toBe(200);
  }, 180_000);

  test("a plan of web1 and web2: its approval presented to web3 is refused by web3's helper (OTHER_HOST, exit 85), nothing runs there; web1's helper runs the same part", async () => {
    const { id, proposed } = await proposeAndApprove("web1,web2", STRATEGY, "e2e: a plan web3 is not part of");
    expect(proposed.batches).toEqual([["web1"], ["web2"]]);
    const r = stored(id);
    const approval = r.approval;
    if (!approval) throw new Error(`roll-out ${id} has no approval`);
    // Each host's part, exactly as the broker makes it (RolloutService.partFor): the statement, the
    // host's entry and its audit path to the signed root.
    const previews = previewsOf(id);
    const entries: RolloutEntry[] = r.hosts.map((h) => ({ index: h.index, host: h.hostIdentity, hostKey: h.hostKey, previewHash: previewDigest(previews[h.index]!), batch: h.batch }));
    expect(entries.map((e) => e.previewHash)).toEqual(r.hosts.map((h) => h.previewHash));
    const tree = rolloutTree(entries);
    expect(tree.root).toBe(r.planRoot);
    const web1Part = rolloutApprovalMessage(approval.statement, entries[0]!, tree.proofs[0]!, approval.keyId, approval.signature, previews[0]!);

    const web3 = box("web3");
    const before = await mainPid(web3, NGINX);
    const startsBefore = await nginxStarts("web3");

    // 1. web1's own part, as is: the signature holds, but it names web1.
    const asIs = await helperAsOperator(web3, helperRequest("restart_service", r.params, web1Part));
    const detail1 = `${asIs.raw.stdout}\n${asIs.raw.stderr}`;
    expect(asIs.code, detail1).toBe(HELPER_EXIT.otherHost);
    expect(asIs.refused?.code, detail1).toBe("OTHER_HOST");
    expect(asIs.refused?.reason).toBe(`approval is for host "web1", this host is "web3" (entry 0 of roll-out ${id}; a host that is not in the signed plan cannot run it)`);
    expect(asIs.refused?.spawns).toBe(0);
    expect(asIs.outputs).toEqual([]);
    expect(asIs.audits).toEqual([expect.objectContaining({ event: "refused", code: "OTHER_HOST", exitCode: HELPER_EXIT.otherHost, spawns: 0 })]);

    // 2. An entry forged for web3 (its name, its key, its own preview) on web1's audit path: it
    //    does not lead to the signed root.
    const web3Preview = await previewIn(web3, "restart_service", r.params);
    const forgedEntry: RolloutEntry = { index: 0, host: "web3", hostKey: hostKeys.get("web3") ?? "", previewHash: previewDigest(canonicalJson(web3Preview)), batch: 0 };
    const forged = rolloutApprovalMessage(approval.statement, forgedEntry, tree.proofs[0]!, approval.keyId, approval.signature, canonicalJson(web3Preview));
    const forgedRun = await helperAsOperator(web3, helperRequest("restart_service", r.params, forged));
    const detail2 = `${forgedRun.raw.stdout}\n${forgedRun.raw.stderr}`;
    expect(forgedRun.code, detail2).toBe(HELPER_EXIT.otherHost);
    expect(forgedRun.refused?.code, detail2).toBe("OTHER_HOST");
    expect(forgedRun.refused?.reason).toMatch(new RegExp(`^approval's roll-out entry 0 \\(host "web3", key ${hostKeys.get("web3")}, batch 0, preview sha256:[0-9a-f]{64}\\) is not in the signed plan ${id}: its audit path leads to sha256:[0-9a-f]{64}, not the plan's root ${r.planRoot}$`));
    expect(forgedRun.refused?.spawns).toBe(0);

    // Nothing ran on web3: the same nginx, no start, no ledger record, no helper start line.
    expect(await mainPid(web3, NGINX)).toBe(before);
    expect(await nginxStarts("web3")).toBe(startsBefore);
    expect(ledgerOf("web3", id)).toEqual([]);
    expect(await helperStarts("web3", id)).toBe(0);

    // The part itself is a good approval: web1's helper, in the plan, runs it (once).
    const web1 = box("web1");
    const web1Before = await mainPid(web1, NGINX);
    const ok = await helperAsOperator(web1, helperRequest("restart_service", r.params, web1Part));
    expect(ok.code, `${ok.raw.stdout}\n${ok.raw.stderr}`).toBe(HELPER_EXIT.succeeded);
    expect(ok.result?.verdict).toBe("SUCCEEDED");
    expect(await mainPid(web1, NGINX)).not.toBe(web1Before);
    expect(ledgerOf("web1", id)).toEqual([expect.objectContaining({ requestId: `${id}-0`, state: "ENDED", verdict: "SUCCEEDED" })]);
    const replayed = await helperAsOperator(web1, helperRequest("restart_service", r.params, web1Part));
    expect(replayed.refused?.code).toBe("REPLAYED");

    const cancelled = await broker.call("cancel_rollout", { id, reason: "e2e: only its approval was needed" });
    expect(cancelled.isError, JSON.stringify(cancelled.content)).toBeFalsy();
    expect((cancelled.structuredContent as { state: string }).state).toBe("CANCELLED");
  }, 180_000);

  test("the broker SIGKILLed while web2's batch runs (restart done, gate in flight): a new broker on the same state resumes, settles web2 from its ledger, finishes web3; each host restarted exactly once", async () => {
    const SLOW_S = 5;
    const slowGate = { diagnostic: "check_http", input: { url: `http://127.0.0.1:${SLOW_PORT}/`, timeoutMs: 9000 }, when: [{ field: "status", op: "==", value: 200 }] };
    for (const h of HOSTS) writeFileSync(box(h).path(SLOW_DELAY_FILE), `${SLOW_S}\n`);
    const before = await pids();
    const startsBefore = await starts();
    const { id } = await proposeAndApprove("tag:web", { canaries: 1, batchSize: 1, gates: [slowGate] }, "e2e: a restart whose broker dies");
    await execute(id);

    // web2's restart has ended on the host (its ledger says so); its gate waits SLOW_S seconds.
    const web2Ended = await waitFor("web2's entry ENDED in its ledger", async () => (ledgerOf("web2", id)[0]?.state === "ENDED" ? ledgerOf("web2", id)[0] : undefined), 60_000, 100);
    const killedPid = stored(id).execution?.pid;
    if (!killedPid) throw new Error("no broker pid in the record");
    expect(killedPid).toBe(broker.pid());
    process.kill(killedPid, "SIGKILL");
    const tKill = Date.now();
    await broker.close().catch(() => undefined);
    await waitFor("the killed broker to be gone", async () => (existsSync(`/proc/${killedPid}`) ? undefined : true), 10_000, 50);
    for (const h of HOSTS) writeFileSync(box(h).path(SLOW_DELAY_FILE), "0\n");

    // What the dead broker left: web1 done, web2 RUNNING (its outcome not stored), web3 not started.
    const left = stored(id);
    expect(left.state).toBe("RUNNING");
    expect(left.hosts.map((h) => [h.host, h.state])).toEqual([
      ["web1", "SUCCEEDED"],
      ["web2", "RUNNING"],
      ["web3", "PENDING"],
    ]);
    const atKill = await pids();
    expect(atKill.web1).not.toBe(before.web1);
    expect(atKill.web2).not.toBe(before.web2);
    expect(atKill.web3).toBe(before.web3);
    const ledgerAtKill = { web1: ledgerOf("web1", id), web2: ledgerOf("web2", id) };
    expect(ledgerAtKill.web2).toEqual([web2Ended]);

    // A new broker on the same configuration and state: it takes the roll-out over at start.
    // (The cleanup registered in beforeAll closes whichever broker is current.)
    broker = await connectBrokerInNetns(net.clientNs, config);
    const r = await settled(id);
    record("broker killed mid-roll-out: kill → new broker reports the roll-out SUCCEEDED, ms", Date.now() - tKill);
    expect(r.state, JSON.stringify(r)).toBe("SUCCEEDED");
    expect(r.counts).toEqual({ SUCCEEDED: 3 });
    expect(r.execution?.resumes).toBe(1);
    expect(r.hosts.map((h) => [h.host, h.state, h.reconciled ?? null])).toEqual([
      ["web1", "SUCCEEDED", null],
      ["web2", "SUCCEEDED", "ENDED"],
      ["web3", "SUCCEEDED", null],
    ]);
    for (const h of r.hosts) expect(h.gates?.[0], h.host).toMatchObject({ ok: true, conditions: [{ seen: 200 }] });
    expect(stored(id).execution?.pid, "the new broker runs it").not.toBe(killedPid);

    // Each host restarted exactly once; the hosts done before the kill were not restarted again.
    const after = await pids();
    expect(after.web1, "web1: the process it had at the kill").toBe(atKill.web1);
    expect(after.web2, "web2: the process it had at the kill").toBe(atKill.web2);
    expect(after.web3).not.toBe(before.web3);
    expect({ web1: ledgerOf("web1", id), web2: ledgerOf("web2", id) }, "the ledger records of web1 and web2 are those of their one run").toEqual(ledgerAtKill);
    expect(ledgerOf("web3", id)).toEqual([expect.objectContaining({ requestId: `${id}-2`, state: "ENDED", verdict: "SUCCEEDED" })]);
    for (const h of HOSTS) expect(await helperStarts(h, id), h).toBe(1);
    const once = { web1: startsBefore.web1 + 1, web2: startsBefore.web2 + 1, web3: startsBefore.web3 + 1 };
    expect(await startsSettled(once)).toEqual(once);

    const events = (await auditEvents()).filter((e) => e.rolloutId === id);
    expect(events.filter((e) => e.event === "rollout.resumed")).toEqual([expect.objectContaining({ previousPid: killedPid, batch: 1 })]);
    expect(events.filter((e) => e.event === "rollout.end")).toEqual([expect.objectContaining({ state: "SUCCEEDED" })]);
    // execute_rollout on the finished roll-out is refused: nothing runs twice.
    const again = await broker.call("execute_rollout", { id });
    expect(again.isError).toBe(true);
    await expectAuditVerifies();
  }, 180_000);

  test("stop_service with rollback: the canary's gate fails once nginx is stopped, web1 is rolled back with start_service and gated again (ROLLED_BACK), the rest untouched; the undo runs once", async () => {
    const before = await pids();
    const { id, approveText } = await proposeAndApprove("tag:web", { canaries: 1, batchSize: 2, gates: [nginxGate], rollback: true }, "e2e: a stop the gate catches, undone", "stop_service");
    expect(approveText).toMatch(/rollback: a host whose gate fails after its action succeeded is rolled back with start_service/);
    expect(approveText).toContain("      if its gates fail, rollback:\n");
    expect(approveText).toContain("        $ /usr/bin/systemctl start --no-pager --no-ask-password -- nginx.service\n");
    const t0 = Date.now();
    await execute(id);
    const r = await settled(id);
    record("roll-out with rollback: stop → gate fails → start → gate holds, execute_rollout → HALTED seen, ms", Date.now() - t0);
    expect(r.state, JSON.stringify(r)).toBe("HALTED");
    expect(r.execution?.halt?.reason).toMatch(/the canary batch failed \(web1: ROLLED_BACK\); stopped before batch 2/);
    expect(r.hosts.map((h) => [h.host, h.state])).toEqual([
      ["web1", "ROLLED_BACK"],
      ["web2", "UNTOUCHED"],
      ["web3", "UNTOUCHED"],
    ]);
    const web1 = r.hosts[0] as RolloutView["hosts"][number] & { rollback?: { run: { verdict?: string }; gates?: GateView[] } };
    expect(web1.gates?.[0]?.ok, "the gate after the stop").toBe(false);
    expect(web1.rollback).toMatchObject({ run: { verdict: "SUCCEEDED" }, gates: [{ diagnostic: "check_http", ok: true, conditions: [{ seen: 200 }, { ok: true }] }] });

    // web1: nginx stopped then started again (a new main process, serving); its ledger has both parts.
    const after = await pids();
    expect(await activeState(box("web1"), NGINX)).toBe("active");
    expect(after.web1).not.toBe(before.web1);
    expect(after.web2).toBe(before.web2);
    expect(after.web3).toBe(before.web3);
    expect(ledgerOf("web1", id).map((e) => [e.requestId, e.state, e.verdict]).sort()).toEqual([
      [`${id}-0`, "ENDED", "SUCCEEDED"],
      [`${id}-0-undo`, "ENDED", "SUCCEEDED"],
    ]);
    expect(ledgerOf("web2", id)).toEqual([]);
    expect(ledgerOf("web3", id)).toEqual([]);

    // The undo part, presented again to web1's helper, is refused: it ran once.
    const stopped = stored(id);
    const previews = previewsOf(id);
    const entries: RolloutEntry[] = stopped.hosts.map((h) => ({ index: h.index, host: h.hostIdentity, hostKey: h.hostKey, previewHash: h.previewHash, batch: h.batch }));
    const tree = rolloutTree(entries);
    const a = stopped.approval!;
    expect(a.statement.rollback).toBe("start_service");
    const undo = rolloutApprovalMessage(a.statement, entries[0]!, tree.proofs[0]!, a.keyId, a.signature, previews[0]!, true);
    const replayed = await helperAsOperator(box("web1"), helperRequest("start_service", stopped.params, undo));
    expect(replayed.refused?.code, `${replayed.raw.stdout}\n${replayed.raw.stderr}`).toBe("REPLAYED");
    // On web2 (in the plan, never reached) the undo of its entry is refused: nothing to roll back.
    const web2Undo = rolloutApprovalMessage(a.statement, entries[1]!, tree.proofs[1]!, a.keyId, a.signature, previews[1]!, true);
    const nothing = await helperAsOperator(box("web2"), helperRequest("start_service", stopped.params, web2Undo));
    expect(nothing.refused?.code).toBe("HOST_CHANGED");
    expect(nothing.refused?.reason).toMatch(/nothing to roll back: the plan's stop_service \(ro-[0-9a-f]{10}-1\) has not succeeded on this host/);
    expect(await activeState(box("web2"), NGINX)).toBe("active");
    expect((await auditEvents()).filter((e) => e.rolloutId === id && e.event === "rollout.end")).toEqual([expect.objectContaining({ state: "HALTED" })]);
  }, 180_000);
});
