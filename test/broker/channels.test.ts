// Broker → agent channels (broker/src/agents): real grpc-js server on 127.0.0.1 with real mTLS
// certificates from the PKI library. The server here stands in for an agent only where a real
// agent cannot be made to misbehave (malformed replies, hangs, arbitrary status codes); everything
// else is exercised against the real agent bundle in mcp-stdio.test.ts.
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getLoad } from "../../proto/catalog/diagnostics/system";
import { DiagnosticsServiceService } from "../../proto/gen/hostward/v1/diagnostics";
import { ChannelPool, grpcTarget, type ChannelHost } from "../../broker/src/agents/channels";
import { callDiagnostic, parseReply } from "../../broker/src/agents/diagnostic-call";
import { HostCallError } from "../../broker/src/agents/errors";
import {
  deserializeHealthCheckRequest,
  deserializeHealthCheckResponse,
  HEALTH_CHECK_PATH,
  serializeHealthCheckRequest,
  serializeHealthCheckResponse,
} from "../../broker/src/agents/health";
import { configFiles } from "../../broker/src/paths";
import { createTestPki, type TestPki } from "../support/pki";
import { publicKeyFingerprint } from "../../shared/cert-names";

const LOAD = { load1: 0.5, load5: 0.25, load15: 0.125, cpus: 2, runnable: 1, tasks: 100, uptimeSeconds: 42 };

let dir: string;
let pki: TestPki;
let server: grpc.Server;
let port: number;
let reply: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<{ json: string }>) => void;
const peers: string[] = [];

function tlsDir(into: string): ReturnType<typeof configFiles> {
  const files = configFiles(into);
  mkdirSync(files.tlsDir, { recursive: true });
  copyFileSync(pki.files.ca, files.caCert);
  copyFileSync(pki.clients.reader.certFile, files.clientCert("reader"));
  copyFileSync(pki.clients.reader.keyFile, files.clientKey("reader"));
  return files;
}

const host = (over: Partial<ChannelHost> = {}): ChannelHost => ({
  name: "agent1",
  address: "127.0.0.1",
  ports: { reader: port, operator: 1 },
  certName: "localhost",
  ...over,
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hw-channels-"));
  pki = await createTestPki(join(dir, "pki"));
  server = new grpc.Server();
  server.addService(DiagnosticsServiceService, {
    getLoad: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<{ json: string }>) => {
      peers.push(call.getPeer());
      reply(call, cb);
    },
  } as unknown as grpc.UntypedServiceImplementation);
  server.addService(
    {
      check: {
        path: HEALTH_CHECK_PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: serializeHealthCheckRequest,
        requestDeserialize: deserializeHealthCheckRequest,
        responseSerialize: serializeHealthCheckResponse,
        responseDeserialize: deserializeHealthCheckResponse,
      },
    },
    {
      check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, cb: grpc.sendUnaryData<{ status: string }>) =>
        cb(null, { status: call.request.service === "hostward.v1.DiagnosticsService" ? "SERVING" : "SERVICE_UNKNOWN" }),
    } as unknown as grpc.UntypedServiceImplementation,
  );
  const creds = grpc.ServerCredentials.createSsl(
    Buffer.from(pki.ca.cert),
    [{ cert_chain: Buffer.from(pki.agents.reader.cert), private_key: Buffer.from(pki.agents.reader.key) }],
    true,
  );
  port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", creds, (err, p) => (err ? reject(err) : resolve(p))));
});

afterAll(() => {
  server.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
});

