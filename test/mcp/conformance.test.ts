// The MCP conformance suite's server scenarios (@modelcontextprotocol/conformance, Node 22,
// installed from npm into a cache outside the repo by test/support/conformance.ts) against the
// BUILT broker over streamable HTTP, with a real reader agent on loopback mTLS behind it.
//
// Many scenarios ask for the suite's own fixture server's content (a prompt named
// test_simple_prompt, a resource test://static-text, …), which hostward will never serve: those
// are "fixture-only", and the test asserts they fail ONLY on the check and for the reason the
// table names (the fixture name refused as unknown), so any other failure in them still shows.
// The table is also docs/conformance.md's; the test checks the two agree. Each scenario's
// checks.json is kept under test/.artifacts/conformance/ (gitignored) for a human to read.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, type TestAgent } from "../support/agent";
import { CONFORMANCE_VERSION, ensureConformance, runServerScenario, type Conformance, type ConformanceCheck, type ScenarioRun } from "../support/conformance";
import { createTestPki } from "../support/pki";
import { BROKER_BUNDLE, ROOT, brokerEnv, createBrokerDir } from "../broker/helpers/broker-dir";

const TOKEN = "conformance-test-token-0123456789abcdef";
const ARTIFACTS = join(ROOT, "test", ".artifacts", "conformance");

/** A check the scenario is expected to fail, and the message that says why. */
interface ExpectedFailure {
  id: string;
  message: RegExp;
}

type Expectation =
  | { scenario: string; expect: "pass"; why: string }
  /** Asks for the suite's fixture content; hostward refuses the fixture name as unknown. */
  | { scenario: string; expect: "fixture-only"; why: string; fails: ExpectedFailure }
  /** Exercises a capability this transport does not advertise; hostward answers Method not found. */
  | { scenario: string; expect: "not-offered"; why: string; fails: ExpectedFailure };

const unknownPrompt = (name: string) => new RegExp(`^Failed: MCP error -32602: name: unknown prompt "${name}" \\(see prompts/list\\)$`);
const unknownResource = (uri: string) => new RegExp(`^Failed: MCP error -32602: Resource not found: ${uri.replace(/[/.]/g, "\\$&")}$`);

