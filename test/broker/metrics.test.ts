// The broker's Prometheus metrics (issue 16), scraped by a real Prometheus (Debian's `prometheus`):
// the built broker serving HTTP, a real reader agent behind it, tool calls through the SDK's HTTP
// client, then Prometheus' own query API must show the series with the calls' labels and counts.
// /metrics needs the bearer token, and scraping writes nothing to the audit log.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../broker/src/logger";
import { startHttpServer } from "../../broker/src/mcp/http";
import { startAgent, type TestAgent } from "../support/agent";
import { createTestPki, type TestPki } from "../support/pki";
import { brokerEnv, createBrokerDir, spawnHttpBroker, type BrokerDir } from "./helpers/broker-dir";

const PROMETHEUS = "/usr/bin/prometheus";
const TOKEN = "metrics-token-0123456789abcdef";

let dir: string;
let pki: TestPki;
let agent: TestAgent;
let bd: BrokerDir;
let broker: { child: ChildProcess; url: string; stdout: () => string };
let prometheus: { child: ChildProcess; url: string; output: () => string } | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

async function startBroker(): Promise<typeof broker> {
  const { child, url, stdout } = await spawnHttpBroker(bd.dir, brokerEnv(dir, { HOSTWARD_HTTP_TOKEN: TOKEN }));
  return { child, url, stdout };
}

async function poll<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms (${String(last)})\n${prometheus?.output() ?? ""}`);
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(q: string): Promise<Sample[]> {
  const r = await fetch(`${prometheus!.url}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = (await r.json()) as { status: string; data: { resultType: string; result: Sample[] } };
  expect(body.status).toBe("success");
  return body.data.result;
}

