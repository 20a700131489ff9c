// Runbooks as prompts, the fleet as resources, completion: through the BUILT broker and the SDK's
// real Client, over stdio and over streamable HTTP, on both protocol eras (2025-06-18 `initialize`
// and 2026-07-28 per-request envelopes), against real reader agents on loopback mTLS.
// A proposal is made by another process (this test, through the code propose_action uses; it
// writes the state directory the broker watches) and a rejection by the real `hostward reject`
// CLI: a subscribed client must hear of both.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runbooks } from "../../proto/catalog/runbooks/index";
import { startAgent, type TestAgent } from "../support/agent";
import { createTestPki, type TestPki } from "../support/pki";
import { pendingRequest, runCli } from "../broker/actions/cli-support";
import { BROKER_BUNDLE, brokerEnv, createBrokerDir, type BrokerDir } from "../broker/helpers/broker-dir";

const TOKEN = "surface-test-token-0123456789abcdef";
let dir: string;
let pki: TestPki;
let agent: TestAgent;
let bd: BrokerDir;
let http: { child: ChildProcess; url: string };

type Era = "legacy" | "modern";
type Transport = "stdio" | "http";

async function connect(transport: Transport, era: Era): Promise<Client> {
  const client = new Client({ name: `surface-${transport}-${era}`, version: "1.0.0" }, era === "modern" ? { versionNegotiation: { mode: "auto" } } : {});
  if (transport === "stdio") {
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [BROKER_BUNDLE, "serve", "--config", bd.dir], env: brokerEnv(dir), stderr: "pipe" }));
  } else {
    await client.connect(new StreamableHTTPClientTransport(new URL(http.url), { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } }));
  }
  return client;
}

function startHttp(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BROKER_BUNDLE, "serve", "--config", bd.dir, "--http", "127.0.0.1:0"], {
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

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hw-surface-"));
  pki = await createTestPki(join(dir, "pki"));
  agent = await startAgent({ role: "reader", pki, dir: join(dir, "a") });
  bd = createBrokerDir(join(dir, "cfg"), pki);
  bd.writeHosts([
    { name: "web1", port: agent.port, tags: ["web", "eu"] },
    { name: "web2", port: agent.port, tags: ["web"] },
    { name: "vault1", port: agent.port, tags: ["secret"] },
  ]);
  // vault1 may not be diagnosed: it must not be listed, completed or readable.
  bd.writePolicy([
    { target: "*", allow: ["*", "group:actions"] },
    { target: "vault1", deny: ["*"] },
  ]);
  http = await startHttp();
}, 60_000);

