// Actions on a real systemd, with approvals the model cannot forge (issue 4). One container runs the
// real .deb with certificates from `hostward pki`, an allowlist of nginx.service,
// unbound.service and caddy.service, and approver keys made here: "alice" (max MEDIUM), "lowkey" (max LOW) and
// "root" (max HIGH). Three ways in:
//   1. the root helper by hand, as the operator agent runs it (runuser -u hostward-operator --
//      sudo -n -- /usr/libexec/hostward/hostward-action, request on stdin): every refusal has its
//      exit code (agent/src/helper/exit-codes.ts) and nothing is restarted (MainPID and the main
//      process's start time unchanged, the helper started no process);
//   2. the operator agent over mTLS from the client namespace, with the generated client;
//   3. (when the broker's side exists) propose_action → `hostward approve` → execute_action.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { HELPER_EXIT } from "../../agent/src/helper/exit-codes";
import { createActionClient, type ActionClient, type ActionClientEvent, type ActionClientJob } from "./support/action-client";
import { createApprover, helperRequest, installAllowlist, installApprovers, type Approver } from "./support/approvals";
import type { Container } from "./support/container";
import { connectBrokerInNetns, writeBrokerConfig, type BrokerConfigDir, type BrokerSession } from "./support/broker";
import { HELPER, helperAsOperator, parseHelperRun, planLine, planLines, previewIn, ranLines, runsAsPrinted, type HelperRun } from "./support/helper";
import { record } from "./support/measurements";
import type { Network } from "./support/netns";
import { debPath } from "./support/packages";
import { createCliPki, installAgentCerts, type CliPki } from "./support/pki";
import { BROKER_BUNDLE } from "./support/paths";
import { run, waitFor } from "./support/run";
import { createScope, requirePackages } from "./support/scope";
import { activeState, aptInstall, unitProperty, unitReport, UNITS, waitActive } from "./support/units";

const HOST = "act1";
const NGINX = "nginx.service";
const UNBOUND = "unbound.service";
const CADDY = "caddy.service";
const CADDYFILE = "/etc/caddy/Caddyfile";
const ALLOWED_UNITS = [NGINX, UNBOUND, CADDY];
const OPERATOR = "hostward-operator.service";

const scope = createScope("actions");
let net: Network;
let c: Container;
let pki: CliPki;
let alice: Approver;
let lowkey: Approver;
let rootKey: Approver;
/** A second HIGH approver: the host requires two distinct keys for HIGH by default. */
let opsKey: Approver;
/** A key that is on no host's approver list. */
let mallory: Approver;

/** What says whether a unit was (re)started: its main process and when that process started. */
interface UnitFacts {
  mainPid: number;
  started: string;
  nRestarts: number;
}

async function facts(unit: string): Promise<UnitFacts> {
  return {
    mainPid: Number(await unitProperty(c, unit, "MainPID")),
    started: await unitProperty(c, unit, "ExecMainStartTimestampMonotonic"),
    nRestarts: Number(await unitProperty(c, unit, "NRestarts")),
  };
}

const restartNginx = { host: HOST, action: "restart_service", params: { unit: NGINX } };

/** How many reloads systemd has finished for a unit (its "Reloaded UNIT - …" journal lines). */
async function reloadsDone(unit: string): Promise<number> {
  const j = await c.execOk(["journalctl", "--no-pager", "-o", "cat", "-u", unit]);
  return j.stdout.split("\n").filter((l) => l.startsWith(`Reloaded ${unit}`)).length;
}