beforeAll(async () => {
  if (!existsSync(PROMETHEUS)) throw new Error(`${PROMETHEUS} is missing: apt-get install -y --no-install-recommends prometheus (.ci/run installs it)`);
  dir = mkdtempSync(join(tmpdir(), "hw-metrics-"));
  pki = await createTestPki(join(dir, "pki"));
  agent = await startAgent({ role: "reader", pki, dir: join(dir, "agent") });
  bd = createBrokerDir(join(dir, "cfg"), pki);
  bd.writeHosts([
    { name: "web1", port: agent.port, tags: ["web"] },
    // Nothing listens on port 9: this host's call fails (UNAVAILABLE).
    { name: "down1", port: 9 },
    { name: "denied1", port: agent.port },
  ]);
  bd.writePolicy([
    { target: "*", allow: ["*"] },
    { target: "denied1", deny: ["*"] },
  ]);
  broker = await startBroker();

  const port = await freePort();
  const promDir = join(dir, "prometheus");
  mkdirSync(promDir);
  const brokerUrl = new URL(broker.url);
  // JSON is YAML.
  writeFileSync(
    join(promDir, "prometheus.yml"),
    JSON.stringify({
      global: { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" },
      scrape_configs: [{ job_name: "hostward", metrics_path: "/metrics", authorization: { type: "Bearer", credentials: TOKEN }, static_configs: [{ targets: [brokerUrl.host] }] }],
    }),
  );
  const child = spawn(PROMETHEUS, [`--config.file=${join(promDir, "prometheus.yml")}`, `--storage.tsdb.path=${join(promDir, "data")}`, `--web.listen-address=127.0.0.1:${port}`], {
    cwd: promDir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
  prometheus = { child, url: `http://127.0.0.1:${port}`, output: () => output };
  await poll("Prometheus ready", async () => ((await fetch(`${prometheus!.url}/-/ready`)).ok ? true : undefined));
}, 60_000);

afterAll(async () => {
  if (prometheus) {
    prometheus.child.kill("SIGTERM");
    await exited(prometheus.child);
  }
  if (broker) {
    broker.child.kill("SIGTERM");
    await exited(broker.child);
    expect(broker.stdout()).toBe(""); // stdout stays the MCP channel: nothing printed in HTTP mode
  }
  await agent?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe("broker metrics scraped by Prometheus", () => {
  it("GET /metrics without the bearer token is 401; with it, the exposition", async () => {
    const metricsUrl = new URL("/metrics", broker.url).toString();
    const anonymous = await fetch(metricsUrl);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).not.toContain("hostward_");
    expect((await fetch(metricsUrl, { headers: { authorization: "Bearer wrong-wrong-wrong-wrong" } })).status).toBe(401);
    const r = await fetch(metricsUrl, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    expect(text).toMatch(/^hostward_client_certificate_expiry_seconds\{role="reader"\} \d+$/m);
    expect(text).toMatch(/^hostward_pending_approvals\{kind="action",state="PENDING"\} 0$/m);
    expect(text).toContain("# TYPE hostward_host_call_duration_seconds histogram");
  });

  it("tool calls show in Prometheus by tool, host and outcome; scraping writes no audit record", async () => {
    const client = new Client({ name: "metrics-test", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(broker.url), { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } }));
    try {
      for (let i = 0; i < 2; i++) {
        const r = await client.callTool({ name: "get_agent_info", arguments: { target: "web1" } });
        expect(r.isError).toBeFalsy();
      }
      const all = await client.callTool({ name: "get_agent_info", arguments: { target: "*", view: "hosts" } });
      expect(all.isError).toBeFalsy();
      const results = (all.structuredContent as { results: Array<{ host: string; ok: boolean; error?: { code: string } }> }).results;
      const downCode = results.find((x) => x.host === "down1")!.error!.code;
      expect(results.find((x) => x.host === "denied1")!.error!.code).toBe("POLICY_DENIED");
      expect(results.find((x) => x.host === "web1")!.ok).toBe(true);
      await client.callTool({ name: "list_hosts", arguments: {} });

      const auditAfterCalls = bd.audit().length;
      const series = await poll("hostward_tool_calls_total in Prometheus", async () => {
        const s = await query("hostward_tool_calls_total");
        return s.length >= 3 && s.some((x) => x.metric.host === "web1" && x.value[1] === "3") ? s : undefined;
      });
      const byHost = Object.fromEntries(series.map((x) => [`${x.metric.tool}/${x.metric.host}/${x.metric.outcome}`, Number(x.value[1])]));
      expect(byHost).toEqual({ "get_agent_info/web1/OK": 3, [`get_agent_info/down1/${downCode}`]: 1, "get_agent_info/denied1/POLICY_DENIED": 1 });
      for (const x of series) expect(x.metric).toMatchObject({ job: "hostward", instance: new URL(broker.url).host });

      const durations = await query('hostward_host_call_duration_seconds_count{host="web1"}');
      expect(durations.map((x) => [x.metric.tool, x.value[1]])).toEqual([["get_agent_info", "3"]]);
      // The denied host was never called: no duration.
      expect(await query('hostward_host_call_duration_seconds_count{host="denied1"}')).toEqual([]);
      const invocations = Object.fromEntries((await query("hostward_tool_invocations_total")).map((x) => [`${x.metric.tool}/${x.metric.outcome}`, x.value[1]]));
      expect(invocations).toMatchObject({ "get_agent_info/ok": "3", "list_hosts/ok": "1" });
      const appends = await query("hostward_audit_appends_total");
      expect(Number(appends[0]!.value[1])).toBeGreaterThan(0);
      expect((await query("hostward_audit_append_failures_total")).every((x) => x.value[1] === "0")).toBe(true);
      const expiry = await query('hostward_client_certificate_expiry_seconds{role="reader"}');
      expect(Number(expiry[0]!.value[1])).toBeGreaterThan(3600);
      expect((await query("up")).map((x) => x.value[1])).toEqual(["1"]);

      // Several more scrapes (1 s apart), and the audit log has not grown.
      const scrapes = async () => Number((await query('count_over_time(up{job="hostward"}[1m])'))[0]?.value[1] ?? 0);
      const before = await scrapes();
      await poll("three more scrapes", async () => ((await scrapes()) >= before + 3 ? true : undefined));
      expect(bd.audit().length).toBe(auditAfterCalls);
      expect(bd.audit().filter((r) => JSON.stringify(r).includes("/metrics"))).toEqual([]);
    } finally {
      await client.close();
    }
  }, 90_000);

  it("the agent's own counters come back through get_agent_metrics (a diagnostic: no port, no file on the host)", async () => {
    const client = new Client({ name: "metrics-test", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(broker.url), { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } }));
    try {
      const r = await client.callTool({ name: "get_agent_metrics", arguments: { target: "web1" } });
      expect(r.isError).toBeFalsy();
      const data = (r.structuredContent as { results: Array<{ data: { calls: Array<{ method: string; outcome: string; count: number }>; callsTotal: number; refusals: number; spawns: number; role: string } }> }).results[0]!.data;
      expect(data.role).toBe("reader");
      // The three get_agent_info calls that reached web1 (denied1 was never called); this call is not counted yet.
      expect(data.calls).toContainEqual({ method: "GetAgentInfo", outcome: "OK", count: 3 });
      expect(data.calls.some((c) => c.method === "GetAgentMetrics")).toBe(false);
      expect(data.refusals).toBe(0);
      expect(data.spawns).toBe(0);
    } finally {
      await client.close();
    }
  });
});

describe("GET /metrics on the HTTP listener (in process)", () => {
  async function listen(isPublic: boolean) {
    let mcpCalls = 0;
    const started = await startHttpServer(
      async (_req, res) => {
        mcpCalls += 1;
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
      },
      {
        host: "127.0.0.1",
        port: 0,
        token: { value: TOKEN, label: "test" },
        users: () => [],
        allowedHosts: ["127.0.0.1", "localhost"],
        logger: createLogger({ level: "silent" }),
        metrics: { render: async () => ({ contentType: "text/plain; version=0.0.4; charset=utf-8", body: "hostward_test 1\n" }), isPublic: () => isPublic },
      },
    );
    return { started, base: `http://127.0.0.1:${started.port}`, mcpCalls: () => mcpCalls };
  }

  it("public: served without the token, the Host check still applies, never reaches MCP; /mcp still needs the token", async () => {
    const { started, base, mcpCalls } = await listen(true);
    try {
      const open = await fetch(`${base}/metrics`);
      expect(open.status).toBe(200);
      expect(await open.text()).toBe("hostward_test 1\n");
      const foreign = await new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: "127.0.0.1", port: started.port, path: "/metrics", headers: { host: "evil.example" } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end();
      });
      expect(foreign).toBe(403);
      expect((await fetch(`${base}/metrics`, { method: "POST", body: "x" })).status).toBe(405);
      expect((await fetch(`${base}/mcp`, { method: "POST", body: "{}" })).status).toBe(401);
      expect(mcpCalls()).toBe(0);
    } finally {
      await new Promise<void>((resolve) => started.server.close(() => resolve()));
    }
  });

  it("not public (the default): 401 without the token", async () => {
    const { started, base } = await listen(false);
    try {
      expect((await fetch(`${base}/metrics`)).status).toBe(401);
      expect((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    } finally {
      await new Promise<void>((resolve) => started.server.close(() => resolve()));
    }
  });
});
