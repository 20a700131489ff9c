// `hostward serve --http`: streamable HTTP on loopback with a bearer token and Host/Origin checks.
// The real built broker, a real socket on 127.0.0.1, the SDK's real HTTP client.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestPki, type TestPki } from "../support/pki";
import { BROKER_BUNDLE, brokerEnv, createBrokerDir, spawnHttpBroker, type BrokerDir } from "./helpers/broker-dir";

const TOKEN = "test-token-0123456789abcdef";

let dir: string;
let pki: TestPki;

interface Running {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  stop(): Promise<number | null>;
}

async function startHttpBroker(bd: BrokerDir, env: Record<string, string>, listen = "127.0.0.1:0", extraArgs: string[] = []): Promise<Running> {
  const { child, url, stdout, stderr } = await spawnHttpBroker(bd.dir, brokerEnv(dir, env), { listen, args: extraArgs });
  return {
    child,
    url,
    stderr,
    async stop() {
      expect(stdout()).toBe(""); // HTTP mode prints nothing on stdout either
      child.kill("SIGTERM");
      return new Promise((resolve) => child.on("exit", (c) => resolve(c)));
    },
  };
}

/** A raw request, so headers the SDK client would never send (wrong Host, Origin) can be tried. */
function raw(url: string, headers: Record<string, string>, body: unknown): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers } },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

const INIT = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } } };

let bd: BrokerDir;
let broker: Running;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hw-http-"));
  pki = await createTestPki(join(dir, "pki"));
  bd = createBrokerDir(join(dir, "cfg"), pki);
  bd.writeHosts([{ name: "web1", port: 9, tags: ["web"] }]);
  bd.writePolicy([{ target: "*", allow: ["*"] }]);
  broker = await startHttpBroker(bd, { HOSTWARD_HTTP_TOKEN: TOKEN });
});

afterAll(async () => {
  expect(await broker.stop()).toBe(0);
  rmSync(dir, { recursive: true, force: true });
});

describe("HTTP transport", () => {
  it("listens on loopback at /mcp", () => {
    expect(broker.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
  });

  it("no token → 401 with a Bearer challenge", async () => {
    const r = await raw(broker.url, {}, INIT);
    expect(r.status).toBe(401);
    expect(r.headers["www-authenticate"]).toMatch(/^Bearer/);
    expect(r.body).toContain("bearer token is required");
  });

  it("wrong token → 401", async () => {
    expect((await raw(broker.url, { authorization: "Bearer nope-nope-nope-nope" }, INIT)).status).toBe(401);
    expect((await raw(broker.url, { authorization: `Basic ${TOKEN}` }, INIT)).status).toBe(401);
  });

  it("a foreign Host header is refused, even with the right token (DNS rebinding)", async () => {
    const r = await raw(broker.url, { authorization: `Bearer ${TOKEN}`, host: "evil.example:80" }, INIT);
    expect(r.status).toBe(403);
    expect(r.body).toContain("evil.example");
  });

  it("a foreign Origin is refused, even with the right token", async () => {
    const r = await raw(broker.url, { authorization: `Bearer ${TOKEN}`, origin: "https://evil.example" }, INIT);
    expect(r.status).toBe(403);
  });

  it("a loopback Origin with the right token is served", async () => {
    const r = await raw(broker.url, { authorization: `Bearer ${TOKEN}`, origin: "http://localhost:3000" }, INIT);
    expect(r.status).toBe(200);
  });

  it("other paths are 404", async () => {
    expect((await raw(broker.url.replace(/\/mcp$/, "/other"), { authorization: `Bearer ${TOKEN}` }, INIT)).status).toBe(404);
  });

  it("good token → the SDK client lists and calls tools; the audit names the token label", async () => {
    // Legacy (2025) clients over HTTP are served statelessly: each request is its own exchange, so
    // the caller is identified by the token's label (clientInfo was only in the initialize call).
    const client = new Client({ name: "http-legacy", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(broker.url), { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } }));
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(["list_hosts", "get_load", "plan", "reload_config"]));
    const r = await client.callTool({ name: "list_hosts", arguments: {} });
    expect(r.structuredContent).toMatchObject({ count: 1, hosts: [{ name: "web1" }] });
    await client.close();
    const rec = bd.audit().findLast((a) => a.tool === "list_hosts");
    expect(rec).toMatchObject({ event: "tool.call", caller: { transport: "http", token: "env:HOSTWARD_HTTP_TOKEN" } });
  });

  it("a 2026-era client is served too, and its clientInfo reaches the audit log", async () => {
    const client = new Client({ name: "http-modern", version: "1.2.3" }, { versionNegotiation: { mode: "auto" } });
    await client.connect(new StreamableHTTPClientTransport(new URL(broker.url), { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } }));
    const r = await client.callTool({ name: "describe_host", arguments: { name: "web1" } });
    expect(r.structuredContent).toMatchObject({ host: { name: "web1" } });
    await client.close();
    const rec = bd.audit().findLast((a) => a.tool === "describe_host");
    expect(rec).toMatchObject({ caller: { transport: "http", token: "env:HOSTWARD_HTTP_TOKEN", client: { name: "http-modern", version: "1.2.3" } } });
  });
});

describe("HTTP startup", () => {
  it("refuses a non-loopback address without --allow-remote", async () => {
    const child = spawn(process.execPath, [BROKER_BUNDLE, "serve", "--config", bd.dir, "--http", "0.0.0.0:0"], { env: brokerEnv(dir), stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise((resolve) => child.on("exit", resolve));
    expect(code).toBe(2);
    expect(stderr).toContain("refusing to listen on 0.0.0.0: not a loopback address (pass --allow-remote");
  });

  it("without HOSTWARD_HTTP_TOKEN, generates a token into a 0600 file and prints its path", async () => {
    const other = createBrokerDir(join(dir, "cfg2"), pki);
    other.writeHosts([]);
    other.writePolicy([]);
    const b = await startHttpBroker(other, {});
    try {
      const file = join(other.stateDir, "http-token");
      expect(b.stderr()).toContain(`bearer token in ${file}`);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const token = readFileSync(file, "utf8").trim();
      expect(token.length).toBeGreaterThanOrEqual(40);
      expect((await raw(b.url, {}, INIT)).status).toBe(401);
      expect((await raw(b.url, { authorization: `Bearer ${token}` }, INIT)).status).toBe(200);
    } finally {
      expect(await b.stop()).toBe(0);
    }
  });
});