afterAll(async () => {
  // The broker writes its stop record into the state directory as it exits: wait for it.
  if (http && http.child.exitCode === null) await new Promise((resolve) => http.child.once("exit", resolve).kill("SIGTERM"));
  await agent?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const json = (r: { contents: Array<{ text?: string }> }) => JSON.parse(r.contents[0]!.text!) as Record<string, unknown>;

describe.each([
  ["stdio", "legacy"],
  ["stdio", "modern"],
  ["http", "legacy"],
  ["http", "modern"],
] as Array<[Transport, Era]>)("over %s, %s era", (transport, era) => {
  let client: Client;
  beforeAll(async () => {
    client = await connect(transport, era);
  }, 30_000);
  afterAll(async () => {
    await client?.close();
  });

  it("lists every runbook as a prompt, with its arguments", async () => {
    const { prompts } = await client.listPrompts();
    expect(prompts.map((p) => p.name)).toEqual(runbooks.map((r) => r.name));
    for (const p of prompts) {
      const def = runbooks.find((r) => r.name === p.name)!;
      expect(p.title).toBe(def.title);
      expect(p.arguments?.map((a) => [a.name, a.required])).toEqual(def.arguments.map((a) => [a.name, a.required]));
    }
  });

  it("gets every prompt with valid arguments, and refuses a bad one naming it", async () => {
    for (const def of runbooks) {
      const args = Object.fromEntries(def.arguments.filter((a) => a.required).map((a) => [a.name, exampleFor(a.kind)]));
      const got = await client.getPrompt({ name: def.name, arguments: args });
      expect(got.messages).toHaveLength(1);
      expect(got.messages[0]!.role).toBe("user");
      const text = (got.messages[0]!.content as { text: string }).text;
      expect(text.length).toBeGreaterThan(200);
      // Markdown for the model: its lines stay lines (escaping is per line, test/shared/printable).
      expect(text.split("\n").length).toBeGreaterThan(8);
      expect(text).not.toContain("\\u000a");
    }
    const withHost = runbooks.find((r) => r.arguments.some((a) => a.kind === "host"))!;
    const hostArg = withHost.arguments.find((a) => a.kind === "host")!.name;
    const base = Object.fromEntries(withHost.arguments.filter((a) => a.required).map((a) => [a.name, exampleFor(a.kind)]));
    await expect(client.getPrompt({ name: withHost.name, arguments: { ...base, [hostArg]: "-rf" } })).rejects.toThrow(new RegExp(hostArg));
    await expect(client.getPrompt({ name: withHost.name, arguments: { ...base, [hostArg]: "vault1" } })).rejects.toThrow(/policy allows no diagnostic/);
    await expect(client.getPrompt({ name: "no_such_runbook", arguments: {} })).rejects.toThrow(/unknown prompt/);
  });

  it("lists the resources (vault1 left out) and the templates", async () => {
    const { resources } = await client.listResources();
    const uris = resources.map((r) => r.uri);
    expect(uris).toEqual(
      expect.arrayContaining(["hostward://inventory", "hostward://catalog", "hostward://actions/pending", "hostward://rollouts/pending", "hostward://audit/tail", "hostward://hosts/web1", "hostward://hosts/web2"]),
    );
    expect(uris).not.toContain("hostward://hosts/vault1");
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate).sort()).toEqual(["hostward://actions/{id}", "hostward://hosts/{name}"]);
  });

  it("reads every listed resource; each is JSON and bounded (but the MCP Apps view: mcp-apps.test.ts)", async () => {
    const { resources } = await client.listResources();
    expect(resources.filter((r) => r.uri.startsWith("ui://")).map((r) => [r.uri, r.mimeType])).toEqual([["ui://hostward/approval", "text/html;profile=mcp-app"]]);
    for (const r of resources.filter((x) => !x.uri.startsWith("ui://"))) {
      const read = await client.readResource({ uri: r.uri });
      expect(read.contents[0]!.uri).toBe(r.uri);
      expect(read.contents[0]!.mimeType).toBe("application/json");
      expect(Buffer.byteLength((read.contents[0] as { text: string }).text)).toBeLessThanOrEqual(256 * 1024);
      json(read as { contents: Array<{ text?: string }> });
    }
    const inv = json((await client.readResource({ uri: "hostward://inventory" })) as { contents: Array<{ text?: string }> });
    expect((inv.hosts as Array<{ name: string }>).map((h) => h.name)).toEqual(["web1", "web2"]);
    expect(inv.tags).toEqual([{ tag: "eu", hosts: 1 }, { tag: "web", hosts: 2 }]);
    const host = json((await client.readResource({ uri: "hostward://hosts/web1" })) as { contents: Array<{ text?: string }> });
    expect(host.host).toMatchObject({ name: "web1", tags: ["web", "eu"] });
    expect((host.facts as { hostname: string }).hostname.length).toBeGreaterThan(0);
    expect(host.allowedTools).toContain("get_system_info");
  });

  it("refuses the hidden host's resource, a bad name and an unknown URI", async () => {
    await expect(client.readResource({ uri: "hostward://hosts/vault1" })).rejects.toThrow(/policy allows no diagnostic/);
    await expect(client.readResource({ uri: "hostward://hosts/-x" })).rejects.toThrow(/name: .* is not a host name/);
    await expect(client.readResource({ uri: "hostward://nothing" })).rejects.toThrow(/not found/i);
  });

  it("completes host names, tags, targets and a host's unit names (never the hidden host)", async () => {
    const unitRunbook = runbooks.find((r) => r.arguments.some((a) => a.kind === "unit"))!;
    const unitArg = unitRunbook.arguments.find((a) => a.kind === "unit")!;
    const hostArg = unitArg.hostArgument!;
    const hosts = await client.complete({ ref: { type: "ref/prompt", name: unitRunbook.name }, argument: { name: hostArg, value: "" } });
    expect(hosts.completion.values).toEqual(["web1", "web2"]);
    const w = await client.complete({ ref: { type: "ref/resource", uri: "hostward://hosts/{name}" }, argument: { name: "name", value: "we" } });
    expect(w.completion.values).toEqual(["web1", "web2"]);
    const v = await client.complete({ ref: { type: "ref/resource", uri: "hostward://hosts/{name}" }, argument: { name: "name", value: "va" } });
    expect(v.completion.values).toEqual([]);
    // A unit name, answered by the host itself (list_services, audited as a call to that host). The
    // agent runs on this machine, which may have no systemd (then both lists are empty); the e2e
    // suite completes real units on a real systemd (test/e2e/fleet.test.ts).
    const before = bd.audit().length;
    const units = await client.complete({ ref: { type: "ref/prompt", name: unitRunbook.name }, argument: { name: unitArg.name, value: "" }, context: { arguments: { [hostArg]: "web2" } } });
    const listed = (await client.callTool({ name: "list_services", arguments: { target: "web2", limit: 1000 } })) as { structuredContent?: { results: Array<{ data?: { services: Array<{ unit: string }> } }> } };
    const expected = (listed.structuredContent!.results[0]!.data?.services ?? []).map((s) => s.unit).sort();
    expect(units.completion.values).toEqual(expected.slice(0, 100));
    const asked = bd.audit().slice(before).filter((r) => r.event === "tool.call" && r.tool === "list_services");
    expect(asked.length).toBeGreaterThanOrEqual(transport === "stdio" && era === "legacy" ? 2 : 1);
    const hidden = await client.complete({ ref: { type: "ref/prompt", name: unitRunbook.name }, argument: { name: unitArg.name, value: "" }, context: { arguments: { [hostArg]: "vault1" } } });
    expect(hidden.completion.values).toEqual([]);
    const targetRunbook = runbooks.find((r) => r.arguments.some((a) => a.kind === "target"));
    if (targetRunbook) {
      const t = await client.complete({ ref: { type: "ref/prompt", name: targetRunbook.name }, argument: { name: targetRunbook.arguments.find((a) => a.kind === "target")!.name, value: "tag:" } });
      expect(t.completion.values).toEqual(["tag:eu", "tag:web"]);
    }
  });
});

