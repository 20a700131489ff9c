// Traces, in process: a tool call through the real sdk.ts path (the broker's MCP surface behind the
// SDK's fetch handler, driven by the SDK's Client) with tracing started over the SDK's
// InMemorySpanExporter. The host is unreachable: its host call fails, and its span says so.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/client";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createBroker, type Broker } from "../../broker/src/broker";
import { createMcpFetch } from "../../broker/src/mcp/sdk";
import { brokerSurface } from "../../broker/src/mcp/tools/index";
import { startTracing, tracingOn, type Tracing } from "../../shared/tracing";
import { createTestPki } from "../support/pki";
import { createBrokerDir } from "./helpers/broker-dir";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";

let dir: string;
let broker: Broker;
let mcp: ReturnType<typeof createMcpFetch>;
let tracing: Tracing;
const exporter = new InMemorySpanExporter();

async function connect(): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL("http://127.0.0.1/mcp"), {
    fetch: (url, init) => mcp.fetch(new Request(url, init), { token: "t", label: "test" }),
  });
  const client = new Client({ name: "tracing-test", version: "0.0.1" });
  await client.connect(transport);
  return client;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hw-trace-"));
  const pki = await createTestPki(join(dir, "pki"));
  const bd = createBrokerDir(join(dir, "cfg"), pki);
  // Port 1 on loopback: refused at once, so the host call ends UNAVAILABLE.
  bd.writeHosts([{ name: "web1", port: 1 }]);
  bd.writePolicy([{ target: "*", allow: ["*"] }]);
  bd.writeBroker({ fanout: { concurrency: 4, hostTimeoutMs: 3000 } });
  broker = createBroker(bd.dir);
  tracing = startTracing({ otlpEndpoint: "http://127.0.0.1:9/v1/traces" }, "hostward-broker", new SimpleSpanProcessor(exporter));
  mcp = createMcpFetch({ name: "hostward", version: "0.0.0" }, brokerSurface(broker), () => undefined);
});

afterAll(async () => {
  await mcp?.close();
  await tracing?.shutdown();
  broker?.pool.close();
  await broker?.audit.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => exporter.reset());

function byName(spans: ReadableSpan[], prefix: string): ReadableSpan[] {
  return spans.filter((s) => s.name.startsWith(prefix));
}

describe("traces of a tool call", () => {
  it("a tools/call span per the MCP conventions, with a host-call child", async () => {
    expect(tracingOn()).toBe(true);
    const client = await connect();
    await client.callTool({ name: "get_load", arguments: { target: "web1" } });
    await client.close();
    const spans = exporter.getFinishedSpans();
    const [tool] = byName(spans, "tools/call ");
    expect(tool?.name).toBe("tools/call get_load");
    expect(tool?.kind).toBe(1); // SERVER
    expect(tool?.attributes).toMatchObject({
      "mcp.method.name": "tools/call",
      "gen_ai.tool.name": "get_load",
      "gen_ai.operation.name": "execute_tool",
      "network.transport": "tcp",
    });
    expect(typeof tool?.attributes["mcp.session.id"]).toBe("string");
    expect(tool?.parentSpanContext).toBeUndefined();
    const [host] = byName(spans, "host_call ");
    expect(host?.name).toBe("host_call get_load");
    expect(host?.kind).toBe(2); // CLIENT
    expect(host?.spanContext().traceId).toBe(tool?.spanContext().traceId);
    expect(host?.parentSpanContext?.spanId).toBe(tool?.spanContext().spanId);
    expect(host?.attributes).toMatchObject({ "hostward.host.name": "web1", "gen_ai.tool.name": "get_load", "hostward.outcome": "UNAVAILABLE" });
    expect(typeof host?.attributes["hostward.duration_ms"]).toBe("number");
  });

  it("the request's _meta.traceparent becomes the tool span's parent (same trace id)", async () => {
    const client = await connect();
    await client.callTool({ name: "get_load", arguments: { target: "web1" }, _meta: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`, tracestate: "vendor=x" } });
    await client.close();
    const spans = exporter.getFinishedSpans();
    const [tool] = byName(spans, "tools/call ");
    const [host] = byName(spans, "host_call ");
    expect(tool?.spanContext().traceId).toBe(TRACE_ID);
    expect(tool?.parentSpanContext?.spanId).toBe(PARENT_ID);
    expect(tool?.spanContext().traceState?.get("vendor")).toBe("x");
    expect(host?.spanContext().traceId).toBe(TRACE_ID);
  });

  it("a malformed traceparent is ignored: a new trace starts", async () => {
    const client = await connect();
    await client.callTool({ name: "get_load", arguments: { target: "web1" }, _meta: { traceparent: "00-not-a-trace-01" } });
    await client.close();
    const [tool] = byName(exporter.getFinishedSpans(), "tools/call ");
    expect(tool?.parentSpanContext).toBeUndefined();
    expect(tool?.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe("the tracing section (broker.yaml, agent.yaml)", () => {
  it("is off when absent, and takes http(s) endpoints only", async () => {
    const { BrokerFileSchema } = await import("../../broker/src/config/schema");
    const { AgentConfigSchema } = await import("../../agent/src/config");
    for (const schema of [BrokerFileSchema, AgentConfigSchema]) {
      expect(schema.parse({}).tracing).toBeUndefined();
      expect(schema.parse({ tracing: { otlpEndpoint: "https://otel.example.org/v1/traces", serviceName: "b" } }).tracing).toEqual({
        otlpEndpoint: "https://otel.example.org/v1/traces",
        serviceName: "b",
      });
      for (const bad of ["file:///tmp/x", "grpc://127.0.0.1:4317", "not a url"]) expect(schema.safeParse({ tracing: { otlpEndpoint: bad } }).success).toBe(false);
      expect(schema.safeParse({ tracing: { otlpEndpoint: "http://x/v1/traces", extra: 1 } }).success).toBe(false);
    }
  });
});
