// Identity (layer 2 of the brief): the built agents over real mutual TLS on loopback. Every
// certificate that does not prove exactly one known role, from our CA, for client authentication,
// is refused; a role calling the other role's service is refused; a good reader certificate works.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash, X509Certificate } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HealthService, ServingStatus } from "../../agent/src/server/health";
import { diagnostics } from "../../proto/catalog/diagnostics/index";
import { catalogHash } from "../../proto/catalog/hash";
import { actionsClient, callStream, callUnary, diagnosticsClient, startAgent, type LogLine, type TestAgent } from "../support/agent";
import { clientCredentials, createTestPki, type ClientKind, type TestPki } from "../support/pki";

let dir: string;
let pki: TestPki;
let reader: TestAgent;
let operator: TestAgent;
const clients: grpc.Client[] = [];

function track<C extends grpc.Client>(client: C): C {
  clients.push(client);
  return client;
}

function fingerprint(kind: ClientKind): string {
  return `sha256:${createHash("sha256").update(new X509Certificate(pki.clients[kind].cert).raw).digest("hex")}`;
}

function linesFor(agent: TestAgent, kind: ClientKind): LogLine[] {
  const fp = fingerprint(kind);
  return agent.rpcLines().filter((l) => (l.caller as { fingerprint: string | null }).fingerprint === fp);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hostward-mtls-"));
  pki = await createTestPki(join(dir, "pki"));
  [reader, operator] = await Promise.all([
    startAgent({ role: "reader", pki, dir: join(dir, "reader") }),
    startAgent({ role: "operator", pki, dir: join(dir, "operator") }),
  ]);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all([reader?.stop(), operator?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe("a good reader certificate", () => {
  it("calls get_load and the agent logs one rpc line with the caller's identity", async () => {
    const result = await callUnary(track(diagnosticsClient(reader, pki, "reader")), "getLoad", {});
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const load = JSON.parse(result.value.json) as Record<string, number>;
    expect(load.cpus).toBeGreaterThan(0);
    expect(typeof load.load1).toBe("number");

    const line = await reader.waitForLine((l) => l.msg === "rpc" && l.method === "GetLoad" && l.outcome === "OK");
    expect(line).toMatchObject({
      service: "hostward.v1.DiagnosticsService",
      caller: { fingerprint: fingerprint("reader"), cn: "test-reader", role: "reader" },
      spawns: 0,
    });
    expect(line.argDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(typeof line.durationMs).toBe("number");
  });

  it("get_agent_info reports the role and the catalog hash a broker computes from its own catalog", async () => {
    const result = await callUnary(track(diagnosticsClient(reader, pki, "reader")), "getAgentInfo", {});
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const info = JSON.parse(result.value.json) as Record<string, unknown>;
    expect(info).toMatchObject({ role: "reader", catalogHash: catalogHash(diagnostics), pid: reader.pid });
  });

  it("sees both health statuses SERVING; any role may ask", async () => {
    const Health = grpc.makeGenericClientConstructor(HealthService, "grpc.health.v1.Health");
    for (const [agent, kind, service] of [
      [reader, "reader", "hostward.v1.DiagnosticsService"],
      [reader, "operator", ""],
      [operator, "reader", "hostward.v1.ActionsService"],
    ] as const) {
      const health = track(new Health(agent.address, clientCredentials(pki, kind)));
      const result = await callUnary<{ status: ServingStatus }>(health, "check", { service });
      expect(result).toEqual({ ok: true, value: { status: ServingStatus.SERVING } });
    }
  });
});

describe("certificates that TLS itself rejects (no RPC ever reaches the agent)", () => {
  // The handshake fails, so the client sees UNAVAILABLE and the agent logs no rpc line for them.
  // serverOnly / serverAuthReader: OpenSSL verifies client certificates for the "SSL client"
  // purpose, so a serverAuth-only EKU already fails the handshake (caller.ts checks it again).
  it.each(["otherCa", "expired", "serverOnly", "serverAuthReader"] as const)("%s → handshake refused", async (kind) => {
    const result = await callUnary(track(diagnosticsClient(reader, pki, kind)), "getLoad", {}, 5_000);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.code).toBe(grpc.status.UNAVAILABLE);
    expect(linesFor(reader, kind)).toEqual([]);
  });

  it("no client certificate → handshake refused", async () => {
    const before = reader.rpcLines().length;
    const result = await callUnary(track(diagnosticsClient(reader, pki, null)), "getLoad", {}, 5_000);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.code).toBe(grpc.status.UNAVAILABLE);
    expect(reader.rpcLines().length).toBe(before);
  });
});

describe("certificates from our CA that do not prove exactly one known role", () => {
  it.each([
    ["noRole", /no role SAN URI/],
    ["twoRoles", /2 role SAN URIs; exactly one is allowed/],
    ["unknownRole", /unknown role "admin"/],
  ] as const)("%s → PERMISSION_DENIED, logged with the reason, nothing run", async (kind, reason) => {
    const result = await callUnary(track(diagnosticsClient(reader, pki, kind)), "getLoad", {});
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(result.details).toMatch(reason);
    const line = await reader.waitForLine((l) => l.msg === "rpc" && (l.caller as { fingerprint: string }).fingerprint === fingerprint(kind));
    expect(line).toMatchObject({ method: "GetLoad", outcome: "PERMISSION_DENIED", argDigest: null, spawns: 0 });
    expect(line.error).toMatch(reason);
  });
});

describe("a role calling the other role's service", () => {
  it("reader certificate → ActionsService on the operator agent is refused", async () => {
    const result = await callStream(track(actionsClient(operator, pki, "reader")), "restartService", { unit: "nginx.service" });
    expect(result.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(result.details).toMatch(/role reader may not call hostward\.v1\.ActionsService/);
    const line = await operator.waitForLine((l) => l.msg === "rpc" && l.method === "RestartService" && l.outcome === "PERMISSION_DENIED");
    expect(line.caller).toMatchObject({ role: "reader" });
  });

  it("operator certificate → DiagnosticsService on the reader agent is refused", async () => {
    const result = await callUnary(track(diagnosticsClient(reader, pki, "operator")), "getLoad", {});
    expect(result).toMatchObject({ ok: false, code: grpc.status.PERMISSION_DENIED });
    if (!result.ok) expect(result.details).toMatch(/role operator may not call hostward\.v1\.DiagnosticsService/);
  });

  it("operator certificate → ActionsService passes authorisation (and is refused for lack of an approval)", async () => {
    const result = await callStream(track(actionsClient(operator, pki, "operator")), "rebootSystem", {});
    expect(result.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(result.details).toMatch(/reboot_system needs an approval/);
  });

  it("the operator agent does not serve DiagnosticsService at all", async () => {
    const result = await callUnary(track(diagnosticsClient(operator, pki, "reader")), "getLoad", {});
    expect(result).toMatchObject({ ok: false, code: grpc.status.UNIMPLEMENTED });
  });
});
