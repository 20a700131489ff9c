// The BUILT operator agent over real mTLS, with helper.mode "direct" running the BUILT helper
// bundle against a temporary approvers directory, state directory and allowlist: authorisation by
// role, parameter validation before the helper starts, and the helper's lines relayed as a
// server stream that ends with result_json.
import { X509Certificate } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ActionEvent } from "../../proto/gen/hostward/v1/actions";
import { ActionRecordsServiceClient } from "../../proto/gen/hostward/v1/action_records";
import { actionPreview } from "../../proto/catalog/define-action";
import { actionsClient, callStream, startAgent, type TestAgent } from "../support/agent";
import { clientCredentials, createTestPki, type TestPki } from "../support/pki";
import { publicKeyFingerprint } from "../../shared/cert-names";
import { approve, DEFAULT_ALLOWLIST, HELPER_BUNDLE, makeApprover, makeHost, type Approver, type HostDirs } from "./support";

let pki: TestPki;
let agent: TestAgent;
let host: HostDirs;
let alice: Approver;
const clients: grpc.Client[] = [];

function client(kind: "reader" | "operator") {
  const c = actionsClient(agent, pki, kind);
  clients.push(c);
  return c;
}

/** An approval for this agent's host: its certificate's name (localhost) and its operator key. */
function approveHere(spec: Parameters<typeof approve>[1]) {
  const hostKey = publicKeyFingerprint(new X509Certificate(pki.agents.operator.cert));
  return approve(alice, { host: "localhost", hostKey, ...spec });
}

