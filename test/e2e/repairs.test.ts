// The repairs of issue 13 on a real systemd: every new action, in one container with the real
// .deb, through the real path at least once — the broker's propose_action (which asks the host
// for its impact preview) → `hostward approve --key --yes` (the human reads the plan rendered from
// that preview) → execute_action (the operator agent, sudo, the root helper inside the operator
// unit's sandbox) — and for the other cases the root helper run by hand as hostward-operator
// through sudo, with an approval that carries the host's real preview (support/helper.ts
// previewIn). For each: the pre-check, before/after and the verdict, and that every "$ " line the
// helper printed is one of the lines renderPlan gave for the approved preview ("what is approved is
// what runs"). HOST_CHANGED: a material fact changed between the preview and the execution
// (a unit that now requires nginx, a log file replaced by another inode, a package's candidate
// moved on) refuses the action, naming the fact, and nothing runs.
//
// stop_container / start_container are not run here: podman cannot start a container on this kind
// of machine (the exact errors are in the note at the end of this file), and a test that fakes
// podman would prove nothing about them.
import { execFileSync } from "node:child_process";
import { copyFileSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { findAction } from "../../proto/catalog/actions/index";
import type { ActionPreview } from "../../proto/catalog/define-action";
import { HELPER_EXIT } from "../../agent/src/helper/exit-codes";
import { createApprover, helperRequest, installAllowlist, installApprovers, type Approver } from "./support/approvals";
import { connectBrokerInNetns, writeBrokerConfig, type BrokerConfigDir, type BrokerSession } from "./support/broker";
import type { Container } from "./support/container";
import { helperAsOperator, planLine, planLines, previewIn, previewRefusal, ranLines, runsAsPrinted, type HelperRun } from "./support/helper";
import { record } from "./support/measurements";
import type { Network } from "./support/netns";
import { debPath } from "./support/packages";
import { BROKER_BUNDLE } from "./support/paths";
import { createCliPki, installAgentCerts, type CliPki } from "./support/pki";
import { run, waitFor } from "./support/run";
import { createScope, requirePackages } from "./support/scope";
import { APT_ENV, activeState, aptInstall, unitProperty, unitReport, UNITS, waitActive } from "./support/units";

const HOST = "fix1";
const NGINX = "nginx.service";
/** A unit with an [Install] section, disabled at first (enable_service / disable_service). */
const BOOT = "hwtest-boot.service";
/** A unit that fails when started (reset_failed_unit). */
const FAILS = "hwtest-fail.service";
/** A long-running unit with Restart=no (signal_service KILL). */
const VICTIM = "hwtest-victim.service";
/** Not allowlisted: started only to make nginx's RequiredBy change under an approval. */
const NEEDS_NGINX = "hwtest-needs-nginx.service";
const LOG_ROOT = "/var/log/hwtest";
const PKG = "hwdummy";
/** Upgraded with a dependency (hwlib), and later with one that conflicts with an installed package (hwold). */
const APP = "hwapp";
const REPO = "/srv/repo";
const OPERATOR = "hostward-operator.service";
const NEW_ACTIONS = [
  "stop_service",
  "start_service",
  "enable_service",
  "disable_service",
  "reset_failed_unit",
  "signal_service",
  "vacuum_journal",
  "truncate_log",
  "clean_package_cache",
  "upgrade_packages",
];

const scope = createScope("repairs");
let net: Network;
let c: Container;
let pki: CliPki;
let alice: Approver;
let lowkey: Approver;
let rootKey: Approver;
/** A second HIGH approver: hosts require two distinct keys for HIGH actions by default. */
let opsKey: Approver;
let config: BrokerConfigDir;
let broker: BrokerSession;

type Params = Record<string, unknown>;
interface Outcome {
  verdict: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  reason?: string;
}

/** The catalog's parameters for `action` with its defaults filled in (what is signed and compared). */
const parsed = (action: string, params: Params): Params => findAction(action)?.params.parse(params) as Params;

/** Every "$ " line the helper printed is a line of the plan rendered for the approved preview (and request id). */
function expectRanAsApproved(outputs: readonly string[], action: string, params: Params, preview: ActionPreview, requestId: string): void {
  const plan = planLines(action, params, preview, { requestId });
  const ran = ranLines(outputs);
  for (const line of ran) expect(plan, `${action}: what is approved is what runs`).toContain(line);
}

/** The helper by hand (as the operator agent runs it), approved for the preview the host gives now. */
async function byHelper(key: Approver, action: string, params: Params): Promise<{ preview: ActionPreview; run: HelperRun; out: Outcome; requestId: string }> {
  const p = parsed(action, params);
  const preview = await previewIn(c, action, p);
  // HIGH needs two distinct approver keys on this host (the default): ops signs too.
  const { approval, statement } = key.approve({ host: HOST, action, params: p, preview, ...(findAction(action)?.impact === "HIGH" && { cosigners: [opsKey] }) });
  const r = await helperAsOperator(c, helperRequest(action, p, approval));
  const detail = `${r.raw.stdout}\n${r.raw.stderr}`;
  expect(r.result, detail).toBeDefined();
  expect(r.ordered, detail).toBe(true);
  expect(r.audits, detail).toEqual([expect.objectContaining({ event: "executed", action, verdict: r.result?.verdict })]);
  expectRanAsApproved(r.outputs, action, p, preview, statement.id);
  if (r.result?.verdict === "SUCCEEDED") expect(ranLines(r.outputs).length, `${action}: the helper showed the commands it started`).toBeGreaterThan(0);
  return { preview, run: r, out: r.result as unknown as Outcome, requestId: statement.id };
}

/** A refusal after the approval was checked: nothing of the plan ran (no output, no result). */
function expectRefusedBeforeRunning(r: HelperRun, code: string, exit: number): void {
  const detail = `${r.raw.stdout}\n${r.raw.stderr}`;
  expect(r.code, detail).toBe(exit);
  expect(r.refused?.code, detail).toBe(code);
  expect(r.result, detail).toBeUndefined();
  expect(r.outputs, detail).toEqual([]);
  expect(r.audits).toEqual([expect.objectContaining({ event: "refused", code, exitCode: exit })]);
}

const cli = (...args: string[]) => run(process.execPath, [BROKER_BUNDLE, ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: config.home }, timeoutMs: 60_000 });

