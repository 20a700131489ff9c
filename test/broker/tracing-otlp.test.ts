// Traces end to end: the BUILT broker (`hostward serve`, the SDK's Client over stdio) and a REAL
// reader agent (the built bundle), both with tracing on, exporting OTLP/HTTP JSON to a receiver in
// this test. One tool call with `_meta.traceparent` → the broker's tool span and host span and the
// agent's server span, all in the given trace, the agent's span a child of the broker's host span.
// With tracing off (broker and agent), nothing reaches the receiver.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, type TestAgent } from "../support/agent";
import { ensureNode18 } from "../support/node18";
import { createTestPki, type TestPki } from "../support/pki";
import { createBrokerDir } from "./helpers/broker-dir";
import { connectBroker, type BrokerSession } from "./helpers/mcp-client";

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: Array<{ key: string; value: Record<string, unknown> }>;
}
interface Received {
  service: string;
  span: OtlpSpan;
}

const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID = "b7ad6b7169203331";

let dir: string;
let pki: TestPki;
let receiver: Server;
let endpoint: string;
const received: Received[] = [];
const posts: string[] = [];
const stops: Array<() => Promise<unknown>> = [];

function attr(span: OtlpSpan, key: string): unknown {
  const v = span.attributes?.find((a) => a.key === key)?.value;
  return v && Object.values(v)[0];
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what} not received within ${timeoutMs} ms; received: ${JSON.stringify(received.map((r) => [r.service, r.span.name]))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hw-otlp-"));
  pki = await createTestPki(join(dir, "pki"));
  // The OTLP/HTTP receiver: POST /v1/traces, JSON (the exporter's default encoding).
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString("utf8")));
    req.on("end", () => {
      posts.push(`${req.method} ${req.url} ${req.headers["content-type"]}`);
      if (req.method === "POST" && req.url === "/v1/traces") {
        const doc = JSON.parse(body) as {
          resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
        };
        for (const rs of doc.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue ?? "?";
          for (const ss of rs.scopeSpans) for (const span of ss.spans) received.push({ service, span });
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/v1/traces`;
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

async function fleet(name: string, tracing: boolean, node?: string): Promise<{ agent: TestAgent; broker: BrokerSession }> {
  const agent = await startAgent({ role: "reader", pki, dir: join(dir, `${name}-agent`), config: tracing ? { tracing: { otlpEndpoint: endpoint } } : {}, ...(node && { node }) });
  stops.push(() => agent.stop());
  const bd = createBrokerDir(join(dir, `${name}-cfg`), pki);
  bd.writeHosts([{ name: "web1", port: agent.port }]);
  bd.writePolicy([{ target: "*", allow: ["*"] }]);
  bd.writeBroker(tracing ? { tracing: { otlpEndpoint: endpoint, serviceName: "broker-under-test" } } : {});
  const broker = await connectBroker(bd.dir, join(dir, `${name}-home`));
  stops.push(() => broker.close());
  return { agent, broker };
}

describe("OTLP export", () => {
  it("with tracing off, nothing is sent", async () => {
    const { agent, broker } = await fleet("off", false);
    const r = await broker.client.callTool({ name: "get_load", arguments: { target: "web1" }, _meta: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` } });
    expect(r.isError).toBeFalsy();
    await broker.close();
    await agent.stop();
    // Both processes have exited (a traced one exports what it holds at exit): nothing came.
    await new Promise((r) => setTimeout(r, 1500));
    expect(posts).toEqual([]);
  });

  it("the broker's tool and host spans and the agent's server span share the client's trace", async () => {
    const { broker } = await fleet("on", true);
    const r = await broker.client.callTool({ name: "get_load", arguments: { target: "web1" }, _meta: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` } });
    expect(r.isError).toBeFalsy();
    const inTrace = (pred: (r: Received) => boolean) => () => received.find((x) => x.span.traceId === TRACE_ID && pred(x));
    const tool = await until("the tool span", inTrace((x) => x.span.name === "tools/call get_load"));
    const host = await until("the host span", inTrace((x) => x.span.name === "host_call get_load"));
    const agentSpan = await until("the agent's span", inTrace((x) => x.span.name === "hostward.v1.DiagnosticsService/GetLoad"));
    expect(posts.every((p) => p.startsWith("POST /v1/traces application/json"))).toBe(true);

    expect(tool.service).toBe("broker-under-test");
    expect(tool.span.parentSpanId).toBe(PARENT_ID);
    expect(tool.span.kind).toBe(2); // OTLP SPAN_KIND_SERVER
    expect(attr(tool.span, "mcp.method.name")).toBe("tools/call");
    expect(attr(tool.span, "gen_ai.tool.name")).toBe("get_load");
    expect(attr(tool.span, "network.transport")).toBe("pipe");

    expect(host.service).toBe("broker-under-test");
    expect(host.span.parentSpanId).toBe(tool.span.spanId);
    expect(host.span.kind).toBe(3); // SPAN_KIND_CLIENT
    expect(attr(host.span, "hostward.host.name")).toBe("web1");
    expect(attr(host.span, "hostward.outcome")).toBe("OK");

    expect(agentSpan.service).toBe("hostward-reader");
    expect(agentSpan.span.parentSpanId).toBe(host.span.spanId);
    expect(agentSpan.span.kind).toBe(2);
    expect(attr(agentSpan.span, "rpc.method")).toBe("GetLoad");
    expect(attr(agentSpan.span, "hostward.outcome")).toBe("OK");
  });

  it("an agent on Node 18 (the distributions' nodejs) continues the trace too", async () => {
    const traceId = "1bf92f3577b34da6a3ce929d0e0e4799";
    const { broker } = await fleet("node18", true, ensureNode18());
    const r = await broker.client.callTool({ name: "get_load", arguments: { target: "web1" }, _meta: { traceparent: `00-${traceId}-${PARENT_ID}-01` } });
    expect(r.isError).toBeFalsy();
    const inTrace = (name: string) => () => received.find((x) => x.span.traceId === traceId && x.span.name === name);
    const host = await until("the host span", inTrace("host_call get_load"));
    const agentSpan = await until("the Node 18 agent's span", inTrace("hostward.v1.DiagnosticsService/GetLoad"));
    expect(agentSpan.span.parentSpanId).toBe(host.span.spanId);
  });
});