const SCENARIOS: Expectation[] = [
  { scenario: "server-initialize", expect: "pass", why: "initialize / initialized handshake (2025 era) through the bearer-adding proxy" },
  { scenario: "ping", expect: "pass", why: "ping answers {}" },
  { scenario: "tools-list", expect: "pass", why: "every tool has a name, a description and an inputSchema" },
  { scenario: "prompts-list", expect: "pass", why: "every runbook is listed with a name and a description" },
  { scenario: "resources-list", expect: "pass", why: "every listed resource has a uri and a name" },
  {
    scenario: "dns-rebinding-protection",
    expect: "pass",
    why: "Host/Origin evil.example.com is refused 403 by the Host check (the proxy supplied the token, so it is not the 401); a loopback Host is served",
  },
  {
    scenario: "completion-complete",
    expect: "fixture-only",
    why: "completes argument arg1 of the fixture prompt test_prompt_with_arguments; hostward answers -32602 for an unknown prompt, as the spec's completion error table says",
    fails: { id: "completion-complete", message: /^Failed: MCP error -32602: ref\.name: unknown prompt "test_prompt_with_arguments" \(see prompts\/list\)$/ },
  },
  {
    scenario: "resources-read-text",
    expect: "fixture-only",
    why: "reads the fixture resource test://static-text (text/plain)",
    fails: { id: "resources-read-text", message: unknownResource("test://static-text") },
  },
  {
    scenario: "resources-read-binary",
    expect: "fixture-only",
    why: "reads the fixture resource test://static-binary (a PNG blob); hostward serves JSON text only",
    fails: { id: "resources-read-binary", message: unknownResource("test://static-binary") },
  },
  {
    scenario: "resources-templates-read",
    expect: "fixture-only",
    why: "reads test://template/123/data from the fixture template test://template/{id}/data",
    fails: { id: "resources-templates-read", message: unknownResource("test://template/123/data") },
  },
  {
    scenario: "resources-subscribe",
    expect: "not-offered",
    why: "the 2025-era HTTP exchange is stateless and advertises resources.subscribe=false (it cannot deliver notifications/resources/updated), so resources/subscribe is not served there; its URI test://watched-resource is a fixture too",
    fails: { id: "resources-subscribe", message: /^Failed: MCP error -32601: Method not found$/ },
  },
  {
    scenario: "resources-unsubscribe",
    expect: "not-offered",
    why: "subscribes first (as resources-subscribe), then unsubscribes: not served on the stateless 2025-era HTTP exchange",
    fails: { id: "resources-unsubscribe", message: /^Failed: MCP error -32601: Method not found$/ },
  },
  {
    scenario: "prompts-get-simple",
    expect: "fixture-only",
    why: "gets the fixture prompt test_simple_prompt",
    fails: { id: "prompts-get-simple", message: unknownPrompt("test_simple_prompt") },
  },
  {
    scenario: "prompts-get-with-args",
    expect: "fixture-only",
    why: "gets the fixture prompt test_prompt_with_arguments (arg1, arg2) and looks for the values in the text",
    fails: { id: "prompts-get-with-args", message: unknownPrompt("test_prompt_with_arguments") },
  },
  {
    scenario: "prompts-get-embedded-resource",
    expect: "fixture-only",
    why: "gets the fixture prompt test_prompt_with_embedded_resource; hostward's runbooks are text only",
    fails: { id: "prompts-get-embedded-resource", message: unknownPrompt("test_prompt_with_embedded_resource") },
  },
  {
    scenario: "prompts-get-with-image",
    expect: "fixture-only",
    why: "gets the fixture prompt test_prompt_with_image; hostward's runbooks are text only",
    fails: { id: "prompts-get-with-image", message: unknownPrompt("test_prompt_with_image") },
  },
];

let dir: string;
let agent: TestAgent;
let broker: { child: ChildProcess; url: string };
let proxy: { server: Server; url: string };
let conformance: Conformance;

function startBroker(configDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BROKER_BUNDLE, "serve", "--config", configDir, "--http", "127.0.0.1:0"], {
    env: brokerEnv(dir, { HOSTWARD_HTTP_TOKEN: TOKEN }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL within 10 s:\n${stderr}`)), 10_000);
    child.stderr!.on("data", (c: Buffer) => {
      stderr += c.toString();
      const m = /MCP over HTTP at (http:\/\/\S+)/.exec(stderr);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve({ child, url: m[1] });
      }
    });
  });
}

/**
 * `hostward serve --http` requires `Authorization: Bearer <token>`; the conformance CLI has no
 * option to send a header (its client is the SDK's, with no auth provider). This loopback proxy
 * adds the header and passes everything else through unchanged — Host and Origin included, so the
 * broker's DNS-rebinding check sees exactly what the suite sent (the broker allows loopback host
 * names on any port) — and streams responses (SSE) back as they come.
 */
function startProxy(target: URL): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, authorization: `Bearer ${TOKEN}` } },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      resolve({ server, url: `http://127.0.0.1:${port}/mcp` });
    });
  });
}

async function run(scenario: string, url = proxy.url, artefact = scenario): Promise<ScenarioRun> {
  const r = await runServerScenario(conformance, url, scenario);
  writeFileSync(join(ARTIFACTS, `${artefact}.checks.json`), r.raw);
  return r;
}

const failures = (checks: ConformanceCheck[]) => checks.filter((c) => c.status === "FAILURE");