/**
 * The real path: propose_action (the broker fetches the host's preview) → `hostward approve --key
 * KEY --yes` (prints the plan it signs) → execute_action (progress = the helper's lines). Checks
 * that every line the broker rendered is in what the human was shown, and every command the helper
 * started is one of them.
 */
async function viaBroker(key: Approver, action: string, params: Params): Promise<{ out: Outcome; runs: string[]; lines: string[]; id: string; approvalText: string }> {
  const proposed = await broker.call("propose_action", { target: HOST, request: { action, ...params }, reason: `e2e: ${action}` });
  expect(proposed.isError, JSON.stringify(proposed.content)).toBeFalsy();
  const view = proposed.structuredContent as { id: string; state: string; params: Params; runs: string[] };
  expect(view.state).toBe("PENDING");
  expect(view.params).toEqual(parsed(action, params));
  expect(view.runs.length, JSON.stringify(view)).toBeGreaterThan(0);
  const keyFile = join(scope.dir, `${key.name}.key`);
  writeFileSync(keyFile, key.privateKeyText, { mode: 0o600 });
  const approved = await cli("approve", view.id, "--key", keyFile, "--yes", "--config", config.dir);
  expect(approved.code, `${approved.stdout}\n${approved.stderr}`).toBe(0);
  for (const line of view.runs) expect(approved.stdout, "the approver is shown every command").toContain(line);
  if (findAction(action)?.impact === "HIGH") {
    // The host said it needs two keys for HIGH (its preview's answer): one is not enough, nothing is sent.
    expect((proposed.structuredContent as { approvalsRequired?: number }).approvalsRequired).toBe(2);
    const early = await broker.call("execute_action", { id: view.id });
    expect(early.isError).toBe(true);
    expect(early.content.map((x) => x.text ?? "").join("")).toContain("requires 2 distinct approver keys for HIGH actions");
    const opsFile = join(scope.dir, `${opsKey.name}.key`);
    writeFileSync(opsFile, opsKey.privateKeyText, { mode: 0o600 });
    const second = await cli("approve", view.id, "--key", opsFile, "--yes", "--config", config.dir);
    expect(second.code, `${second.stdout}\n${second.stderr}`).toBe(0);
    expect(second.stdout).toContain("2 signatures");
  }
  const lines: string[] = [];
  const executed = await broker.callWithProgress("execute_action", { id: view.id }, (p) => lines.push(p.message ?? ""));
  expect(executed.isError, JSON.stringify(executed.content)).toBeFalsy();
  const x = executed.structuredContent as { verdict: string; result?: Outcome; request: { state: string } };
  const started = lines.filter((l) => l.startsWith("$ "));
  expect(started.length, `${action}: ${lines.join("\n")}`).toBeGreaterThan(0);
  for (const line of started) expect(runsAsPrinted(view.runs), `${action}: what is approved is what runs`).toContain(line);
  expect(x.result, JSON.stringify(x)).toBeDefined();
  return { out: { ...(x.result as Outcome), verdict: x.verdict }, runs: view.runs, lines, id: view.id, approvalText: approved.stdout };
}

const unit = (name: string, body: string) => writeFileSync(c.path(`/etc/systemd/system/${name}`), body);