beforeAll(async () => {
  requirePackages();
  net = await scope.network(4, [HOST]);
  c = await scope.container(HOST, net.hosts[HOST]?.nsPath);
  pki = await createCliPki(join(scope.dir, "pki"));
  await aptInstall(c, debPath());
  await installAgentCerts(c, await pki.issueAgent(HOST, net.hosts[HOST]?.address ?? ""));
  alice = createApprover("alice", "MEDIUM");
  lowkey = createApprover("lowkey", "LOW");
  rootKey = createApprover("root", "HIGH");
  mallory = createApprover("mallory", "HIGH");
  opsKey = createApprover("ops", "HIGH");
  installApprovers(c, [alice, lowkey, rootKey, opsKey]);
  installAllowlist(c, { units: ALLOWED_UNITS });
  await c.execOk(["systemctl", "enable", "--now", ...UNITS]);
  await waitActive(c, [...UNITS, NGINX, UNBOUND, CADDY]).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${await unitReport(c, OPERATOR)}\n${await unitReport(c, UNBOUND)}\n${await unitReport(c, CADDY)}`);
  });
});
afterAll(() => scope.close());

/**
 * An approval of what the host previews now (previewIn: the helper's own read-only query), as an
 * approver who read that preview signs it; the preview comes back for the plan's lines.
 */
async function approveAsPreviewed(key: Approver, fields: { host: string; action: string; params: Record<string, unknown> }, cosigners: Approver[] = []) {
  const preview = await previewIn(c, fields.action, fields.params);
  return { ...key.approve({ ...fields, preview, cosigners }), preview };
}

/** Every "$ " line the helper printed is a line of the plan the approver read. */
function expectRanAsApproved(outputs: readonly string[], action: string, params: Record<string, unknown>, preview: Parameters<typeof planLines>[2]): void {
  const plan = planLines(action, params, preview);
  for (const line of ranLines(outputs)) expect(plan, "what is approved is what runs").toContain(line);
}

/** Asserts a helper refusal: its exit code and code, nothing started, one audit line saying so. */
function expectRefused(r: HelperRun, code: keyof typeof REFUSALS): void {
  const detail = `${r.raw.stdout}\n${r.raw.stderr}`;
  expect(r.code, detail).toBe(REFUSALS[code]);
  expect(r.refused?.code, detail).toBe(code);
  expect(r.refused?.exitCode).toBe(REFUSALS[code]);
  expect(r.refused?.spawns, "the helper started no process").toBe(0);
  expect(r.result).toBeUndefined();
  expect(r.outputs).toEqual([]);
  expect(r.audits).toHaveLength(1);
  expect(r.audits[0]).toMatchObject({ event: "refused", code, exitCode: REFUSALS[code], spawns: 0 });
}

const REFUSALS = {
  USAGE: HELPER_EXIT.usage,
  ENVIRONMENT: HELPER_EXIT.noPermission,
  BAD_REQUEST: HELPER_EXIT.badRequest,
  NOT_ALLOWLISTED: HELPER_EXIT.notAllowlisted,
  NO_APPROVAL: HELPER_EXIT.noApproval,
  UNKNOWN_KEY: HELPER_EXIT.unknownKey,
  BAD_SIGNATURE: HELPER_EXIT.badSignature,
  EXPIRED: HELPER_EXIT.expired,
  OTHER_HOST: HELPER_EXIT.otherHost,
  ALTERED: HELPER_EXIT.altered,
  IMPACT_TOO_HIGH: HELPER_EXIT.impactTooHigh,
  REPLAYED: HELPER_EXIT.replayed,
  TOO_FEW_APPROVALS: HELPER_EXIT.tooFewApprovals,
} as const;

describe("the root helper, run through sudo as hostward-operator", () => {
  let approvedRestart: Awaited<ReturnType<typeof approveAsPreviewed>>;

  test("a valid approval restarts nginx: SUCCEEDED, a new MainPID, the pre-check and the command streamed, one audit line", async () => {
    const before = await facts(NGINX);
    approvedRestart = await approveAsPreviewed(alice, restartNginx);
    const restartLine = planLine("restart_service", restartNginx.params, approvedRestart.preview, "restart");
    const t0 = performance.now();
    const r = await helperAsOperator(c, helperRequest("restart_service", { unit: NGINX }, approvedRestart.approval));
    record("restart nginx via the helper by hand (nsenter + runuser + sudo + helper), ms", Math.round(performance.now() - t0));
    const after = await facts(NGINX);
    const detail = `${r.raw.stdout}\n${r.raw.stderr}`;
    expect(r.code, detail).toBe(HELPER_EXIT.succeeded);
    expect(r.result?.verdict, detail).toBe("SUCCEEDED");
    expect(after.mainPid).not.toBe(before.mainPid);
    expect(after.started).not.toBe(before.started);
    expect(r.result?.before).toMatchObject({ unit: NGINX, ActiveState: "active", MainPID: before.mainPid, NRestarts: before.nRestarts });
    expect(r.result?.after).toMatchObject({ unit: NGINX, ActiveState: "active", MainPID: after.mainPid, NRestarts: after.nRestarts });
    // A restart asked for is not an automatic restart: systemd's NRestarts counts only the latter.
    expect(after.nRestarts).toBe(before.nRestarts);
    // The allowlist pre-check ran before the restart, streamed line by line through the pty.
    expect(r.outputs.findIndex((l) => /^pre-check: nginx\.service is loaded and allowlisted/.test(l))).toBeGreaterThanOrEqual(0);
    expect(r.outputs).toContain(restartLine);
    expect(restartLine).toBe(`$ /usr/bin/systemctl restart --no-pager --no-ask-password -- ${NGINX}`);
    expect(r.outputs.findIndex((l) => /^pre-check: nginx\.service is loaded/.test(l))).toBeLessThan(r.outputs.indexOf(restartLine));
    expectRanAsApproved(r.outputs, "restart_service", restartNginx.params, approvedRestart.preview);
    expect(r.ordered).toBe(true);
    expect(r.audits).toEqual([
      expect.objectContaining({ event: "executed", mode: "sudo", sudoUser: "hostward-operator", action: "restart_service", verdict: "SUCCEEDED", exitCode: 0, keyId: alice.keyId, requestId: approvedRestart.statement.id }),
    ]);
    expect(r.audits[0]?.spawns).toBeGreaterThanOrEqual(3);
  });

  test("the same approval again is refused as replayed (exit 89) and nginx is not restarted", async () => {
    const before = await facts(NGINX);
    const r = await helperAsOperator(c, helperRequest("restart_service", { unit: NGINX }, approvedRestart.approval));
    expectRefused(r, "REPLAYED");
    expect(await facts(NGINX)).toEqual(before);
  });

  test("expired, altered, re-signed-by-nobody, other-host, unknown-key, too-low-impact and missing approvals: each refused with its code, nothing restarted", async () => {
    const now = Math.floor(Date.now() / 1000);
    const nginx = { unit: NGINX };
    const unbound = { unit: UNBOUND };
    const tampered = alice.approve(restartNginx).approval;
    const cases: Array<{ name: string; code: keyof typeof REFUSALS; action?: string; params: Record<string, unknown>; approval: ReturnType<Approver["approve"]>["approval"] | null }> = [
      { name: "expired a minute ago", code: "EXPIRED", params: nginx, approval: alice.approve({ ...restartNginx, notAfter: now - 60 }).approval },
      // Approved for nginx, asked for unbound (also allowlisted): the parameters are not the approved ones.
      { name: "approved for nginx, run for unbound", code: "ALTERED", params: unbound, approval: alice.approve(restartNginx).approval },
      // The approval's own parameters rewritten to match: the signature no longer covers them.
      { name: "parameters rewritten inside the approval", code: "BAD_SIGNATURE", params: unbound, approval: { ...tampered, parametersJson: JSON.stringify(unbound) } },
      { name: "approved for another host", code: "OTHER_HOST", params: nginx, approval: alice.approve({ ...restartNginx, host: "web9" }).approval },
      { name: "signed by a key not in /etc/hostward/approvers", code: "UNKNOWN_KEY", params: nginx, approval: mallory.approve(restartNginx).approval },
      { name: "a LOW key for a MEDIUM action", code: "IMPACT_TOO_HIGH", params: nginx, approval: lowkey.approve(restartNginx).approval },
      // The statement claims LOW, but the helper rebuilds it with its own catalog's impact (MEDIUM).
      { name: "a LOW key signing a statement that claims LOW", code: "BAD_SIGNATURE", params: nginx, approval: lowkey.approve({ ...restartNginx, impact: "LOW" }).approval },
      { name: "no approval at all", code: "NO_APPROVAL", params: nginx, approval: null },
    ];
    for (const k of cases) {
      const before = [await facts(NGINX), await facts(UNBOUND)];
      const r = await helperAsOperator(c, helperRequest(k.action ?? "restart_service", k.params, k.approval));
      expect.soft(r.refused?.code, k.name).toBe(k.code);
      expectRefused(r, k.code);
      expect([await facts(NGINX), await facts(UNBOUND)], k.name).toEqual(before);
    }
  });

  test("a unit not on the allowlist, and unit names with `--`, shell metacharacters or spaces, are refused before any process runs, even with a valid approval", async () => {
    const dbusBefore = await facts("dbus.service");
    const notListed = { ...restartNginx, params: { unit: "dbus.service" } };
    const r = await helperAsOperator(c, helperRequest("restart_service", notListed.params, alice.approve(notListed).approval));
    expectRefused(r, "NOT_ALLOWLISTED");
    expect(await facts("dbus.service")).toEqual(dbusBefore);
    for (const unit of ["--force", "-H", "nginx.service;reboot", "$(reboot)", "nginx service", "`id`", "nginx.service\nreboot.target"]) {
      const hostile = { ...restartNginx, params: { unit } };
      const bad = await helperAsOperator(c, helperRequest("restart_service", hostile.params, alice.approve(hostile).approval));
      expect.soft(bad.refused?.code, unit).toBe("BAD_REQUEST");
      expectRefused(bad, "BAD_REQUEST");
    }
    // Not JSON, and an unknown action, are bad requests too.
    expectRefused(await helperAsOperator(c, "reboot\n"), "BAD_REQUEST");
    expectRefused(await helperAsOperator(c, helperRequest("run_shell", { command: "id" }, null)), "BAD_REQUEST");
  });

  test("extra arguments: sudo itself refuses (the sudoers line allows none), the helper never starts", async () => {
    for (const extra of [["--help"], [NGINX], ["; reboot"], ["$(id)"], ["--", "x"], [""]]) {
      const r = await helperAsOperator(c, helperRequest("restart_service", { unit: NGINX }, null), { extraArgs: extra });
      expect(r.code, JSON.stringify(extra)).toBe(1);
      expect(r.raw.stderr, JSON.stringify(extra)).toMatch(/sudo: a password is required|not allowed/);
      expect(r.raw.stdout).toBe("");
      expect(r.audits).toEqual([]);
    }
  });

  test("environment: sudo refuses VAR=value for LD_PRELOAD, NODE_OPTIONS and PATH; set before sudo they are stripped (direct mode and a planted approver directory are ignored)", async () => {
    for (const assignment of ["LD_PRELOAD=/tmp/hw-evil.so", "NODE_OPTIONS=--require=/tmp/hw-evil.js", "PATH=/tmp/hw-bin:/usr/bin:/bin", "HOSTWARD_HELPER_MODE=direct"]) {
      const r = await helperAsOperator(c, helperRequest("restart_service", { unit: NGINX }, null), { sudoArgs: [assignment] });
      expect(r.code, assignment).toBe(1);
      expect(r.raw.stderr, assignment).toMatch(/not allowed to set the following environment variables|a password is required/);
      expect(r.audits, assignment).toEqual([]);
    }
    // The operator's user plants a script, a fake systemctl and its own approver directory with
    // mallory's key, then points every variable the helper or node could honour at them.
    await c.execOk(["runuser", "-u", "hostward-operator", "--", "mkdir", "-p", "/tmp/hw-bin", "/tmp/hw-approvers", "/tmp/hw-state"]);
    writeFileSync(c.path("/tmp/hw-evil.js"), 'require("fs").writeFileSync("/tmp/hw-pwned", "NODE_OPTIONS was honoured");\n');
    writeFileSync(c.path("/tmp/hw-approvers/mallory.pub"), `${mallory.approverLine}\n`);
    writeFileSync(c.path("/tmp/hw-actions.yaml"), `${JSON.stringify({ units: ["dbus.service"] })}\n`);
    const before = await facts(NGINX);
    const r = await helperAsOperator(c, helperRequest("restart_service", { unit: NGINX }, mallory.approve(restartNginx).approval), {
      callerEnv: {
        LD_PRELOAD: "/tmp/hw-evil.so",
        NODE_OPTIONS: "--require=/tmp/hw-evil.js",
        PATH: "/tmp/hw-bin:/usr/bin:/bin",
        HOSTWARD_HELPER_MODE: "direct",
        HOSTWARD_APPROVERS_DIR: "/tmp/hw-approvers",
        HOSTWARD_STATE_DIR: "/tmp/hw-state",
        HOSTWARD_ACTIONS_FILE: "/tmp/hw-actions.yaml",
        HOSTWARD_HOST_NAME: HOST,
      },
    });
    // sudo's env_reset dropped all of it: sudo mode, root's approvers, so mallory is unknown.
    expectRefused(r, "UNKNOWN_KEY");
    expect(r.audits[0]?.mode).toBe("sudo");
    expect(existsSync(c.path("/tmp/hw-pwned"))).toBe(false);
    expect(await facts(NGINX)).toEqual(before);
  });

  test("without sudo the helper refuses by itself: as hostward-operator (not root), and as root with NODE_OPTIONS / PATH set", async () => {
    const request = `${JSON.stringify(helperRequest("restart_service", { unit: NGINX }, alice.approve(restartNginx).approval))}\n`;
    // env -i: exactly the variables named here (sudo's env_reset would give the helper no more).
    const clean = ["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"];
    const asOperator = parseHelperRun(await c.exec(["runuser", "-u", "hostward-operator", "--", ...clean, HELPER], { input: request }));
    expectRefused(asOperator, "ENVIRONMENT");
    expect(asOperator.refused?.reason).toMatch(/must run as root through sudo/);
    const asRoot = parseHelperRun(await c.exec([...clean, "NODE_OPTIONS=--max-old-space-size=64", "PATH=/tmp/hw-bin:/usr/bin:/bin", HELPER], { input: request }));
    expectRefused(asRoot, "ENVIRONMENT");
    expect(asRoot.refused?.reason).toMatch(/NODE_OPTIONS/);
    const noSudoUser = parseHelperRun(await c.exec([...clean, HELPER], { input: request }));
    expectRefused(noSudoUser, "ENVIRONMENT");
    expect(noSudoUser.refused?.reason).toMatch(/only hostward-operator may run this helper/);
  });

  test("LOW actions with the LOW key: flush_dns_cache runs `unbound-control flush_zone .` on the real unbound; reload_service reloads nginx and keeps its main process", async () => {
    const flushApproval = await approveAsPreviewed(lowkey, { host: HOST, action: "flush_dns_cache", params: {} });
    const flush = await helperAsOperator(c, helperRequest("flush_dns_cache", {}, flushApproval.approval));
    expect(flush.code, `${flush.raw.stdout}\n${flush.raw.stderr}`).toBe(0);
    expect(flush.result).toMatchObject({ verdict: "SUCCEEDED", before: { resolver: UNBOUND }, after: { resolver: UNBOUND, flushed: true, active: true } });
    expect(flush.outputs).toContain(planLine("flush_dns_cache", {}, flushApproval.preview, "unbound"));
    expect(flush.outputs).toContain("$ /usr/sbin/unbound-control flush_zone .");
    expectRanAsApproved(flush.outputs, "flush_dns_cache", {}, flushApproval.preview);
    expect(flush.outputs.some((l) => /^ok removed \d+ rrsets/.test(l))).toBe(true);

    // (unbound's own ExecReload fails inside this container, so the reload is shown on nginx;
    // unbound-checkconf as a pre-check is proven by the restart through the agent below.)
    const before = await facts(NGINX);
    const reloadApproval = await approveAsPreviewed(lowkey, { host: HOST, action: "reload_service", params: { unit: NGINX } });
    const reload = await helperAsOperator(c, helperRequest("reload_service", { unit: NGINX }, reloadApproval.approval));
    expect(reload.code, `${reload.raw.stdout}\n${reload.raw.stderr}`).toBe(0);
    expect(reload.result?.verdict).toBe("SUCCEEDED");
    expect(reload.outputs).toContain(planLine("reload_service", { unit: NGINX }, reloadApproval.preview, "reload"));
    expectRanAsApproved(reload.outputs, "reload_service", { unit: NGINX }, reloadApproval.preview);
    // A reload keeps the main process.
    expect((await facts(NGINX)).mainPid).toBe(before.mainPid);
  });

  test("reload_service caddy with the LOW key: `caddy validate` passes first, then systemd runs caddy's own reload; the main process is kept", async () => {
    const before = await facts(CADDY);
    const reloadsBefore = await reloadsDone(CADDY);
    const params = { unit: CADDY };
    const t0 = performance.now();
    const approved = await approveAsPreviewed(lowkey, { host: HOST, action: "reload_service", params });
    const r = await helperAsOperator(c, helperRequest("reload_service", params, approved.approval));
    record("reload caddy via the helper by hand (caddy validate + systemctl reload), ms", Math.round(performance.now() - t0));
    const detail = `${r.raw.stdout}\n${r.raw.stderr}`;
    expect(r.code, detail).toBe(HELPER_EXIT.succeeded);
    expect(r.result?.verdict, detail).toBe("SUCCEEDED");
    const validateAt = r.outputs.indexOf(planLine("reload_service", params, approved.preview, "caddy-validate"));
    const reloadAt = r.outputs.indexOf(planLine("reload_service", params, approved.preview, "reload"));
    expectRanAsApproved(r.outputs, "reload_service", params, approved.preview);
    expect(validateAt, detail).toBeGreaterThanOrEqual(0);
    expect(reloadAt, detail).toBeGreaterThan(validateAt);
    // caddy's own verdict on its configuration, streamed between the pre-check and the reload.
    expect(r.outputs.slice(validateAt, reloadAt).some((l) => l.includes("Valid configuration")), detail).toBe(true);
    expect(r.result?.after).toMatchObject({ unit: CADDY, ActiveState: "active", MainPID: before.mainPid });
    // The reload happened (systemd journals its end) and kept the main process: same PID, same start.
    await waitFor("caddy.service's reload in its journal", async () => ((await reloadsDone(CADDY)) === reloadsBefore + 1 ? true : undefined), 5_000);
    expect(await facts(CADDY)).toEqual(before);
  });

  test("rotate_logs runs the system's logrotate.service; reboot_system needs the allowlist and a HIGH key, and is only scheduled (then cancelled here)", async () => {
    const rotate = await helperAsOperator(c, helperRequest("rotate_logs", {}, (await approveAsPreviewed(lowkey, { host: HOST, action: "rotate_logs", params: {} })).approval));
    expect(rotate.code, `${rotate.raw.stdout}\n${rotate.raw.stderr}`).toBe(0);
    expect(rotate.result).toMatchObject({ verdict: "SUCCEEDED", after: { Result: "success" } });

    const reboot = { host: HOST, action: "reboot_system", params: { delaySeconds: 3600 } };
    expectRefused(await helperAsOperator(c, helperRequest("reboot_system", reboot.params, rootKey.approve(reboot).approval)), "NOT_ALLOWLISTED");
    installAllowlist(c, { units: ALLOWED_UNITS, reboot: true });
    try {
      expectRefused(await helperAsOperator(c, helperRequest("reboot_system", reboot.params, alice.approve(reboot).approval)), "IMPACT_TOO_HIGH");
      // HIGH: two distinct approver keys by default (actions.yaml approvals.required.HIGH).
      expectRefused(await helperAsOperator(c, helperRequest("reboot_system", reboot.params, (await approveAsPreviewed(rootKey, reboot)).approval)), "TOO_FEW_APPROVALS");
      const r = await helperAsOperator(c, helperRequest("reboot_system", reboot.params, (await approveAsPreviewed(rootKey, reboot, [opsKey])).approval));
      expect(r.code, `${r.raw.stdout}\n${r.raw.stderr}`).toBe(0);
      expect(r.result).toMatchObject({ verdict: "SUCCEEDED", after: { rebootScheduled: true, inMinutes: 60 } });
      expect(existsSync(c.path("/run/systemd/shutdown/scheduled"))).toBe(true);
    } finally {
      await c.exec(["shutdown", "-c"]);
      installAllowlist(c, { units: ALLOWED_UNITS });
    }
    expect(existsSync(c.path("/run/systemd/shutdown/scheduled"))).toBe(false);
  });

  test("where the records land: sudo journals every run and every refused environment variable, but not a refused argument list (-n); the helper's audit line is on its caller's stderr", async () => {
    const j = await c.execOk(["journalctl", "--no-pager", "-o", "cat", "SYSLOG_IDENTIFIER=sudo"]);
    expect(j.stdout).toMatch(/hostward-operator : PWD=\S+ ; USER=root ; COMMAND=\/usr\/libexec\/hostward\/hostward-action$/m);
    expect(j.stdout).toMatch(/hostward-operator : sorry, you are not allowed to set the following environment variables: LD_PRELOAD ; .*COMMAND=\/usr\/libexec\/hostward\/hostward-action$/m);
    // Measured fact, not a wish: sudo -n refusing a command outside the sudoers line ("a password is
    // required") writes nothing to the journal; only the caller's stderr says so (tested above).
    expect(j.stdout).not.toContain("hostward-action --help");
    // Run by hand (not by the agent), the helper's audit line went to our stderr, not the unit's journal.
    const unitJournal = await c.execOk(["journalctl", "--no-pager", "-o", "cat", "-u", OPERATOR]);
    expect(unitJournal.stdout).not.toContain('"audit":"hostward-action"');
  });
});

describe("through the operator agent over mTLS, from the client namespace", () => {
  let client: ActionClient;
  let tls: { ca: string; cert: string; key: string };
  let readerTls: { ca: string; cert: string; key: string };
  const job = (method: ActionClientJob["method"], request: Record<string, unknown>, creds = tls): ActionClientJob => ({
    address: net.hosts[HOST]?.address ?? "",
    port: 7444,
    certName: HOST,
    ...creds,
    method,
    request,
  });
  const wire = (a: ReturnType<Approver["approve"]>["approval"]) => ({ ...a, signature: Buffer.from(a.signature).toString("base64") });

  beforeAll(async () => {
    client = await createActionClient(scope.dir);
    const dir = join(scope.dir, "clients");
    await pki.issueClient("operator", dir);
    await pki.issueClient("reader", dir);
    tls = { ca: join(dir, "ca.crt"), cert: join(dir, "operator.crt"), key: join(dir, "operator.key") };
    readerTls = { ca: join(dir, "ca.crt"), cert: join(dir, "reader.crt"), key: join(dir, "reader.key") };
  });

  let approved: Awaited<ReturnType<typeof approveAsPreviewed>>;

  test("restart_service nginx with a valid approval streams the output before the result and ends SUCCEEDED with a new MainPID", async () => {
    const before = await facts(NGINX);
    approved = await approveAsPreviewed(alice, restartNginx);
    const events = await client.call(net.clientNs, job("restartService", { unit: NGINX, approval: wire(approved.approval) }));
    const after = await facts(NGINX);
    const detail = JSON.stringify(events, null, 1);
    const resultAt = events.findIndex((e) => e.result);
    expect(resultAt, detail).toBeGreaterThan(0);
    const outputs = events.filter((e) => e.output !== undefined);
    expect(outputs.length, detail).toBeGreaterThanOrEqual(3);
    // Every output event arrived before the result event, and the stream ended right after it.
    expect(events.slice(0, resultAt).every((e) => e.output !== undefined), detail).toBe(true);
    expect(events.slice(resultAt + 1), detail).toEqual([expect.objectContaining({ end: true })]);
    const result = events[resultAt]?.result;
    expect(result?.verdict, detail).toBe("SUCCEEDED");
    expect(after.mainPid).not.toBe(before.mainPid);
    expect(result?.before).toMatchObject({ MainPID: before.mainPid });
    expect(result?.after).toMatchObject({ MainPID: after.mainPid, ActiveState: "active" });
    expect(outputs.map((e) => e.output)).toContain(planLine("restart_service", restartNginx.params, approved.preview, "restart"));
    expectRanAsApproved(outputs.map((e) => e.output ?? ""), "restart_service", restartNginx.params, approved.preview);
    const first = outputs[0] as ActionClientEvent;
    const resultEvent = events[resultAt] as ActionClientEvent;
    record("restart nginx via the operator agent: call → result, ms", resultEvent.t);
    record("restart nginx via the operator agent: first output → result, ms", Math.round(resultEvent.t - first.t));

    // Run by the agent, the helper's audit line is in the operator unit's journal.
    const journal = await c.execOk(["journalctl", "--no-pager", "-o", "cat", "-u", OPERATOR]);
    // (its "started" and "ended" lines, sent to the journal directly, are there too)
    const line = journal.stdout.split("\n").find((l) => l.includes('"audit":"hostward-action"') && l.includes('"event":"executed"') && l.includes(approved.statement.id));
    expect(line, journal.stdout.slice(-3000)).toBeDefined();
    expect(JSON.parse(line ?? "{}")).toMatchObject({ event: "executed", verdict: "SUCCEEDED", sudoUser: "hostward-operator", keyId: alice.keyId });
  });

  test("the same approval again: PERMISSION_DENIED naming the replay, nginx untouched", async () => {
    const before = await facts(NGINX);
    const events = await client.call(net.clientNs, job("restartService", { unit: NGINX, approval: wire(approved.approval) }));
    expect(events, JSON.stringify(events)).toEqual([expect.objectContaining({ error: expect.objectContaining({ code: "PERMISSION_DENIED", details: expect.stringMatching(/REPLAYED, exit 89/) }) })]);
    expect(await facts(NGINX)).toEqual(before);
  });

  test("a reader certificate is refused (PERMISSION_DENIED) before the helper runs, nginx untouched", async () => {
    const before = await facts(NGINX);
    const fresh = alice.approve(restartNginx);
    const events = await client.call(net.clientNs, job("restartService", { unit: NGINX, approval: wire(fresh.approval) }, readerTls));
    expect(events, JSON.stringify(events)).toEqual([expect.objectContaining({ error: expect.objectContaining({ code: "PERMISSION_DENIED" }) })]);
    expect(await facts(NGINX)).toEqual(before);
    const journal = await c.execOk(["journalctl", "--no-pager", "-o", "cat", "-u", OPERATOR]);
    expect(journal.stdout).not.toContain(fresh.statement.id);
  });

  test("restart_service unbound: unbound-checkconf runs as the pre-check, then a new MainPID", async () => {
    const before = await facts(UNBOUND);
    const params = { unit: UNBOUND };
    const ok = await approveAsPreviewed(alice, { host: HOST, action: "restart_service", params });
    const events = await client.call(net.clientNs, job("restartService", { ...params, approval: wire(ok.approval) }));
    const detail = JSON.stringify(events, null, 1);
    const outputs = events.filter((e) => e.output !== undefined).map((e) => e.output ?? "");
    expect(outputs, detail).toContain(planLine("restart_service", params, ok.preview, "unbound-checkconf"));
    expect(outputs.indexOf(planLine("restart_service", params, ok.preview, "unbound-checkconf"))).toBeLessThan(outputs.indexOf(planLine("restart_service", params, ok.preview, "restart")));
    expectRanAsApproved(outputs, "restart_service", params, ok.preview);
    const result = events.find((e) => e.result);
    expect(result?.result?.verdict, detail).toBe("SUCCEEDED");
    expect((await facts(UNBOUND)).mainPid).not.toBe(before.mainPid);
    record("restart unbound via the operator agent: call → result, ms", result?.t ?? -1);
  });

  test("restart_service caddy: `caddy validate` passes inside the operator unit's sandbox, then a new MainPID", async () => {
    const before = await facts(CADDY);
    const params = { unit: CADDY };
    const ok = await approveAsPreviewed(alice, { host: HOST, action: "restart_service", params });
    const events = await client.call(net.clientNs, job("restartService", { ...params, approval: wire(ok.approval) }));
    const detail = JSON.stringify(events, null, 1);
    const outputs = events.filter((e) => e.output !== undefined);
    const lines = outputs.map((e) => e.output ?? "");
    const validateAt = lines.indexOf(planLine("restart_service", params, ok.preview, "caddy-validate"));
    const restartAt = lines.indexOf(planLine("restart_service", params, ok.preview, "restart"));
    expectRanAsApproved(lines, "restart_service", params, ok.preview);
    expect(validateAt, detail).toBeGreaterThanOrEqual(0);
    expect(restartAt, detail).toBeGreaterThan(validateAt);
    expect(lines.slice(validateAt, restartAt).some((l) => l.includes("Valid configuration")), detail).toBe(true);
    const result = events.find((e) => e.result);
    expect(result?.result?.verdict, detail).toBe("SUCCEEDED");
    const after = await facts(CADDY);
    expect(after.mainPid).not.toBe(before.mainPid);
    expect(after.started).not.toBe(before.started);
    expect(after.nRestarts).toBe(before.nRestarts);
    expect(result?.result?.before).toMatchObject({ MainPID: before.mainPid });
    expect(result?.result?.after).toMatchObject({ MainPID: after.mainPid, ActiveState: "active" });
    record("restart caddy via the operator agent: call → result, ms", result?.t ?? -1);
    record("restart caddy via the operator agent: `caddy validate` line → restart line, ms", Math.round((outputs[restartAt]?.t ?? 0) - (outputs[validateAt]?.t ?? 0)));
  });

  test("a broken Caddyfile: restart_service caddy ends FAILED at the `caddy validate` pre-check, caddy is not restarted; the file is restored", async () => {
    const original = readFileSync(c.path(CADDYFILE), "utf8");
    const before = await facts(CADDY);
    const params = { unit: CADDY };
    // Approved as previewed with the good file: the Caddyfile is no fact of the preview, so the
    // helper runs the plan and its `caddy validate` pre-check is what stops it.
    const approved = await approveAsPreviewed(alice, { host: HOST, action: "restart_service", params });
    writeFileSync(c.path(CADDYFILE), ":8080 {\n\tnot_a_directive on\n}\n");
    try {
      const events = await client.call(net.clientNs, job("restartService", { ...params, approval: wire(approved.approval) }));
      const detail = JSON.stringify(events, null, 1);
      const lines = events.filter((e) => e.output !== undefined).map((e) => e.output ?? "");
      expect(lines, detail).toContain(planLine("restart_service", params, approved.preview, "caddy-validate"));
      expect(lines, detail).not.toContain(planLine("restart_service", params, approved.preview, "restart"));
      const result = events.find((e) => e.result)?.result;
      expect(result?.verdict, detail).toBe("FAILED");
      // The reason is caddy's own complaint about the line that is wrong, not a sandbox error.
      expect(result?.reason, detail).toMatch(/^pre-check failed: caddy-validate exited with 1: .*unrecognized directive: not_a_directive/);
      expect(result?.after ?? null).toBeNull();
      expect(await facts(CADDY)).toEqual(before);
      expect(await activeState(c, CADDY)).toBe("active");
      // The helper journals its run as executed with verdict FAILED (the approval was used).
      const journal = await c.execOk(["journalctl", "--no-pager", "-o", "cat", "-u", OPERATOR]);
      // (its "started" and "ended" lines, sent to the journal directly, are there too)
      const line = journal.stdout.split("\n").find((l) => l.includes('"audit":"hostward-action"') && l.includes('"event":"executed"') && l.includes(approved.statement.id));
      expect(JSON.parse(line ?? "{}")).toMatchObject({ event: "executed", verdict: "FAILED", action: "restart_service" });
    } finally {
      writeFileSync(c.path(CADDYFILE), original);
    }
  });
});

describe("through the broker: propose_action → `hostward approve` → execute_action", () => {
  let broker: BrokerSession;
  let config: BrokerConfigDir;
  const cli = (...args: string[]) =>
    run(process.execPath, [BROKER_BUNDLE, ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: config.home }, timeoutMs: 60_000 });

  beforeAll(async () => {
    config = await writeBrokerConfig(join(scope.dir, "broker"), pki, [{ name: HOST, address: net.hosts[HOST]?.address ?? "", tags: ["act"] }], {
      operator: true,
      extraRules: [{ target: HOST, allow: ["restart_service"] }],
    });
    broker = await connectBrokerInNetns(net.clientNs, config);
    scope.defer("broker (actions)", () => broker.close());
  });

  test("restart unbound: PENDING, approved in the terminal with alice's key, executed once with progress before the result; the broker's audit chain verifies", async () => {
    const before = await facts(UNBOUND);
    const proposed = await broker.call("propose_action", { target: HOST, request: { action: "restart_service", unit: "unbound" }, reason: "e2e: unbound answers SERVFAIL" });
    const view = proposed.structuredContent as { id: string; state: string; params: Record<string, unknown>; elicitation: string; runs: string[] } | undefined;
    expect(proposed.isError, JSON.stringify(proposed.content)).toBeFalsy();
    // Canonicalised before it is shown or signed: what the human approves is what the host runs.
    expect(view).toMatchObject({ state: "PENDING", params: { unit: "unbound.service" }, elicitation: "not-offered" });
    const id = view?.id ?? "";

    // Before approval, execute_action refuses and nothing runs.
    const early = await broker.call("execute_action", { id });
    expect(early.isError).toBe(true);
    expect(early.content.map((x) => x.text).join("")).toMatch(/PENDING, not APPROVED/);

    const keyFile = join(scope.dir, "alice.key");
    writeFileSync(keyFile, alice.privateKeyText, { mode: 0o600 });
    const approve = await cli("approve", id, "--key", keyFile, "--yes", "--config", config.dir);
    expect(approve.code, `${approve.stdout}\n${approve.stderr}`).toBe(0);
    // The plan the broker rendered from the host's preview is what the human read…
    const runs = view?.runs ?? [];
    expect(runs).toContain("/usr/bin/systemctl restart --no-pager --no-ask-password -- unbound.service");
    for (const line of runs) expect(approve.stdout).toContain(line);

    const progress: Array<{ t: number; message?: string }> = [];
    const t0 = performance.now();
    const executed = await broker.callWithProgress("execute_action", { id }, (p) => progress.push({ t: performance.now() - t0, message: p.message }));
    const resultAt = performance.now() - t0;
    const out = executed.structuredContent as { verdict: string; result?: { before: { MainPID: number }; after: { MainPID: number } }; request: { state: string } } | undefined;
    expect(executed.isError, JSON.stringify(executed.content)).toBeFalsy();
    expect(out?.verdict, JSON.stringify(out)).toBe("SUCCEEDED");
    expect(out?.request.state).toBe("SUCCEEDED");
    const after = await facts(UNBOUND);
    expect(after.mainPid).not.toBe(before.mainPid);
    expect(out?.result?.after.MainPID).toBe(after.mainPid);
    // The helper's lines arrived as progress notifications while the call was still open.
    expect(progress.length).toBeGreaterThanOrEqual(3);
    // …and every command the helper started is one of those lines.
    const started = progress.map((p) => p.message ?? "").filter((m) => m.startsWith("$ "));
    expect(started).toContain("$ /usr/bin/systemctl restart --no-pager --no-ask-password -- unbound.service");
    for (const line of started) expect(runsAsPrinted(runs), "what is approved is what runs").toContain(line);
    expect(progress.every((p) => p.t <= resultAt)).toBe(true);
    record("restart unbound via the broker: execute_action → result, ms", Math.round(resultAt));

    // Once only.
    const again = await broker.call("execute_action", { id });
    expect(again.isError).toBe(true);
    expect((await facts(UNBOUND)).mainPid).toBe(after.mainPid);

    const verify = await cli("audit", "verify", "--config", config.dir);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    const tail = await cli("audit", "tail", "-n", "1000", "--config", config.dir);
    const events = tail.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { event: string; actionId?: string; id?: string });
    const names = events.map((e) => e.event);
    for (const e of ["action.proposed", "action.approved", "action.execute", "action.result"]) expect(names, e).toContain(e);
    expect(names.indexOf("action.proposed")).toBeLessThan(names.indexOf("action.approved"));
    expect(names.indexOf("action.approved")).toBeLessThan(names.indexOf("action.execute"));
    expect(names.indexOf("action.execute")).toBeLessThan(names.indexOf("action.result"));
  });
});
