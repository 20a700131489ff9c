// The host's record is the truth about actions (issue "The audit and the action state stay true
// under faults"), on a real systemd with the real .deb: a slow unit (its stop takes 6 s) is
// restarted through the broker, and in the middle
//   1. the operator agent is killed (SIGKILL to its whole unit: agent, sudo, helper): the broker
//      loses the stream; the request ends FAILED "INTERRUPTED — it did start", from the host's
//      ledger, never "nothing ran"; the journal has the helper's own "started" line;
//   2. the broker is killed (SIGKILL): the host finishes the restart; a new broker settles the
//      request SUCCEEDED from the host's ledger, audited as action.reconciled, the chain verified.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createApprover, installAllowlist, installApprovers, type Approver } from "./support/approvals";
import type { Container } from "./support/container";
import { connectBrokerInNetns, writeBrokerConfig, type BrokerConfigDir, type BrokerSession } from "./support/broker";
import { record } from "./support/measurements";
import type { Network } from "./support/netns";
import { debPath } from "./support/packages";
import { createCliPki, installAgentCerts, type CliPki } from "./support/pki";
import { BROKER_BUNDLE } from "./support/paths";
import { run, sleep, waitFor } from "./support/run";
import { createScope, requirePackages } from "./support/scope";
import { aptInstall, unitProperty, unitReport, UNITS, waitActive } from "./support/units";

const HOST = "rec1";
const SLOW = "slow.service";
const OPERATOR = "hostward-operator.service";
const LEDGER = "/var/lib/hostward/helper/ledger";

const scope = createScope("reconcile");
let net: Network;
let c: Container;
let pki: CliPki;
let alice: Approver;
let config: BrokerConfigDir;