beforeAll(async () => {
  requirePackages();
  net = await scope.network(8, [HOST]);
  c = await scope.container(HOST, net.hosts[HOST]?.nsPath);
  pki = await createCliPki(join(scope.dir, "pki"));
  await aptInstall(c, debPath());
  await installAgentCerts(c, await pki.issueAgent(HOST, net.hosts[HOST]?.address ?? ""));
  alice = createApprover("alice", "MEDIUM");
  lowkey = createApprover("lowkey", "LOW");
  rootKey = createApprover("root", "HIGH");
  opsKey = createApprover("ops", "HIGH");
  installApprovers(c, [alice, lowkey, rootKey, opsKey]);
  installAllowlist(c, {
    units: [NGINX, BOOT, FAILS, VICTIM],
    logFiles: [LOG_ROOT, "/var/log/nginx"],
    packages: [PKG, APP],
    journal: true,
    packageCache: true,
  });
  unit(BOOT, "[Unit]\nDescription=hostward e2e: enabled and disabled at boot\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n");
  unit(FAILS, "[Unit]\nDescription=hostward e2e: fails when started\n[Service]\nType=oneshot\nExecStart=/bin/false\n");
  unit(VICTIM, "[Unit]\nDescription=hostward e2e: killed\n[Service]\nExecStart=/bin/sleep infinity\nRestart=no\n");
  unit(NEEDS_NGINX, `[Unit]\nDescription=hostward e2e: requires nginx\nRequires=${NGINX}\nAfter=${NGINX}\n[Service]\nExecStart=/bin/sleep infinity\n`);
  await c.execOk(["systemctl", "daemon-reload"]);
  for (const v of ["1.0", "1.1", "1.2", "1.3"]) buildDeb(v);
  await c.execOk(["systemctl", "enable", "--now", ...UNITS]);
  await waitActive(c, [...UNITS, NGINX]).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${await unitReport(c, OPERATOR)}`);
  });
  config = await writeBrokerConfig(join(scope.dir, "broker"), pki, [{ name: HOST, address: net.hosts[HOST]?.address ?? "", tags: [] }], {
    operator: true,
    extraRules: [{ target: HOST, allow: NEW_ACTIONS }],
  });
  broker = await connectBrokerInNetns(net.clientNs, config);
  scope.defer("broker (repairs)", () => broker.close());
});
afterAll(() => scope.close());

describe("services: stop/start, enable/disable, reset-failed, signal", () => {
  test("stop_service nginx through the broker: inactive, the plan as approved; start_service brings it back active", async () => {
    const pid = Number(await unitProperty(c, NGINX, "MainPID"));
    const t0 = performance.now();
    const stop = await viaBroker(alice, "stop_service", { unit: "nginx" });
    record("stop_service nginx via the broker: propose → approve → result, ms", Math.round(performance.now() - t0));
    expect(stop.out, JSON.stringify(stop)).toMatchObject({ verdict: "SUCCEEDED", before: { unit: NGINX, ActiveState: "active", MainPID: pid }, after: { unit: NGINX, ActiveState: "inactive" } });
    expect(stop.runs).toContain(`/usr/bin/systemctl stop --no-pager --no-ask-password -- ${NGINX}`);
    expect(stop.lines.some((l) => l.startsWith(`pre-check: ${NGINX} is loaded and allowlisted`))).toBe(true);
    expect(await activeState(c, NGINX)).toBe("inactive");

    const start = await byHelper(alice, "start_service", { unit: NGINX });
    expect(start.run.code).toBe(HELPER_EXIT.succeeded);
    expect(start.out).toMatchObject({ verdict: "SUCCEEDED", before: { ActiveState: "inactive" }, after: { ActiveState: "active" } });
    expect(start.run.outputs).toContain(planLine("start_service", { unit: NGINX }, start.preview, "start"));
    expect(await activeState(c, NGINX)).toBe("active");
  });

  test("HOST_CHANGED: stop_service approved while no unit required nginx, then one does: refused naming requiredBy, nothing stopped", async () => {
    const params = { unit: NGINX };
    const preview = await previewIn(c, "stop_service", params);
    expect(preview.facts.requiredBy).toEqual([]);
    const { approval } = alice.approve({ host: HOST, action: "stop_service", params, preview });
    await c.execOk(["systemctl", "start", NEEDS_NGINX]);
    try {
      const pid = await unitProperty(c, NGINX, "MainPID");
      const r = await helperAsOperator(c, helperRequest("stop_service", params, approval));
      expectRefusedBeforeRunning(r, "HOST_CHANGED", HELPER_EXIT.hostChanged);
      expect(r.refused?.reason).toMatch(new RegExp(`requiredBy was \\[\\], is now \\["${NEEDS_NGINX}"\\]; nothing ran`));
      expect(await activeState(c, NGINX)).toBe("active");
      expect(await unitProperty(c, NGINX, "MainPID")).toBe(pid);
      expect(await activeState(c, NEEDS_NGINX)).toBe("active");
      // The host's preview now names it, as the approver would read it on a new proposal.
      expect((await previewIn(c, "stop_service", params)).summary.join("\n")).toContain(`units that require it (a stop or restart reaches them too): "${NEEDS_NGINX}"`);
    } finally {
      await c.execOk(["systemctl", "stop", NEEDS_NGINX]);
    }
  });

  test("enable_service through the broker, disable_service by the helper, on a unit with [Install]; each pre-check refuses a unit already in that state", async () => {
    expect((await c.exec(["systemctl", "is-enabled", BOOT])).stdout.trim()).toBe("disabled");
    const enable = await viaBroker(lowkey, "enable_service", { unit: BOOT });
    expect(enable.out, JSON.stringify(enable)).toMatchObject({ verdict: "SUCCEEDED", before: { UnitFileState: "disabled" }, after: { UnitFileState: "enabled" } });
    expect(enable.runs).toContain(`SYSTEMCTL_SKIP_SYSV=1 /usr/bin/systemctl enable --no-pager --no-ask-password -- ${BOOT}`);
    expect((await c.exec(["systemctl", "is-enabled", BOOT])).stdout.trim()).toBe("enabled");
    expect(lstatSync(c.path(`/etc/systemd/system/multi-user.target.wants/${BOOT}`), { throwIfNoEntry: false })?.isSymbolicLink()).toBe(true);
    // Enabling does not start it.
    expect(await activeState(c, BOOT)).toBe("inactive");

    // Enabled already: the pre-check says so, nothing but the unit's state was read.
    const again = await byHelper(lowkey, "enable_service", { unit: BOOT });
    expect(again.out).toMatchObject({ verdict: "FAILED", before: { UnitFileState: "enabled" }, after: null });
    expect(again.out.reason).toMatch(/^pre-check: hwtest-boot\.service is enabled at boot, not disabled: nothing to enable/);
    expect(ranLines(again.run.outputs)).toEqual([]);

    const disable = await byHelper(lowkey, "disable_service", { unit: BOOT });
    expect(disable.run.code, `${disable.run.raw.stdout}\n${disable.run.raw.stderr}`).toBe(HELPER_EXIT.succeeded);
    expect(disable.out).toMatchObject({ verdict: "SUCCEEDED", before: { UnitFileState: "enabled" }, after: { UnitFileState: "disabled" } });
    expect(disable.run.outputs).toContain(planLine("disable_service", { unit: BOOT }, disable.preview, "disable"));
    expect((await c.exec(["systemctl", "is-enabled", BOOT])).stdout.trim()).toBe("disabled");
  });

  test("reset_failed_unit: refused by its pre-check on an active unit; on a unit whose start failed it clears the failed state (through the broker)", async () => {
    const notFailed = await byHelper(lowkey, "reset_failed_unit", { unit: NGINX });
    expect(notFailed.out).toMatchObject({ verdict: "FAILED", before: { ActiveState: "active" } });
    expect(notFailed.out.reason).toBe(`pre-check: ${NGINX} is active, not failed`);
    expect(ranLines(notFailed.run.outputs)).toEqual([]);

    expect((await c.exec(["systemctl", "start", FAILS])).code).not.toBe(0);
    expect(await activeState(c, FAILS)).toBe("failed");
    const reset = await viaBroker(lowkey, "reset_failed_unit", { unit: FAILS });
    expect(reset.out, JSON.stringify(reset)).toMatchObject({ verdict: "SUCCEEDED", before: { ActiveState: "failed" }, after: { ActiveState: "inactive" } });
    expect(await activeState(c, FAILS)).toBe("inactive");
    expect((await c.execOk(["systemctl", "list-units", "--failed", "--no-legend", "--plain"])).stdout).not.toContain(FAILS);
  });

  test("signal_service HUP to nginx through the broker: still active with the same MainPID, its workers replaced (the reload HUP means to nginx)", async () => {
    const pid = Number(await unitProperty(c, NGINX, "MainPID"));
    const procs = () => childrenOf(pid);
    const workers = procs();
    expect(workers.length).toBeGreaterThan(0);
    const hup = await viaBroker(alice, "signal_service", { unit: NGINX, signal: "HUP" });
    expect(hup.out, JSON.stringify(hup)).toMatchObject({ verdict: "SUCCEEDED", before: { ActiveState: "active", MainPID: pid }, after: { ActiveState: "active", MainPID: pid } });
    expect(hup.runs).toContain(`/usr/bin/systemctl kill --no-pager --no-ask-password --signal=HUP --kill-whom=main -- ${NGINX}`);
    const replaced = await waitFor("nginx's workers replaced after SIGHUP", async () => {
      const now = procs().filter((p) => p !== pid);
      return now.length > 0 && now.every((p) => !workers.includes(p)) ? now : undefined;
    }, 10_000, 100);
    expect(replaced.length).toBeGreaterThan(0);
    expect(Number(await unitProperty(c, NGINX, "MainPID"))).toBe(pid);
  });

  test("signal_service KILL to a unit with Restart=no: its main process is gone; a second signal is refused by the pre-check (no process to signal)", async () => {
    await c.execOk(["systemctl", "start", VICTIM]);
    const pid = Number(await unitProperty(c, VICTIM, "MainPID"));
    expect(pid).toBeGreaterThan(0);
    const kill = await byHelper(alice, "signal_service", { unit: VICTIM, signal: "KILL" });
    expect(kill.run.code, `${kill.run.raw.stdout}\n${kill.run.raw.stderr}`).toBe(HELPER_EXIT.succeeded);
    expect(kill.out).toMatchObject({ verdict: "SUCCEEDED", before: { ActiveState: "active", MainPID: pid }, after: { MainPID: 0 } });
    expect(kill.run.outputs).toContain(planLine("signal_service", { unit: VICTIM, signal: "KILL" }, kill.preview, "kill"));
    expect(existsInContainer(`/proc/${pid}`)).toBe(false);
    expect(["failed", "inactive"]).toContain(await activeState(c, VICTIM));
    expect(await unitProperty(c, VICTIM, "Result")).toBe("signal");

    const none = await byHelper(alice, "signal_service", { unit: VICTIM, signal: "TERM" });
    expect(none.out.verdict).toBe("FAILED");
    expect(none.out.reason).toMatch(/^pre-check: hwtest-victim\.service is (failed|inactive) with MainPID 0: no process to signal/);
    expect(ranLines(none.run.outputs)).toEqual([]);
  });
});

/** The PIDs (in the container's namespace) whose parent is `pid`: nginx's workers under its master. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync(c.path("/proc"))) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(c.path(`/proc/${e}/stat`), "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) out.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return out.sort();
}

function existsInContainer(path: string): boolean {
  return statSync(c.path(path), { throwIfNoEntry: false }) !== undefined;
}

/** The journal's archived files (name@…journal) in the container's persistent journal. */
function archivedJournals(): string[] {
  const root = c.path("/var/log/journal");
  return readdirSync(root).flatMap((d) => {
    try {
      return readdirSync(join(root, d)).filter((f) => f.includes("@") && f.endsWith(".journal")).map((f) => join(d, f));
    } catch {
      return [];
    }
  });
}

/** `journalctl --disk-usage` in bytes (it prints one decimal: ±0.05 of its unit). */
async function journalUsage(): Promise<number> {
  const out = (await c.execOk(["journalctl", "--disk-usage"])).stdout;
  const m = /take up ([\d.]+)([BKMG])/.exec(out);
  if (!m) throw new Error(`journalctl --disk-usage: ${out}`);
  return Math.round(Number(m[1]) * 1024 ** "BKMG".indexOf(m[2] ?? "B"));
}

const MiB = 1024 * 1024;

describe("disk: the journal, a log file, the package cache", () => {
  test("vacuum_journal by size through the broker: the archived files the preview counted are removed and the usage drops by about the bytes it predicted", async () => {
    // Archived journal files worth removing: ~9 MB of log lines (in lines of 40 000 characters,
    // under journald's rate limit), then a rotation; three times.
    // journald reads the stream after systemd-cat has exited: each fill ends with a marker line,
    // and the file is rotated only once the marker is in the journal (else the rest of the fill
    // lands in the new active file, which then grows while the test measures).
    for (let i = 0; i < 3; i++) {
      await c.execOk(["sh", "-c", `{ head -c 9000000 /dev/urandom | base64 -w 40000; echo hwtest-fill-done-${i}; } | systemd-cat -t hwtest-fill`], { timeoutMs: 60_000 });
      await waitFor(`fill ${i} in the journal`, async () => ((await c.execOk(["journalctl", "-t", "hwtest-fill", "-n", "1", "-o", "cat"])).stdout.trim() === `hwtest-fill-done-${i}` ? true : undefined), 30_000, 200);
      await c.execOk(["journalctl", "--rotate"]);
    }
    const archived = archivedJournals();
    expect(archived.length).toBeGreaterThanOrEqual(3);
    // Keep all but the oldest archive: at most (everything − the oldest archive), rounded up to MiB.
    const used = (f: string) => statSync(c.path(`/var/log/journal/${f}`)).blocks * 512;
    const all = readdirSync(c.path("/var/log/journal")).flatMap((d) => readdirSync(c.path(`/var/log/journal/${d}`)).filter((f) => f.endsWith(".journal")).map((f) => `${d}/${f}`));
    const total = all.reduce((s, f) => s + used(f), 0);
    const oldest = [...archived].sort((a, b) => statSync(c.path(`/var/log/journal/${a}`)).mtimeMs - statSync(c.path(`/var/log/journal/${b}`)).mtimeMs)[0] ?? "";
    const maxBytes = Math.max(16 * MiB, Math.ceil((total - used(oldest)) / MiB) * MiB);
    expect(maxBytes).toBeLessThan(total);
    const params = { by: "size", maxBytes };
    const preview = await previewIn(c, "vacuum_journal", parsed("vacuum_journal", params));
    expect(preview.facts).toMatchObject({ journalDir: "/var/log/journal" });
    const frees = Number(preview.facts.freesBytes);
    const removes = Number(preview.facts.removesFiles);
    expect(frees).toBeGreaterThan(5 * MiB);
    expect(removes, JSON.stringify({ total, oldest, maxBytes, files: all.map((f) => [f, used(f), statSync(c.path(`/var/log/journal/${f}`)).mtimeMs]), preview })).toBe(1);
    const usageBefore = await journalUsage();
    const vacuum = await viaBroker(lowkey, "vacuum_journal", params);
    const usageAfter = await journalUsage();
    expect(vacuum.out, JSON.stringify(vacuum)).toMatchObject({ verdict: "SUCCEEDED", before: { previewedFreesBytes: frees } });
    expect(vacuum.runs.some((l) => l.startsWith("/usr/bin/systemd-run --wait --pipe") && l.includes(`--property=ReadWritePaths=/var/log/journal -- /usr/bin/journalctl --vacuum-size=${maxBytes}`))).toBe(true);
    expect(archivedJournals().sort(), "the oldest archive, as the preview said, and only it").toEqual(archived.filter((f) => f !== oldest).sort());
    const freed = usageBefore - usageAfter;
    record("vacuum_journal by size: previewed / measured bytes freed", `${frees} / ${freed}`);
    expect(Math.abs(freed - frees), `previewed ${frees}, journalctl --disk-usage went ${usageBefore} → ${usageAfter}`).toBeLessThanOrEqual(0.5 * MiB);
    expect(Math.abs(Number(vacuum.out.after?.freedBytes) - frees)).toBeLessThanOrEqual(0.5 * MiB);
  });

  test("vacuum_journal by age by the helper: nothing is older than a day, so the preview says nothing is freed and nothing is", async () => {
    const archived = archivedJournals();
    expect(archived.length).toBeGreaterThan(0);
    const r = await byHelper(lowkey, "vacuum_journal", { by: "age", maxAgeDays: 1 });
    expect(r.run.code, `${r.run.raw.stdout}\n${r.run.raw.stderr}`).toBe(HELPER_EXIT.succeeded);
    expect(r.preview.facts).toMatchObject({ freesBytes: 0, removesFiles: 0 });
    expect(r.out).toMatchObject({ verdict: "SUCCEEDED", before: { previewedFreesBytes: 0 } });
    expect(r.run.outputs).toContain(planLine("vacuum_journal", parsed("vacuum_journal", { by: "age", maxAgeDays: 1 }), r.preview, "vacuum-age", r.requestId));
    expect(archivedJournals().sort()).toEqual(archived.sort());
  });

  test("truncate_log through the broker: the file under an allowed root is emptied in place (same inode), the bytes freed as previewed", async () => {
    mkdirSync(c.path(LOG_ROOT), { recursive: true, mode: 0o755 });
    const file = `${LOG_ROOT}/app.log`;
    writeFileSync(c.path(file), "x".repeat(MiB));
    const inode = statSync(c.path(file)).ino;
    const preview = await previewIn(c, "truncate_log", { path: file });
    expect(preview.facts).toMatchObject({ path: file, inode, sizeBytes: MiB });
    const t = await viaBroker(alice, "truncate_log", { path: file });
    expect(t.out, JSON.stringify(t)).toMatchObject({ verdict: "SUCCEEDED", before: { path: file, sizeBytes: MiB, inode }, after: { path: file, sizeBytes: 0, inode, freedBytes: MiB } });
    const unit = `hostward-${t.id.replace(/^act-/, "")}-truncate.service`;
    expect(t.runs).toContain(
      `/usr/bin/systemd-run --wait --pipe --collect --quiet --unit=${unit} --service-type=exec --property=RuntimeMaxSec=30 --property=TimeoutStopSec=10 --property=NoNewPrivileges=yes --property=ProtectSystem=strict --property=ReadWritePaths=${file} -- /usr/bin/truncate --no-create --size=0 -- ${file}`,
    );
    // Its stop step is shown to the approver, and did not run (the step finished in time).
    expect(t.runs).toContain(`/usr/bin/systemctl stop --no-pager --no-ask-password -- ${unit}   (only if truncate is still running at the action's deadline, or the helper is stopped)`);
    expect(t.lines.filter((l) => l.includes("systemctl stop"))).toEqual([]);
    const st = statSync(c.path(file));
    expect(st.size).toBe(0);
    expect(st.ino).toBe(inode);
  });

  test("truncate_log of nginx's own access log (www-data's, 0640) through the broker: emptied in place", async () => {
    const file = "/var/log/nginx/access.log";
    writeFileSync(c.path(file), "GET / HTTP/1.1\n".repeat(10_000));
    const inode = statSync(c.path(file)).ino;
    const t = await viaBroker(alice, "truncate_log", { path: file });
    expect(t.out, JSON.stringify(t)).toMatchObject({ verdict: "SUCCEEDED", after: { sizeBytes: 0, inode } });
    expect(statSync(c.path(file)).size).toBe(0);
  });

  test("truncate_log refuses a symlink and a file in a group-writable directory (preview and execution), and HOST_CHANGED when the file was replaced", async () => {
    const file = `${LOG_ROOT}/app.log`;
    writeFileSync(c.path(file), "keep me\n");
    const link = `${LOG_ROOT}/link.log`;
    symlinkSync("app.log", c.path(link));
    const shared = `${LOG_ROOT}/shared`;
    mkdirSync(c.path(shared));
    await c.execOk(["chown", "root:adm", shared]);
    await c.execOk(["chmod", "0775", shared]);
    writeFileSync(c.path(`${shared}/x.log`), "keep me too\n");

    const viaLink = await previewRefusal(c, "truncate_log", { path: link });
    expect(viaLink.refused?.code, viaLink.raw.stdout).toBe("NOT_ALLOWLISTED");
    expect(viaLink.refused?.reason).toMatch(/symbolic link/);
    const inShared = await previewRefusal(c, "truncate_log", { path: `${shared}/x.log` });
    expect(inShared.refused?.code, inShared.raw.stdout).toBe("NOT_ALLOWLISTED");
    expect(inShared.refused?.reason).toContain(`could be swapped for another file after this check: ${shared} is writable by its group or by others`);
    // Approved anyway (an empty preview): the helper computes the preview itself and refuses.
    for (const path of [link, `${shared}/x.log`]) {
      const r = await helperAsOperator(c, helperRequest("truncate_log", { path }, alice.approve({ host: HOST, action: "truncate_log", params: { path } }).approval));
      expectRefusedBeforeRunning(r, "NOT_ALLOWLISTED", HELPER_EXIT.notAllowlisted);
    }
    expect(readFileSync(c.path(file), "utf8")).toBe("keep me\n");
    expect(readFileSync(c.path(`${shared}/x.log`), "utf8")).toBe("keep me too\n");

    // Approved for this inode, then the file is replaced (a new file renamed over it).
    const preview = await previewIn(c, "truncate_log", { path: file });
    const { approval } = alice.approve({ host: HOST, action: "truncate_log", params: { path: file }, preview });
    writeFileSync(c.path(`${file}.new`), "a new file\n");
    renameSync(c.path(`${file}.new`), c.path(file));
    const r = await helperAsOperator(c, helperRequest("truncate_log", { path: file }, approval));
    expectRefusedBeforeRunning(r, "HOST_CHANGED", HELPER_EXIT.hostChanged);
    expect(r.refused?.reason).toMatch(new RegExp(`^the host changed since the preview that was approved: inode was ${preview.facts.inode}, is now ${statSync(c.path(file)).ino}; nothing ran`));
    expect(readFileSync(c.path(file), "utf8")).toBe("a new file\n");
  });

  test("clean_package_cache through the broker: the downloaded .debs are gone, the bytes before as previewed", async () => {
    const archives = "/var/cache/apt/archives";
    copyFileSync(debFile("1.0"), c.path(`${archives}/${PKG}_1.0_all.deb`));
    const debsBefore = readdirSync(c.path(archives)).filter((f) => f.endsWith(".deb"));
    expect(debsBefore.length).toBeGreaterThan(0);
    const preview = await previewIn(c, "clean_package_cache", {});
    expect(Number(preview.facts.cacheBytes)).toBeGreaterThan(statSync(c.path(`${archives}/${PKG}_1.0_all.deb`)).size);
    const clean = await viaBroker(lowkey, "clean_package_cache", {});
    expect(clean.out, JSON.stringify(clean)).toMatchObject({ verdict: "SUCCEEDED", before: { manager: "apt", cacheBytes: preview.facts.cacheBytes } });
    expect(clean.runs).toContain(`/usr/bin/systemd-run --wait --pipe --collect --quiet --unit=hostward-${clean.id.replace(/^act-/, "")}-apt-clean.service --service-type=exec --property=RuntimeMaxSec=120 --property=TimeoutStopSec=10 --property=NoNewPrivileges=yes --property=ProtectSystem=strict --property=ReadWritePaths=/var/cache/apt -- /usr/bin/apt-get clean`);
    expect(readdirSync(c.path(archives)).filter((f) => f.endsWith(".deb"))).toEqual([]);
    const after = Number(clean.out.after?.cacheBytes);
    expect(after, JSON.stringify(clean.out.after)).toBeLessThan(64 * 1024);
    record("clean_package_cache: bytes before / after", `${String(preview.facts.cacheBytes)} / ${after}`);
  });
});

