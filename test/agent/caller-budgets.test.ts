// Issue 11, deliverable 4 (the agent's side): callers are bounded. Concurrent calls per client
// certificate (another client cannot take the broker's slots), a server-side maximum call duration
// (whatever deadline the caller set, or none), a cap on open streams per connection (half-open
// streams cannot pile up), and the host's probe budget (test_connectivity, check_http: a host is
// not a scanner). The agent's real server over real mTLS (in-process wiring with gated handlers,
// as wiring.test.ts), a raw HTTP/2 client for the half-open streams, and the real handlers.
import { mkdtempSync, rmSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { networkHandlers } from "../../agent/src/diagnostics/network";
import type { DiagnosticContext } from "../../agent/src/diagnostics/context";
import { createProbeBudget } from "../../agent/src/net/probe-budget";
import { createConcurrencyLimit } from "../../agent/src/server/limiter";
import { getLoad } from "../../proto/catalog/diagnostics/system";
import { checkHttp, testConnectivity } from "../../proto/catalog/diagnostics/network";
import { issueClientCert } from "../../broker/src/pki/index";
import { DiagnosticsServiceClient } from "../../proto/gen/hostward/v1/diagnostics";
import { callUnary } from "../support/agent";
import { runDiagnostic, testContext } from "../support/diagnostics";
import { createTestPki, type TestPki } from "../support/pki";
import { startInProcess, type InProcessAgent } from "./in-process";

type AnyHandler = (input: unknown, ctx: DiagnosticContext) => Promise<unknown>;
const LOAD = { load1: 0, load5: 0, load15: 0, cpus: 1, runnable: 1, tasks: 1, uptimeSeconds: 1 };

let dir: string;
let pki: TestPki;
let agent: InProcessAgent;
let gate: Promise<void>;
let open!: () => void;
let aborted = 0;
const clients: grpc.Client[] = [];

const handlers: Record<string, AnyHandler> = {
  // Waits for the gate or for its signal (the caller's deadline, or the agent's maximum).
  get_load: (_input, ctx) =>
    new Promise((resolve) => {
      ctx.signal.addEventListener("abort", () => {
        aborted += 1;
        resolve(LOAD);
      });
      void gate.then(() => resolve(LOAD));
    }),
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hw-budgets-"));
  pki = await createTestPki(dir);
  gate = new Promise<void>((r) => (open = r));
  agent = await startInProcess({
    pki,
    wiring: { definitions: [getLoad], handlers },
    limits: { maxConcurrentCalls: 4, maxConcurrentCallsPerClient: 2, maxCallSeconds: 2, maxStreamsPerConnection: 5, maxReplyBytes: 4096 },
  });
});
afterAll(async () => {
  open();
  for (const c of clients) c.close();
  await agent?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function reader(pair: { cert: string; key: string } = pki.clients.reader): DiagnosticsServiceClient {
  const c = new DiagnosticsServiceClient(agent.address, grpc.credentials.createSsl(Buffer.from(pki.ca.cert), Buffer.from(pair.key), Buffer.from(pair.cert)));
  clients.push(c);
  return c;
}

describe("concurrent calls per client certificate", () => {
  it("the limiter counts per client inside the total", () => {
    const limit = createConcurrencyLimit(3, 2);
    const a1 = limit.tryAcquire("a");
    const a2 = limit.tryAcquire("a");
    expect(limit.tryAcquire("a")).toBe("client");
    const b1 = limit.tryAcquire("b");
    expect(limit.tryAcquire("c")).toBe("total");
    for (const r of [a1, a2, b1]) if (typeof r === "function") r();
    expect(typeof limit.tryAcquire("a")).toBe("function");
  });

  it("one client holding its share gets RESOURCE_EXHAUSTED naming the limit; another client is still served", async () => {
    gate = new Promise<void>((r) => (open = r));
    const greedy = reader();
    const held = [callUnary(greedy, "getLoad", {}, 10_000), callUnary(greedy, "getLoad", {}, 10_000)];
    await new Promise((r) => setTimeout(r, 300));
    const third = await callUnary(greedy, "getLoad", {}, 10_000);
    expect(third).toMatchObject({ ok: false, code: grpc.status.RESOURCE_EXHAUSTED });
    if (!third.ok) expect(third.details).toMatch(/this client certificate already has 2 calls in progress on this agent, its limit \(limits\.maxConcurrentCallsPerClient\)/);
    // The broker's own certificate (another client) is not starved.
    const broker = reader(await issueClientCert(pki.ca, { role: "reader", name: "the-broker" }));
    const served = callUnary(broker, "getLoad", {}, 10_000);
    await new Promise((r) => setTimeout(r, 200));
    open();
    const s1 = await served;
    expect(s1.ok, JSON.stringify(s1)).toBe(true);
    for (const r of await Promise.all(held)) expect(r.ok, JSON.stringify(r)).toBe(true);
  });
});

describe("a server-side maximum call duration", () => {
  it("a call without a deadline ends at limits.maxCallSeconds with DEADLINE_EXCEEDED, and its handler's signal fires", async () => {
    gate = new Promise<void>(() => undefined); // never opens
    const before = aborted;
    const t0 = Date.now();
    const r = await callUnary(reader(), "getLoad", {}, 60_000); // the caller allows a minute
    expect(r).toMatchObject({ ok: false, code: grpc.status.DEADLINE_EXCEEDED });
    if (!r.ok) expect(r.details).toMatch(/maximum call duration of 2 s \(limits\.maxCallSeconds\)/);
    expect(Date.now() - t0).toBeLessThan(20_000);
    for (let i = 0; i < 100 && aborted === before; i++) await new Promise((res) => setTimeout(res, 20));
    expect(aborted).toBeGreaterThan(before);
  });

  it("half-open streams (headers, never a request) end at the maximum, and a connection holds at most maxStreamsPerConnection of them", async () => {
    const session = http2.connect(`https://${agent.address}`, {
      ca: pki.ca.cert,
      cert: pki.clients.reader.cert,
      key: pki.clients.reader.key,
      servername: "localhost",
    });
    session.on("error", () => undefined);
    clients.push({ close: () => session.destroy() } as unknown as grpc.Client);
    await new Promise<void>((resolve, reject) => {
      session.once("remoteSettings", () => resolve());
      session.once("error", reject);
    });
    expect(session.remoteSettings.maxConcurrentStreams).toBe(5);
    // Eight streams, each with headers and no request: a half-open call apiece.
    const streams = Array.from({ length: 8 }, () => session.request({ ":method": "POST", ":path": "/hostward.v1.DiagnosticsService/GetLoad", "content-type": "application/grpc", te: "trailers" }, { endStream: false }));
    const statusOf = (stream: http2.ClientHttp2Stream) =>
      new Promise<string>((resolve) => {
        stream.on("response", (h) => h["grpc-status"] !== undefined && resolve(String(h["grpc-status"])));
        stream.on("trailers", (t) => resolve(String(t["grpc-status"] ?? "")));
        stream.on("error", (err: NodeJS.ErrnoException) => resolve(`error:${err.code ?? err.message}`));
      });
    const t0 = Date.now();
    const statuses = streams.map((st) => statusOf(st).then((status) => ({ status, ms: Date.now() - t0 })));
    const answered = streams.map(() => false);
    streams.forEach((st, i) => st.on("response", () => (answered[i] = true)));
    // The five the connection may hold end with DEADLINE_EXCEEDED at the agent's maximum (2 s) ...
    const first = await Promise.all(statuses.slice(0, 5));
    expect(first.map((e) => e.status)).toEqual(Array(5).fill(String(grpc.status.DEADLINE_EXCEEDED)));
    for (const e of first) expect(e.ms).toBeGreaterThanOrEqual(1_500);
    // ... while this client keeps them open, the other three get nothing (the server's
    // SETTINGS_MAX_CONCURRENT_STREAMS: five at once on a connection) ...
    await new Promise((r) => setTimeout(r, 1_000));
    expect(answered.slice(5)).toEqual([false, false, false]);
    // ... and once it lets go of the five, they are served, and end at the maximum too.
    for (const st of streams.slice(0, 5)) st.close();
    const rest = await Promise.all(statuses.slice(5));
    expect(rest.map((e) => e.status)).toEqual(Array(3).fill(String(grpc.status.DEADLINE_EXCEEDED)));
    for (const s of streams) s.close();
    session.close();
  }, 30_000);
});

describe("the host's probe budget", () => {
  it("per target and per distinct targets, over a sliding minute", () => {
    let t = 0;
    const b = createProbeBudget({ perTarget: 5, targets: 2 }, () => t);
    b.spend("10.0.0.1", 3);
    expect(() => b.spend("10.0.0.1", 3)).toThrow(/3 probes of 10\.0\.0\.1 in the last minute and 3 more asked for, over its limit \(network\.probesPerTargetPerMinute in agent\.yaml\) of 5; retry in 60 s/);
    b.spend("10.0.0.1", 2);
    b.spend("10.0.0.2", 1);
    expect(() => b.spend("10.0.0.3", 1)).toThrow(/probed 2 different targets in the last minute, its limit \(network\.probeTargetsPerMinute in agent\.yaml\) is 2/);
    t += 60_001;
    b.spend("10.0.0.3", 5); // the window moved on
  });

  it("test_connectivity and check_http (the real handlers) spend it: a port sweep and a host sweep are refused, naming the limit", async () => {
    const ctx = testContext({ config: { network: { probesPerTargetPerMinute: 12, probeTargetsPerMinute: 3 } } });
    const sweep = (host: string, ports: number[]) => runDiagnostic(networkHandlers, testConnectivity, { host, ports, timeoutMs: 500 }, ctx);
    expect((await sweep("127.0.0.1", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])).ok).toBe(true);
    const more = await sweep("127.0.0.1", [11, 12, 13]);
    expect(more.ok).toBe(false);
    if (!more.ok) expect(String((more.error as Error).message)).toMatch(/over its limit \(network\.probesPerTargetPerMinute in agent\.yaml\) of 12/);
    expect((await sweep("127.0.0.2", [22])).ok).toBe(true);
    expect((await runDiagnostic(networkHandlers, checkHttp, { url: "http://127.0.0.3:1/", timeoutMs: 500 }, ctx)).ok).toBe(true);
    const fourth = await sweep("127.0.0.4", [22]);
    expect(fourth.ok).toBe(false);
    if (!fourth.ok) expect(String((fourth.error as Error).message)).toMatch(/probed 3 different targets in the last minute, its limit \(network\.probeTargetsPerMinute in agent\.yaml\) is 3/);
    expect(fourth.spawns).toBe(0);
  });
});

