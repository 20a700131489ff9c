// Issue 11: an approval runs at most once on a host, for ever — also across `dpkg --purge`, a
// reinstall and a re-enrolment. Before this issue, purge + reinstall + re-enrolment deleted the
// helper's nonce store, and a still-unexpired approval, replayed, ran again.
//
// One container, the real .deb, the root helper run through the one sudoers line as
// hostward-operator (support/helper.ts), nginx restarted for real. The approval A runs once; then:
//   1. purge + reinstall + the SAME certificates copied back: A is refused (STALE: signed before
//      the reinstalled host's record of used approvals began);
//   2. purge + reinstall + re-enrolment with NEW certificates (new keys): A is refused
//      (OTHER_HOST: it binds the old operator key), and a fresh approval for the new key runs.
// After every refusal nginx's main process is the one it was: nothing ran.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { HELPER_EXIT } from "../../agent/src/helper/exit-codes";
import { createApprover, helperRequest, installAllowlist, installApprovers, type Approver } from "./support/approvals";
import type { Container } from "./support/container";
import { helperAsOperator, previewIn, type HelperRun } from "./support/helper";
import type { Network } from "./support/netns";
import { debPath } from "./support/packages";
import { createCliPki, installAgentCerts, type AgentFiles, type CliPki } from "./support/pki";
import { createScope, requirePackages } from "./support/scope";
import { aptInstall, unitProperty, UNITS, waitActive } from "./support/units";

const HOST = "once1";
const NGINX = "nginx.service";

const scope = createScope("reinstall");
let net: Network;
let c: Container;
let pki: CliPki;
let first: AgentFiles;
let alice: Approver;
let approvalA: ReturnType<Approver["approve"]>;

async function nginxFacts(): Promise<{ pid: string; started: string }> {
  return { pid: await unitProperty(c, NGINX, "MainPID"), started: await unitProperty(c, NGINX, "ExecMainStartTimestampMonotonic") };
}

/** Install the package, the host's certificates, approver and allowlist; start the units. */
async function setUpHost(files: AgentFiles): Promise<void> {
  await aptInstall(c, debPath());
  await installAgentCerts(c, files);
  installApprovers(c, [alice]);
  installAllowlist(c, { units: [NGINX] });
  await c.execOk(["systemctl", "enable", "--now", ...UNITS]);
  await waitActive(c, UNITS);
}

async function purge(): Promise<void> {
  await c.execOk(["dpkg", "--purge", "hostward-agent"], { timeoutMs: 120_000 });
  // What purge removes is what made the replay possible before: the helper's state.
  expect((await c.exec(["test", "-e", "/var/lib/hostward"])).code).not.toBe(0);
}

function refusedWith(r: HelperRun, code: string, exit: number): void {
  const detail = `${r.raw.stdout}\n${r.raw.stderr}`;
  expect(r.code, detail).toBe(exit);
  expect(r.refused?.code, detail).toBe(code);
  expect(r.refused?.spawns).toBe(0);
  expect(r.result).toBeUndefined();
  expect(r.outputs).toEqual([]);
}

beforeAll(async () => {
  requirePackages();
  net = await scope.network(5, [HOST]);
  c = await scope.container(HOST, net.hosts[HOST]?.nsPath);
  pki = await createCliPki(join(scope.dir, "pki"));
  first = await pki.issueAgent(HOST, net.hosts[HOST]?.address ?? "");
  alice = createApprover("alice", "MEDIUM");
  await setUpHost(first);
});
afterAll(() => scope.close());

describe("one approval, once, for ever: purge, reinstall, re-enrol", () => {
  test("the approval runs once (nginx gets a new main process); again, it is refused as replayed", async () => {
    const before = await nginxFacts();
    approvalA = alice.approve({ host: HOST, action: "restart_service", params: { unit: NGINX }, preview: await previewIn(c, "restart_service", { unit: NGINX }) });
    const r = await helperAsOperator(c, helperRequest("restart_service", { unit: NGINX }, approvalA.approval));
    expect(r.code, `${r.raw.stdout}\n${r.raw.stderr}`).toBe(HELPER_EXIT.succeeded);
    expect(r.result?.verdict).toBe("SUCCEEDED");
    expect((await nginxFacts()).pid).not.toBe(before.pid);
    refusedWith(await helperAsOperator(c, helperRequest("restart_service", { unit: NGINX }, approvalA.approval)), "REPLAYED", HELPER_EXIT.replayed);
  });

  test("purge + reinstall + the same certificates copied back: the replay is refused (STALE), nothing runs", async () => {
    await purge();
    await new Promise((res) => setTimeout(res, 1_100)); // the new record begins in a later second than A was signed
    await setUpHost(first);
    const before = await nginxFacts();
    const r = await helperAsOperator(c, helperRequest("restart_service", { unit: NGINX }, approvalA.approval));
    refusedWith(r, "STALE", HELPER_EXIT.stale);
    expect(r.refused?.reason).toMatch(/before this host's record of used approvals began/);
    expect(await nginxFacts()).toEqual(before);
  });

  test("purge + reinstall + re-enrolment with new certificates: the replay is refused (OTHER_HOST: the old key), a new approval runs", async () => {
    await purge();
    const second = await pki.issueAgent(HOST, net.hosts[HOST]?.address ?? "");
    expect(second.hostKey).not.toBe(first.hostKey);
    await setUpHost(second);
    const before = await nginxFacts();
    const r = await helperAsOperator(c, helperRequest("restart_service", { unit: NGINX }, approvalA.approval));
    refusedWith(r, "OTHER_HOST", HELPER_EXIT.otherHost);
    expect(r.refused?.reason).toContain(`approval is for the host key ${first.hostKey}, but this host's operator certificate has the key ${second.hostKey}`);
    expect(await nginxFacts()).toEqual(before);

    // Positive control: the reinstalled host runs an approval made for its new key, once.
    const fresh = alice.approve({ host: HOST, action: "restart_service", params: { unit: NGINX }, preview: await previewIn(c, "restart_service", { unit: NGINX }) });
    expect(fresh.statement.hostKey).toBe(second.hostKey);
    const ran = await helperAsOperator(c, helperRequest("restart_service", { unit: NGINX }, fresh.approval));
    expect(ran.code, `${ran.raw.stdout}\n${ran.raw.stderr}`).toBe(HELPER_EXIT.succeeded);
    expect((await nginxFacts()).pid).not.toBe(before.pid);
    refusedWith(await helperAsOperator(c, helperRequest("restart_service", { unit: NGINX }, fresh.approval)), "REPLAYED", HELPER_EXIT.replayed);
  });
});