// ---- packages ----------------------------------------------------------------------------------

const BUILD = () => join(scope.dir, "debs");
const debFile = (version: string, name = PKG) => join(BUILD(), `${name}_${version}_all.deb`);

/** NAME VERSION as a .deb (default hwdummy), built on this machine with dpkg-deb; `control` adds fields (Depends:, Conflicts:). */
function buildDeb(version: string, name = PKG, control = ""): void {
  const stage = join(BUILD(), `stage-${name}-${version}`);
  mkdirSync(join(stage, "DEBIAN"), { recursive: true });
  mkdirSync(join(stage, `usr/share/${name}`), { recursive: true });
  writeFileSync(join(stage, "DEBIAN/control"), `Package: ${name}\nVersion: ${version}\nArchitecture: all\nMaintainer: hostward e2e <e2e@example.invalid>\n${control}Description: hostward e2e dummy package\n`);
  writeFileSync(join(stage, `usr/share/${name}/version`), `${version}\n`);
  execFileSync("dpkg-deb", ["--root-owner-group", "--build", stage, debFile(version, name)], { stdio: "pipe" });
}

/**
 * Publishes these versions of hwdummy (and these other .deb files) in the container's file
 * repository, which keeps what it had, and runs `apt-get update` for it alone.
 */
async function publish(versions: readonly string[], debs: readonly string[] = []): Promise<void> {
  const repo = join(BUILD(), "repo");
  mkdirSync(repo, { recursive: true });
  for (const f of [...versions.map((v) => debFile(v)), ...debs]) copyFileSync(f, join(repo, basename(f)));
  writeFileSync(join(repo, "Packages"), execFileSync("dpkg-scanpackages", ["--multiversion", "."], { cwd: repo, stdio: ["ignore", "pipe", "pipe"] }));
  await c.execOk(["mkdir", "-p", REPO]);
  for (const f of readdirSync(repo)) copyFileSync(join(repo, f), c.path(`${REPO}/${f}`));
  writeFileSync(c.path("/etc/apt/sources.list.d/hwtest.list"), `deb [trusted=yes] file:${REPO} ./\n`);
  await c.execOk(["apt-get", "update", "-o", "Dir::Etc::SourceList=/etc/apt/sources.list.d/hwtest.list", "-o", "Dir::Etc::SourceParts=-", "-o", "APT::Get::List-Cleanup=0"], { env: APT_ENV, timeoutMs: 60_000 });
}