function exampleFor(kind: string): string {
  switch (kind) {
    case "host":
      return "web1";
    case "tag":
      return "web";
    case "target":
      return "tag:web";
    case "unit":
      return "nginx.service";
    case "path":
      return "/var/log/syslog";
    case "url":
      return "https://www.example.org/";
    case "domain":
      return "example.org";
    default:
      return "something";
  }
}

describe("every read and every prompt is audited", () => {
  it("resource.read and prompt.get records name the caller, the URI or prompt and the outcome", () => {
    const reads = bd.audit().filter((r) => r.event === "resource.read");
    expect(reads.some((r) => r.uri === "hostward://inventory" && r.outcome === "OK" && typeof r.bytes === "number")).toBe(true);
    expect(reads.some((r) => r.uri === "hostward://hosts/vault1" && r.outcome === "REFUSED")).toBe(true);
    const prompts = bd.audit().filter((r) => r.event === "prompt.get");
    expect(prompts.some((r) => r.outcome === "OK")).toBe(true);
    expect(prompts.some((r) => r.outcome === "REFUSED" && String(r.message).includes("vault1"))).toBe(true);
    expect(reads.some((r) => (r.caller as { transport: string }).transport === "http")).toBe(true);
  });
});

describe("subscriptions", () => {
  it("stdio, 2025 era: resources/subscribe to pending actions hears of a proposal and of its rejection", async () => {
    const client = await connect("stdio", "legacy");
    try {
      const updates: string[] = [];
      client.setNotificationHandler("notifications/resources/updated", (n) => {
        updates.push(n.params.uri);
      });
      await client.subscribeResource({ uri: "hostward://actions/pending" });
      const req = await pendingRequest(bd, { host: "web1" });
      await waitFor(() => updates.includes("hostward://actions/pending"));
      const pending = json((await client.readResource({ uri: "hostward://actions/pending" })) as { contents: Array<{ text?: string }> });
      expect((pending.actions as Array<{ id: string }>).map((a) => a.id)).toContain(req.id);
      // Subscribed to the one request too: `hostward reject` in another process moves it.
      await client.subscribeResource({ uri: `hostward://actions/${req.id}` });
      updates.length = 0;
      const rejected = await runCli(["reject", req.id, "--config", bd.dir, "--reason", "not now"], brokerEnv(dir));
      expect(rejected.code, rejected.stderr).toBe(0);
      await waitFor(() => updates.includes(`hostward://actions/${req.id}`));
      const one = json((await client.readResource({ uri: `hostward://actions/${req.id}` })) as { contents: Array<{ text?: string }> });
      expect(one.state).toBe("REJECTED");
      // Not subscribed: nothing about roll-outs arrives.
      expect(updates).not.toContain("hostward://rollouts/pending");
    } finally {
      await client.close();
    }
  }, 30_000);

  it.each(["stdio", "http"] as Transport[])("%s, 2026 era: a subscriptions/listen stream hears of a proposal", async (transport) => {
    const client = await connect(transport, "modern");
    try {
      const updates: string[] = [];
      client.setNotificationHandler("notifications/resources/updated", (n) => {
        updates.push(n.params.uri);
      });
      const sub = await client.listen({ resourceSubscriptions: ["hostward://actions/pending"] });
      expect(sub.honoredFilter.resourceSubscriptions).toEqual(["hostward://actions/pending"]);
      await pendingRequest(bd, { host: "web2" });
      await waitFor(() => updates.includes("hostward://actions/pending"));
      await sub.close();
    } finally {
      await client.close();
    }
  }, 30_000);

  it("stdio, both eras: a configuration reload says the resource list changed, and updates the inventory", async () => {
    const legacy = await connect("stdio", "legacy");
    const modern = await connect("stdio", "modern");
    try {
      const heard = { legacy: [] as string[], modern: [] as string[] };
      for (const [name, c] of [["legacy", legacy], ["modern", modern]] as const) {
        c.setNotificationHandler("notifications/resources/list_changed", () => {
          heard[name].push("list_changed");
        });
        c.setNotificationHandler("notifications/resources/updated", (n) => {
          heard[name].push(n.params.uri);
        });
      }
      await legacy.subscribeResource({ uri: "hostward://inventory" });
      const sub = await modern.listen({ resourcesListChanged: true, resourceSubscriptions: ["hostward://inventory"] });
      bd.writeHosts([
        { name: "web1", port: agent.port, tags: ["web", "eu"] },
        { name: "web2", port: agent.port, tags: ["web"] },
        { name: "web3", port: agent.port, tags: ["web"] },
        { name: "vault1", port: agent.port, tags: ["secret"] },
      ]);
      // Each broker reloads its own configuration (reload_config; SIGHUP does the same).
      for (const c of [legacy, modern]) expect((await c.callTool({ name: "reload_config", arguments: {} })).isError ?? false).toBe(false);
      for (const name of ["legacy", "modern"] as const) {
        await waitFor(() => heard[name].includes("list_changed") && heard[name].includes("hostward://inventory"));
      }
      const { resources } = await modern.listResources();
      expect(resources.map((r) => r.uri)).toContain("hostward://hosts/web3");
      await sub.close();
    } finally {
      await legacy.close();
      await modern.close();
    }
  }, 30_000);

  it("a 2025-era HTTP exchange is stateless: it says it cannot deliver subscriptions", async () => {
    const client = await connect("http", "legacy");
    try {
      expect(client.getServerCapabilities()?.resources).toMatchObject({ subscribe: false, listChanged: false });
    } finally {
      await client.close();
    }
  });
});

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 25));
  }
}