function helperAudits(): Record<string, unknown>[] {
  return agent
    .stderr()
    .split("\n")
    .filter((l) => l.startsWith('{"audit":"hostward-action"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

beforeAll(async () => {
  alice = makeApprover("MEDIUM");
  const dir = mkdtempSync(join(tmpdir(), "hostward-operator-"));
  pki = await createTestPki(join(dir, "pki"));
  // The helper's host identity is the agent's own operator certificate, as on a real host.
  host = makeHost([alice], DEFAULT_ALLOWLIST, pki.agents.operator);
  agent = await startAgent({
    role: "operator",
    pki,
    dir: join(host.dir, "agent"),
    config: {
      helper: { mode: "direct", path: HELPER_BUNDLE, approversDir: host.approversDir, stateDir: host.stateDir, actionsFile: host.actionsFile, agentCert: host.agentCert },
    },
  });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await agent?.stop();
});

describe("ActionsService on the operator agent (helper in direct mode)", () => {
  it("says loudly at start that the helper runs in direct mode", async () => {
    const line = await agent.waitForLine((l) => typeof l.msg === "string" && l.msg.startsWith("helper.mode is DIRECT"));
    expect(line.level).toBe("warn");
  });

  it("a reader certificate is still refused, and no helper starts", async () => {
    const r = await callStream(client("reader"), "restartService", { unit: "nginx.service", approval: approveHere({ action: "restart_service", params: { unit: "nginx.service" }, impact: "MEDIUM" }) });
    expect(r.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(r.details).toMatch(/role reader may not call hostward\.v1\.ActionsService/);
    expect(helperAudits()).toEqual([]);
  });

  it.each([
    ["--force", /invalid argument "unit": unit name must not start with "-"/],
    ["nginx;reboot", /invalid argument "unit": unit name is not valid/],
    ["", /invalid argument "unit": is required/],
  ])("unit %j → INVALID_ARGUMENT naming the field, helper not started", async (unit, message) => {
    const before = helperAudits().length;
    const r = await callStream(client("operator"), "restartService", { unit, approval: approveHere({ action: "restart_service", params: { unit }, impact: "MEDIUM" }) });
    expect(r.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(r.details).toMatch(message);
    expect(r.messages).toEqual([]);
    expect(helperAudits().length).toBe(before);
    const rpc = agent.rpcLines().at(-1);
    expect(rpc).toMatchObject({ method: "RestartService", outcome: "INVALID_ARGUMENT", spawns: 0 });
  });

  it("reboot_system's delaySeconds is validated by the catalog (60..3600)", async () => {
    const r = await callStream(client("operator"), "rebootSystem", { delaySeconds: 5, approval: approveHere({ action: "reboot_system", params: { delaySeconds: 5 }, impact: "HIGH" }) });
    expect(r.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(r.details).toMatch(/invalid argument "delaySeconds"/);
  });

  it("a valid call streams the helper's lines as output and ends with result_json", async () => {
    const approval = approveHere({ action: "restart_service", params: { unit: "nginx.service" }, impact: "MEDIUM" });
    const startedMicros = Date.now() * 1000;
    const r = await callStream<ActionEvent>(client("operator"), "restartService", { unit: "nginx.service", approval }, 20_000);
    const endedMicros = (Date.now() + 1) * 1000;
    expect(r.code).toBe(grpc.status.OK);
    const events = r.messages.map((m) => m.event);
    // Output events carry the helper's stamp (at_unix_micros, within this call); the result none.
    for (const m of r.messages.slice(0, -1)) {
      expect(m.atUnixMicros).toBeGreaterThanOrEqual(startedMicros);
      expect(m.atUnixMicros).toBeLessThanOrEqual(endedMicros);
    }
    expect(r.messages.at(-1)?.atUnixMicros).toBe(0);
    expect(events.slice(0, -1)).toEqual([{ $case: "output", value: "pre-check: systemd is not running (/run/systemd/system is missing)" }]);
    const last = events.at(-1);
    expect(last?.$case).toBe("resultJson");
    expect(JSON.parse(last?.$case === "resultJson" ? last.value : "{}")).toEqual({
      before: null,
      after: null,
      verdict: "FAILED",
      output: "pre-check: systemd is not running (/run/systemd/system is missing)",
      reason: "systemd is not running on this host",
    });
    expect(helperAudits().at(-1)).toMatchObject({ event: "executed", action: "restart_service", keyId: alice.keyId, verdict: "FAILED", mode: "direct" });

    // The same approval again: the helper's nonce store refuses it, and the agent says so.
    const replay = await callStream(client("operator"), "restartService", { unit: "nginx.service", approval }, 20_000);
    expect(replay.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(replay.details).toMatch(/^the host's helper refused \(REPLAYED, exit 89\)/);
  });

  it("helper refusals become PERMISSION_DENIED naming the refusal (expired, other host)", async () => {
    const params = { unit: "nginx.service" };
    const expired = approveHere({ action: "restart_service", params, impact: "MEDIUM", notAfter: Math.floor(Date.now() / 1000) - 1 });
    const r1 = await callStream(client("operator"), "restartService", { ...params, approval: expired }, 20_000);
    expect(r1.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(r1.details).toMatch(/\(EXPIRED, exit 84\)/);
    const other = approveHere({ action: "restart_service", params, impact: "MEDIUM", host: "db1.test" });
    const r2 = await callStream(client("operator"), "restartService", { ...params, approval: other }, 20_000);
    expect(r2.details).toMatch(/\(OTHER_HOST, exit 85\)/);
    expect(helperAudits().slice(-2).map((a) => [a.code, a.spawns])).toEqual([
      ["EXPIRED", 0],
      ["OTHER_HOST", 0],
    ]);
  });

  it("no approval → PERMISSION_DENIED from the agent, helper not started", async () => {
    const before = helperAudits().length;
    const r = await callStream(client("operator"), "rotateLogs", {});
    expect(r.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(r.details).toMatch(/rotate_logs needs an approval/);
    expect(helperAudits().length).toBe(before);
  });
});

describe("ActionRecordsService/PreviewAction on the operator agent (helper in direct mode)", () => {
  function preview(kind: "reader" | "operator", action: string, params: unknown): Promise<{ code: grpc.status; details?: string; json?: string }> {
    const c = new ActionRecordsServiceClient(agent.address, clientCredentials(pki, kind));
    clients.push(c);
    return new Promise((resolve) => {
      c.previewAction({ action, parametersJson: JSON.stringify(params) }, (err, reply) => resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, json: reply.json }));
    });
  }

  it("answers with the host's preview (validated by the broker's schema): the facts the plan is rendered from", async () => {
    const r = await preview("operator", "restart_service", { unit: "nginx" });
    expect(r.code, r.details).toBe(grpc.status.OK);
    const p = actionPreview.parse(JSON.parse(r.json!));
    expect(p).toMatchObject({ action: "restart_service", facts: { unit: "nginx.service", systemd: false } });
    expect(p.summary.join("\n")).toMatch(/needs systemd, which is not running on this host/);
    expect(helperAudits().at(-1)).toMatchObject({ event: "previewed", action: "restart_service", params: { unit: "nginx.service" } });
  });

  it("refuses an unknown action, bad parameters (naming the field) and a unit off the allowlist; a reader certificate is refused", async () => {
    const before = helperAudits().length;
    expect(await preview("operator", "rm_rf", {})).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/invalid argument "action"/) });
    expect(await preview("operator", "restart_service", { unit: "--force" })).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/invalid argument "unit"/) });
    expect(await preview("operator", "vacuum_journal", { by: "size", maxBytes: 1 })).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/maxBytes/) });
    expect(helperAudits().length).toBe(before);
    expect(await preview("operator", "restart_service", { unit: "sshd" })).toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: expect.stringMatching(/NOT_ALLOWLISTED.*sshd\.service is not on this host's allowlist/) });
    expect(await preview("reader", "restart_service", { unit: "nginx" })).toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: expect.stringMatching(/role reader may not call hostward\.v1\.ActionRecordsService/) });
  });
});