const installed = async () => (await c.execOk(["dpkg-query", "--show", "--showformat=${Version}", PKG])).stdout.trim();

describe("packages: upgrade_packages from a local repository", () => {
  beforeAll(async () => {
    copyFileSync(debFile("1.0"), c.path("/root/hwdummy_1.0_all.deb"));
    await c.execOk(["dpkg", "-i", "/root/hwdummy_1.0_all.deb"]);
    await publish(["1.0", "1.1"]);
  });

  test("through the broker with the HIGH key: 1.0 → 1.1, the preview's from → to and apt's simulation, pinned to 1.1, the result lists the change", async () => {
    expect(await installed()).toBe("1.0");
    const preview = await previewIn(c, "upgrade_packages", { packages: [PKG] });
    expect(preview.facts).toMatchObject({ manager: "apt", versions: { [PKG]: { from: "1.0", to: "1.1" } }, pins: [`${PKG}=1.1`], changes: { [PKG]: { from: "1.0", to: "1.1" } }, touched: [PKG] });
    expect(preview.summary).toContain(`${PKG} "1.0" → "1.1"`); // host text quoted (preview-summary.ts)
    expect(preview.summary).toContain("apt's simulation changes no other package and removes none");
    const up = await viaBroker(rootKey, "upgrade_packages", { packages: [PKG] });
    expect(up.out, JSON.stringify(up)).toMatchObject({ verdict: "SUCCEEDED", before: { [PKG]: "1.0" }, after: { versions: { [PKG]: "1.1" }, changed: [{ package: PKG, from: "1.0", to: "1.1" }] } });
    const unit = `hostward-${up.id.replace(/^act-/, "")}-upgrade.service`;
    expect(up.runs).toContain(
      `/usr/bin/systemd-run --wait --pipe --collect --quiet --unit=${unit} --service-type=exec --property=RuntimeMaxSec=600 --property=TimeoutStopSec=10 --property=NoNewPrivileges=yes --setenv=DEBIAN_FRONTEND=noninteractive --setenv=NEEDRESTART_MODE=l -- /usr/bin/apt-get install --only-upgrade --no-remove --no-install-recommends --yes --quiet --option=Dpkg::Options::=--force-confold -- ${PKG}=1.1`,
    );
    expect(up.runs).toContain(`/usr/bin/systemctl stop --no-pager --no-ask-password -- ${unit}   (only if upgrade is still running at the action's deadline, or the helper is stopped)`);
    // The human read apt's simulation before signing.
    expect(up.approvalText).toContain("apt's simulation changes no other package and removes none");
    expect(await installed()).toBe("1.1");
    expect(readFileSync(c.path("/usr/share/hwdummy/version"), "utf8")).toBe("1.1\n");
    // --collect: the transient unit is gone once it ended.
    expect((await c.execOk(["systemctl", "show", "--property=LoadState", "--value", unit])).stdout.trim()).toBe("not-found");
  });

  test("a MEDIUM key cannot approve it (HIGH impact); a package off the allowlist is refused before anything runs", async () => {
    const params = { packages: [PKG] };
    const preview = await previewIn(c, "upgrade_packages", params);
    expectRefusedBeforeRunning(await helperAsOperator(c, helperRequest("upgrade_packages", params, alice.approve({ host: HOST, action: "upgrade_packages", params, preview }).approval)), "IMPACT_TOO_HIGH", HELPER_EXIT.impactTooHigh);
    const other = { packages: ["nginx"] };
    const r = await helperAsOperator(c, helperRequest("upgrade_packages", other, rootKey.approve({ host: HOST, action: "upgrade_packages", params: other }).approval));
    expectRefusedBeforeRunning(r, "NOT_ALLOWLISTED", HELPER_EXIT.notAllowlisted);
    expect(r.refused?.spawns).toBe(0);
  });

  test("HOST_CHANGED: approved for 1.1 → 1.2, then 1.3 is published: refused naming versions, 1.1 stays installed", async () => {
    await publish(["1.0", "1.1", "1.2"]);
    const params = { packages: [PKG] };
    const preview = await previewIn(c, "upgrade_packages", params);
    expect(preview.facts.versions).toEqual({ [PKG]: { from: "1.1", to: "1.2" } });
    // One HIGH key alone is not enough here (approvals.required.HIGH defaults to 2): refused, nothing ran.
    const alone = rootKey.approve({ host: HOST, action: "upgrade_packages", params, preview });
    expectRefusedBeforeRunning(await helperAsOperator(c, helperRequest("upgrade_packages", params, alone.approval)), "TOO_FEW_APPROVALS", HELPER_EXIT.tooFewApprovals);
    const { approval } = rootKey.approve({ host: HOST, action: "upgrade_packages", params, preview, cosigners: [opsKey] });
    await publish(["1.0", "1.1", "1.2", "1.3"]);
    const r = await helperAsOperator(c, helperRequest("upgrade_packages", params, approval));
    expectRefusedBeforeRunning(r, "HOST_CHANGED", HELPER_EXIT.hostChanged);
    expect(r.refused?.reason).toContain(`versions was {"${PKG}":{"from":"1.1","to":"1.2"}}, is now {"${PKG}":{"from":"1.1","to":"1.3"}}; nothing ran`);
    expect(await installed()).toBe("1.1");

    // Approved for what the host offers now, it runs (by the helper): 1.1 → 1.3.
    const up = await byHelper(rootKey, "upgrade_packages", params);
    expect(up.run.code, `${up.run.raw.stdout}\n${up.run.raw.stderr}`).toBe(HELPER_EXIT.succeeded);
    expect(up.out).toMatchObject({ verdict: "SUCCEEDED", after: { changed: [{ package: PKG, from: "1.1", to: "1.3" }] } });
    expect(await installed()).toBe("1.3");
  });

  test("a dependency apt must upgrade too is in the approval (a material fact) and is upgraded; an upgrade that would remove a package is refused before approval", async () => {
    buildDeb("1.0", "hwlib");
    buildDeb("2.0", "hwlib");
    buildDeb("1.0", "hwold");
    buildDeb("1.0", APP, "Depends: hwlib (>= 1.0)\n");
    buildDeb("2.0", APP, "Depends: hwlib (>= 2.0)\n");
    buildDeb("3.0", APP, "Depends: hwlib (>= 2.0)\nConflicts: hwold\n");
    const first = [debFile("1.0", "hwlib"), debFile("1.0", "hwold"), debFile("1.0", APP)];
    for (const f of first) copyFileSync(f, c.path(`/root/${basename(f)}`));
    await c.execOk(["dpkg", "-i", ...first.map((f) => `/root/${basename(f)}`)]);
    await publish([], [...first, debFile("2.0", "hwlib"), debFile("2.0", APP)]);

    const params = { packages: [APP] };
    const preview = await previewIn(c, "upgrade_packages", params);
    expect(preview.facts).toMatchObject({ versions: { [APP]: { from: "1.0", to: "2.0" } }, pins: [`${APP}=2.0`], changes: { [APP]: { from: "1.0", to: "2.0" }, hwlib: { from: "1.0", to: "2.0" } }, touched: [APP, "hwlib"] });
    const also = 'apt also changes 1 other package(s) for them (its simulation): "hwlib" "1.0" → "2.0"'; // host text quoted (preview-summary.ts)
    expect(preview.summary).toContain(also);
    const up = await viaBroker(rootKey, "upgrade_packages", params);
    expect(up.approvalText, "the approver read what else changes").toContain(also);
    expect(up.out, JSON.stringify(up)).toMatchObject({ verdict: "SUCCEEDED", before: { [APP]: "1.0", hwlib: "1.0" }, after: { versions: { [APP]: "2.0", hwlib: "2.0" } } });
    expect(up.out.after?.changed).toEqual([
      { package: APP, from: "1.0", to: "2.0" },
      { package: "hwlib", from: "1.0", to: "2.0" },
    ]);

    // 3.0 conflicts with hwold: apt would have to remove it. Refused at the preview, so nothing can be approved.
    await publish([], [debFile("3.0", APP)]);
    const refused = await previewRefusal(c, "upgrade_packages", params);
    expect(refused.refused?.code, refused.raw.stdout).toBe("BAD_REQUEST");
    expect(refused.refused?.reason).toMatch(new RegExp(`^apt would remove hwold to upgrade ${APP}: upgrade_packages never removes a package`));
    const proposed = await broker.call("propose_action", { target: HOST, request: { action: "upgrade_packages", ...params }, reason: "e2e: a removal" });
    expect(proposed.isError, JSON.stringify(proposed.content)).toBe(true);
    expect(JSON.stringify(proposed.content)).toContain("apt would remove hwold");
    expect((await c.execOk(["dpkg-query", "--show", "--showformat=${Version} ${db:Status-Abbrev}", "hwold"])).stdout.trim()).toBe("1.0 ii");
    expect((await c.execOk(["dpkg-query", "--show", "--showformat=${Version}", APP])).stdout.trim()).toBe("2.0");
  });
});

// stop_container / start_container are not run by this file, and nothing stands in for them.
// Checked on this machine (Debian 12, podman 4.3.1, crun 1.8.1, 2026-12-07): podman cannot start a
// container here. `podman run -d IMAGE /bin/sleep 1000` (an image imported from a local tarball)
// ends with "Error: crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted: OCI permission
// denied" (the sandbox has no CAP_SYS_RESOURCE and a hard RLIMIT_NOFILE of 20000, below the
// 1048576 podman asks for; `--ulimit host` fails the same way). With `--ulimit nofile=1024:20000
// --ulimit nproc=1024:1024` crun gets past setrlimit and stops at the next wall: "Error: OCI
// runtime error: crun: cgroups in hybrid mode not supported, drop all controllers from cgroupv2"
// (also with --cgroups=disabled). The containers here have no network to install podman from
// either. So the container runner's stop/start path runs in no test today: only the container
// allowlist matching (test/actions/helper-trust.test.ts) and the catalog's contract tests cover
// these actions. A machine where podman runs should add them here.