beforeAll(async () => {
  conformance = ensureConformance();
  mkdirSync(ARTIFACTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), "hw-conformance-"));
  const pki = await createTestPki(join(dir, "pki"));
  agent = await startAgent({ role: "reader", pki, dir: join(dir, "a") });
  const bd = createBrokerDir(join(dir, "cfg"), pki);
  bd.writeHosts([
    { name: "web1", port: agent.port, tags: ["web", "eu"] },
    { name: "web2", port: agent.port, tags: ["web"] },
  ]);
  bd.writePolicy([{ target: "*", allow: ["*", "group:actions"] }]);
  broker = await startBroker(bd.dir);
  proxy = await startProxy(new URL(broker.url));
}, 360_000);

afterAll(async () => {
  await new Promise<void>((resolve) => (proxy ? proxy.server.close(() => resolve()) : resolve()));
  // The broker writes its stop record into the state directory as it exits: wait for it.
  if (broker && broker.child.exitCode === null) await new Promise((resolve) => broker.child.once("exit", resolve).kill("SIGTERM"));
  await agent?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe(`MCP conformance ${CONFORMANCE_VERSION}, server scenarios, over streamable HTTP`, () => {
  it.each(SCENARIOS.map((s) => [s.scenario, s] as const))("%s", async (_name, s) => {
    const r = await run(s.scenario);
    expect(r.checks.length, r.stdout + r.stderr).toBeGreaterThan(0);
    const failed = failures(r.checks).map((c) => ({ id: c.id, message: c.errorMessage }));
    if (s.expect === "pass") {
      expect(failed).toEqual([]);
      expect(r.checks.filter((c) => c.status === "WARNING").map((c) => c.errorMessage)).toEqual([]);
      expect(r.exitCode).toBe(0);
    } else {
      // Exactly the documented check fails, for the documented reason; nothing else fails.
      expect(failed).toHaveLength(1);
      expect(failed[0]!.id).toBe(s.fails.id);
      expect(failed[0]!.message).toMatch(s.fails.message);
      expect(r.exitCode).toBe(1);
    }
    if (s.scenario === "dns-rebinding-protection") {
      // The refusal is the Host/Origin check's 403 (the proxy sent the token: not the token check's 401).
      const rejected = r.checks.find((c) => c.id === "localhost-host-rebinding-rejected")!;
      expect(rejected.details).toMatchObject({ statusCode: 403, body: { error: { message: "forbidden: Invalid Host: evil.example.com" } } });
    }
  }, 60_000);

  it("the 2025-era HTTP exchange advertises no resource subscriptions (why resources/subscribe is Method not found there)", async () => {
    const res = await fetch(proxy.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "conformance-test", version: "1.0.0" } } }),
    });
    expect(res.status).toBe(200);
    const text = await res.text();
    const payload = res.headers.get("content-type")?.includes("text/event-stream") ? /^data: (.*)$/m.exec(text)![1]! : text;
    const init = JSON.parse(payload) as { result: { capabilities: { resources?: { subscribe?: boolean; listChanged?: boolean }; prompts?: unknown; completions?: unknown } } };
    expect(init.result.capabilities.resources).toEqual({ subscribe: false, listChanged: false });
    expect(init.result.capabilities.prompts).toBeDefined();
    expect(init.result.capabilities.completions).toBeDefined();
  });

  it("without the proxy the suite's client is refused 401 (why the proxy is there)", async () => {
    const r = await run("server-initialize", broker.url, "server-initialize.without-token");
    expect(failures(r.checks).map((c) => c.errorMessage)).toEqual([expect.stringMatching(/unauthorized: a valid bearer token is required/)]);
  }, 60_000);

  it("docs/conformance.md records every scenario with the result this test expects", () => {
    const doc = readFileSync(join(ROOT, "docs", "conformance.md"), "utf8");
    expect(doc).toContain(`@modelcontextprotocol/conformance@${CONFORMANCE_VERSION}`);
    const label = { pass: "pass", "fixture-only": "n/a (fixture only)", "not-offered": "n/a (not offered over HTTP 2025)" } as const;
    for (const s of SCENARIOS) expect(doc, s.scenario).toMatch(new RegExp(`^\\| \`${s.scenario}\` \\| ${label[s.expect].replace(/[()]/g, "\\$&")} \\|`, "m"));
  });
});