beforeAll(async () => {
  requirePackages();
  net = await scope.network(7, [HOST]);
  c = await scope.container(HOST, net.hosts[HOST]?.nsPath);
  pki = await createCliPki(join(scope.dir, "pki"));
  await aptInstall(c, debPath());
  await installAgentCerts(c, await pki.issueAgent(HOST, net.hosts[HOST]?.address ?? ""));
  alice = createApprover("alice", "MEDIUM");
  installApprovers(c, [alice]);
  installAllowlist(c, { units: [SLOW] });
  // A unit whose restart takes a while: its stop runs for 6 s.
  writeFileSync(c.path(`/etc/systemd/system/${SLOW}`), "[Unit]\nDescription=hostward e2e: a slow restart\n[Service]\nExecStart=/bin/sleep infinity\nExecStop=/bin/sleep 6\n[Install]\nWantedBy=multi-user.target\n");
  await c.execOk(["systemctl", "daemon-reload"]);
  await c.execOk(["systemctl", "enable", "--now", ...UNITS, SLOW]);
  await waitActive(c, [...UNITS, SLOW]).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${await unitReport(c, OPERATOR)}`);
  });
  config = await writeBrokerConfig(join(scope.dir, "broker"), pki, [{ name: HOST, address: net.hosts[HOST]?.address ?? "", tags: [] }], {
    operator: true,
    extraRules: [{ target: HOST, allow: ["restart_service"] }],
  });
});
afterAll(() => scope.close());

const cli = (...args: string[]) => run(process.execPath, [BROKER_BUNDLE, ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: config.home }, timeoutMs: 60_000 });

/** Proposes and approves (alice, in the terminal) a restart of the slow unit; returns its id. */
async function approvedRestart(broker: BrokerSession): Promise<string> {
  const proposed = await broker.call("propose_action", { target: HOST, request: { action: "restart_service", unit: SLOW }, reason: "e2e: reconciliation" });
  expect(proposed.isError, JSON.stringify(proposed.content)).toBeFalsy();
  const id = (proposed.structuredContent as { id: string }).id;
  const keyFile = join(scope.dir, "alice.key");
  writeFileSync(keyFile, alice.privateKeyText, { mode: 0o600 });
  const approved = await cli("approve", id, "--key", keyFile, "--yes", "--config", config.dir);
  expect(approved.code, approved.stdout + approved.stderr).toBe(0);
  return id;
}

/**
 * Starts execute_action; `started` resolves once the helper has printed its systemctl line, and
 * rejects with the call's answer if it ended first (so a refusal fails the test at once).
 */
function executeUntilRunning(broker: BrokerSession, id: string): { started: Promise<void>; result: Promise<unknown> } {
  let seen!: () => void;
  const progress = new Promise<void>((r) => (seen = r));
  const result = broker
    .callWithProgress("execute_action", { id }, (p) => {
      // The helper's line for the plan's restart step (define-action.ts commandLine).
      if (/^\$ \S*\/systemctl restart /.test(p.message ?? "")) seen();
    })
    .catch((err: unknown) => err);
  const started = Promise.race([progress, result.then((r) => Promise.reject(new Error(`execute_action ended before the restart began: ${JSON.stringify(r).slice(0, 2000)}`)))]);
  return { started, result };
}

async function ledger(id: string): Promise<Record<string, unknown> | undefined> {
  const r = await c.exec(["cat", `${LEDGER}/${id}.json`]);
  return r.code === 0 ? (JSON.parse(r.stdout) as Record<string, unknown>) : undefined;
}

async function getAction(broker: BrokerSession, id: string): Promise<{ state: string; execution?: Record<string, unknown> }> {
  const r = await broker.call("get_action", { id });
  return r.structuredContent as { state: string; execution?: Record<string, unknown> };
}

/** Asks get_action until the request carries a reconciliation with its host's record. */
function settledFromHost(broker: BrokerSession, id: string, timeoutMs: number, everyMs: number) {
  return waitFor(
    "the request settled from the host's record",
    async () => {
      const v = await getAction(broker, id);
      return v.execution?.reconciliation ? v : undefined;
    },
    timeoutMs,
    everyMs,
  );
}

describe("an action whose operator agent is killed mid-run", () => {
  test("ends FAILED, INTERRUPTED — it did start — from the host's ledger; the journal has the helper's start line", async () => {
    const broker = await connectBrokerInNetns(net.clientNs, config);
    scope.defer("broker (agent killed)", () => broker.close());
    const id = await approvedRestart(broker);
    const run1 = executeUntilRunning(broker, id);
    await run1.started;
    const t0 = Date.now();
    // The agent's main process, as a crash or the OOM killer would: systemd then stops what is
    // left in the unit's cgroup (sudo, the helper and its systemctl client) and restarts the unit.
    await c.execOk(["systemctl", "kill", "--signal=SIGKILL", "--kill-whom=main", OPERATOR]);
    const out = (await run1.result) as { structuredContent?: { verdict: string; error?: { code: string; message: string } } };
    expect(out.structuredContent?.verdict).toBe("FAILED");
    // Whatever the broker could say at once, it never says nothing ran.
    expect(out.structuredContent?.error?.message ?? "").not.toMatch(/nothing ran/);

    // The host's own record: started, and its helper is gone.
    expect(await ledger(id)).toMatchObject({ requestId: id, state: "STARTED", action: "restart_service" });
    // The operator unit comes back (Restart=on-failure); the next get_action asks the host.
    await waitActive(c, [OPERATOR], 60_000);
    const settled = await settledFromHost(broker, id, 60_000, 1_000);
    record("agent killed mid-action: kill → request settled from the host's ledger, ms", Date.now() - t0);
    expect(settled).toMatchObject({ state: "FAILED", execution: { error: { code: "INTERRUPTED", message: expect.stringContaining("it did start") }, reconciliation: { host: "INTERRUPTED" } } });
    const journal = await c.execOk(["journalctl", "--no-pager", "-o", "cat", "-t", "hostward-action"]);
    expect(journal.stdout).toContain(`"event":"started","requestId":"${id}"`);
    await broker.close();
  }, 180_000);
});

describe("an action whose broker is killed mid-run", () => {
  test("the host finishes it; a new broker settles it SUCCEEDED from the host's ledger, audited; the chain verifies", async () => {
    const broker = await connectBrokerInNetns(net.clientNs, config);
    const id = await approvedRestart(broker);
    const before = Number(await unitProperty(c, SLOW, "MainPID"));
    const run2 = executeUntilRunning(broker, id);
    await run2.started;
    process.kill(broker.pid()!, "SIGKILL");
    await run2.result;
    await broker.close().catch(() => undefined);

    // The host finishes the restart on its own and records it.
    const ended = await waitFor("the host's ledger records the end", async () => ((await ledger(id))?.state === "ENDED" ? ledger(id) : undefined), 60_000, 500);
    expect(ended).toMatchObject({ verdict: "SUCCEEDED" });
    expect(Number(await unitProperty(c, SLOW, "MainPID"))).not.toBe(before);

    const next = await connectBrokerInNetns(net.clientNs, config);
    scope.defer("broker (after kill)", () => next.close());
    const t0 = Date.now();
    const settled = await settledFromHost(next, id, 30_000, 500);
    record("broker killed mid-action: new broker → request settled SUCCEEDED, ms", Date.now() - t0);
    expect(settled).toMatchObject({ state: "SUCCEEDED", execution: { verdict: "SUCCEEDED", reconciliation: { host: "ENDED", previous: { error: { code: "OUTCOME_UNKNOWN" } } } } });
    await sleep(200);
    const tail = await cli("audit", "tail", "-n", "1000", "--config", config.dir);
    const events = tail.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.filter((e) => e.event === "action.reconciled" && e.actionId === id)).toEqual([expect.objectContaining({ host: "ENDED", verdict: "SUCCEEDED" })]);
    const verify = await cli("audit", "verify", "--config", config.dir);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toContain("signed head: verified");
  }, 180_000);
});