async function expectHostError(p: Promise<unknown>, code: string, message?: RegExp): Promise<HostCallError> {
  const err = await p.then(
    () => {
      throw new Error("expected a failure");
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HostCallError);
  expect((err as HostCallError).code).toBe(code);
  if (message) expect((err as HostCallError).message).toMatch(message);
  return err as HostCallError;
}

describe("the agent's certificate is its role's (issue 11: each role its own key)", () => {
  const method = { path: HEALTH_CHECK_PATH, requestSerialize: serializeHealthCheckRequest, responseDeserialize: deserializeHealthCheckResponse };

  it("the reader's certificate on the port the broker reaches as operator is refused in the handshake", async () => {
    const files = tlsDir(join(dir, "roles"));
    copyFileSync(pki.clients.operator.certFile, files.clientCert("operator"));
    copyFileSync(pki.clients.operator.keyFile, files.clientKey("operator"));
    const pool = new ChannelPool(files, { maxReceiveBytes: 1 << 20 });
    // This server presents the reader's certificate (urn:hostward:role:reader).
    await expectHostError(pool.unary(host({ ports: { reader: port, operator: port } }), "operator", method, { service: "" }, 5000), "UNAVAILABLE", /presented the reader role's certificate/);
    expect(pool.peerKey(host(), "operator")).toBeUndefined();
    // Reached as the reader it is accepted, and the key it proved is remembered.
    expect(await pool.unary(host(), "reader", method, { service: "" }, 5000)).toMatchObject({ status: expect.any(String) });
    expect(pool.peerKey(host(), "reader")).toBe(publicKeyFingerprint(new X509Certificate(pki.agents.reader.cert)));
    pool.close();
  });
});

describe("calls over mTLS", () => {
  it("calls a diagnostic and validates the reply", async () => {
    reply = (_c, cb) => cb(null, { json: JSON.stringify(LOAD) });
    const pool = new ChannelPool(tlsDir(join(dir, "c1")), { maxReceiveBytes: 1 << 20 });
    expect(await callDiagnostic({ pool, host: host(), def: getLoad, input: {}, timeoutMs: 5000, callId: "t" })).toEqual(LOAD);
    pool.close();
  });

  it("keeps one channel per host and role, reused across calls (same TCP connection)", async () => {
    reply = (_c, cb) => cb(null, { json: JSON.stringify(LOAD) });
    const pool = new ChannelPool(tlsDir(join(dir, "c2")), { maxReceiveBytes: 1 << 20 });
    peers.length = 0;
    const first = pool.client(host(), "reader");
    for (let i = 0; i < 3; i++) await callDiagnostic({ pool, host: host(), def: getLoad, input: {}, timeoutMs: 5000, callId: "t" });
    expect(pool.client(host(), "reader")).toBe(first);
    expect(pool.size).toBe(1);
    expect(new Set(peers).size).toBe(1);
    // A changed address or certificate name gets a new channel; forget() closes it.
    const moved = pool.client(host({ certName: "127.0.0.1" }), "reader");
    expect(moved).not.toBe(first);
    pool.forget(["agent1"]);
    expect(pool.size).toBe(0);
    pool.close();
  });

  it("strips fields the catalog does not declare", async () => {
    reply = (_c, cb) => cb(null, { json: JSON.stringify({ ...LOAD, secret: "x" }) });
    const pool = new ChannelPool(tlsDir(join(dir, "c3")), { maxReceiveBytes: 1 << 20 });
    const data = await callDiagnostic({ pool, host: host(), def: getLoad, input: {}, timeoutMs: 5000, callId: "t" });
    expect(data).not.toHaveProperty("secret");
    pool.close();
  });

  it("health check round trip", async () => {
    const pool = new ChannelPool(tlsDir(join(dir, "c4")), { maxReceiveBytes: 1 << 20 });
    const method = { path: HEALTH_CHECK_PATH, requestSerialize: serializeHealthCheckRequest, responseDeserialize: deserializeHealthCheckResponse };
    expect(await pool.unary(host(), "reader", method, { service: "hostward.v1.DiagnosticsService" }, 5000)).toEqual({ status: "SERVING" });
    expect(await pool.unary(host(), "reader", method, { service: "x" }, 5000)).toEqual({ status: "SERVICE_UNKNOWN" });
    pool.close();
  });
});

describe("untrusted replies", () => {
  const pool = () => new ChannelPool(tlsDir(join(dir, "c5")), { maxReceiveBytes: 1 << 20 });

  it("invalid JSON is MALFORMED_REPLY", async () => {
    reply = (_c, cb) => cb(null, { json: "{not json" });
    const p = pool();
    await expectHostError(callDiagnostic({ pool: p, host: host(), def: getLoad, input: {}, timeoutMs: 5000, callId: "t" }), "MALFORMED_REPLY", /agent returned malformed data: not valid JSON/);
    p.close();
  });

  it("a wrong shape is MALFORMED_REPLY naming the field, never passed through", async () => {
    reply = (_c, cb) => cb(null, { json: JSON.stringify({ ...LOAD, cpus: "two" }) });
    const p = pool();
    await expectHostError(callDiagnostic({ pool: p, host: host(), def: getLoad, input: {}, timeoutMs: 5000, callId: "t" }), "MALFORMED_REPLY", /get_load: cpus: /);
    p.close();
  });

  it("parseReply caps the size and wants a JSON string", () => {
    expect(() => parseReply(getLoad, { json: JSON.stringify(LOAD) }, 10)).toThrow(/larger than 10 bytes/);
    expect(() => parseReply(getLoad, { nope: 1 })).toThrow(/carries no JSON/);
    expect(() => parseReply(getLoad, null)).toThrow(/carries no JSON/);
  });
});

describe("failures map to typed errors", () => {
  it("an agent status keeps its code and message", async () => {
    reply = (_c, cb) => cb({ code: grpc.status.INVALID_ARGUMENT, details: "unit: must not start with -" });
    const pool = new ChannelPool(tlsDir(join(dir, "c6")), { maxReceiveBytes: 1 << 20 });
    await expectHostError(callDiagnostic({ pool, host: host(), def: getLoad, input: {}, timeoutMs: 5000, callId: "t" }), "INVALID_ARGUMENT", /^unit: must not start with -$/);
    pool.close();
  });

  it("a hung agent is DEADLINE_EXCEEDED at the deadline", async () => {
    reply = () => undefined;
    const pool = new ChannelPool(tlsDir(join(dir, "c7")), { maxReceiveBytes: 1 << 20 });
    const started = Date.now();
    await expectHostError(callDiagnostic({ pool, host: host(), def: getLoad, input: {}, timeoutMs: 300, callId: "t" }), "DEADLINE_EXCEEDED", /agent1 did not answer in time/);
    expect(Date.now() - started).toBeLessThan(2000);
    pool.close();
  });

  it("nothing listening is UNAVAILABLE, quickly", async () => {
    const closed = new grpc.Server();
    const freePort = await new Promise<number>((resolve, reject) =>
      closed.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    closed.forceShutdown();
    const pool = new ChannelPool(tlsDir(join(dir, "c8")), { maxReceiveBytes: 1 << 20 });
    const started = Date.now();
    await expectHostError(
      callDiagnostic({ pool, host: host({ ports: { reader: freePort, operator: 1 } }), def: getLoad, input: {}, timeoutMs: 5000, callId: "t" }),
      "UNAVAILABLE",
      /agent1 is unreachable/,
    );
    expect(Date.now() - started).toBeLessThan(3000);
    pool.close();
  });

  it("an agent whose certificate does not carry the expected name is refused", async () => {
    reply = (_c, cb) => cb(null, { json: JSON.stringify(LOAD) });
    const pool = new ChannelPool(tlsDir(join(dir, "c9")), { maxReceiveBytes: 1 << 20 });
    await expectHostError(callDiagnostic({ pool, host: host({ certName: "web1.example.org" }), def: getLoad, input: {}, timeoutMs: 5000, callId: "t" }), "UNAVAILABLE");
    pool.close();
  });

  it("missing broker TLS files are TLS_CONFIG, naming the file", async () => {
    const files = configFiles(join(dir, "empty"));
    const pool = new ChannelPool(files, { maxReceiveBytes: 1 << 20 });
    await expectHostError(
      callDiagnostic({ pool, host: host(), def: getLoad, input: {}, timeoutMs: 5000, callId: "t" }),
      "TLS_CONFIG",
      new RegExp(`cannot read the broker's CA certificate ${files.caCert.replace(/[.]/g, "\\.")}: ENOENT`),
    );
  });
});

describe("grpcTarget", () => {
  it("brackets IPv6 literals", () => {
    expect(grpcTarget("::1", 7443)).toBe("[::1]:7443");
    expect(grpcTarget("10.0.0.1", 7443)).toBe("10.0.0.1:7443");
    expect(grpcTarget("web1.example.org", 1)).toBe("web1.example.org:1");
  });
});
