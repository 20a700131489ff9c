// The official MCP Inspector CLI (Node 22, installed from npm into a cache outside the repo by
// test/support/inspector.ts) lists the broker's tools and calls one, over stdio and over HTTP.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, hostward } from "../cli/cli";
import { runbooks } from "../../proto/catalog/runbooks/index";
import { ensureInspector, inspectorCli, type Inspector } from "../support/inspector";

interface ToolList {
  tools: Array<{ name: string; inputSchema: unknown; outputSchema?: unknown }>;
}
interface CallResult {
  isError?: boolean;
  structuredContent?: { results: Array<{ host: string; ok: boolean; data?: { load1: number; cpus: number } }> };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

describe("MCP Inspector CLI", () => {
  let dir: string;
  let inspector: Inspector;

  beforeAll(async () => {
    inspector = ensureInspector();
    dir = mkdtempSync(join(tmpdir(), "hostward-inspector-"));
    const up = await hostward(["local", "up", "--dir", dir, "--hosts", "1"]);
    expect(up.code, up.stderr).toBe(0);
  }, 360_000);

  afterAll(async () => {
    await hostward(["local", "down", "--dir", dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("lists the tools over stdio, with their schemas", () => {
    // The Inspector claims --config for itself: the broker finds its directory in the environment.
    // $HOSTWARD_CONFIG, as the README's Inspector line passes it ($HOSTWARD_CONFIG_DIR below: the older name).
    const list = inspectorCli(inspector, ["-e", `HOSTWARD_CONFIG=${dir}`, process.execPath, CLI, "serve", "--method", "tools/list"]) as ToolList;
    const names = list.tools.map((t) => t.name);
    expect(names).toContain("get_load");
    expect(names).toContain("search_logs");
    expect(names).toContain("plan");
    const getLoad = list.tools.find((t) => t.name === "get_load")!;
    expect(JSON.stringify(getLoad.inputSchema)).toContain("target");
    expect(getLoad.outputSchema).toBeDefined();
  }, 60_000);

  it("calls get_load over stdio and gets the structured per-host result", () => {
    const r = inspectorCli(inspector, [
      "-e", `HOSTWARD_CONFIG_DIR=${dir}`, process.execPath, CLI, "serve",
      "--method", "tools/call", "--tool-name", "get_load", "--tool-arg", "target=local1",
    ]) as CallResult;
    expect(r.isError ?? false).toBe(false);
    const [host] = r.structuredContent!.results;
    expect(host).toMatchObject({ host: "local1", ok: true });
    expect(host!.data!.cpus).toBeGreaterThan(0);
  }, 60_000);

  it("lists the runbooks (prompts/list) and gets one (prompts/get) over stdio", () => {
    const env = ["-e", `HOSTWARD_CONFIG=${dir}`, process.execPath, CLI, "serve"];
    const list = inspectorCli(inspector, [...env, "--method", "prompts/list"]) as { prompts: Array<{ name: string; arguments?: Array<{ name: string }> }> };
    expect(list.prompts.map((p) => p.name)).toEqual(runbooks.map((r) => r.name));
    const got = inspectorCli(inspector, [...env, "--method", "prompts/get", "--prompt-name", "fleet_health_sweep", "--prompt-args", "target=all"]) as {
      messages: Array<{ content: { text: string } }>;
    };
    expect(got.messages[0]!.content.text).toContain("ping_hosts");
  }, 60_000);

  it("lists the fleet's resources (resources/list) and reads the inventory over stdio", () => {
    const env = ["-e", `HOSTWARD_CONFIG=${dir}`, process.execPath, CLI, "serve"];
    const list = inspectorCli(inspector, [...env, "--method", "resources/list"]) as { resources: Array<{ uri: string }> };
    expect(list.resources.map((r) => r.uri)).toEqual(expect.arrayContaining(["hostward://inventory", "hostward://catalog", "hostward://actions/pending", "hostward://hosts/local1"]));
    const read = inspectorCli(inspector, [...env, "--method", "resources/read", "--uri", "hostward://inventory"]) as { contents: Array<{ text: string }> };
    expect(JSON.parse(read.contents[0]!.text)).toMatchObject({ hosts: [{ name: "local1" }] });
  }, 60_000);

  describe("over streamable HTTP with a bearer token", () => {
    let server: ChildProcess;
    let url: string;
    const token = "inspector-test-token-0123456789abcdef";

    beforeAll(async () => {
      const port = await freePort();
      url = `http://127.0.0.1:${port}/mcp`;
      server = spawn(process.execPath, [CLI, "serve", "--config", dir, "--http", `127.0.0.1:${port}`], {
        env: { ...process.env, HOSTWARD_HTTP_TOKEN: token },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`broker did not start: ${stderr}`)), 15_000);
        server.stderr!.on("data", (b: Buffer) => {
          stderr += b.toString();
          if (stderr.includes("bearer token")) {
            clearTimeout(timer);
            resolve();
          }
        });
        server.on("exit", (code) => reject(new Error(`broker exited ${code}: ${stderr}`)));
      });
    }, 30_000);

    afterAll(() => {
      server?.kill("SIGTERM");
    });

    it("lists tools and calls get_load", () => {
      const auth = ["--transport", "http", "--header", `Authorization: Bearer ${token}`];
      const list = inspectorCli(inspector, [url, ...auth, "--method", "tools/list"]) as ToolList;
      expect(list.tools.map((t) => t.name)).toContain("get_load");
      const r = inspectorCli(inspector, [url, ...auth, "--method", "tools/call", "--tool-name", "get_load", "--tool-arg", "target=*"]) as CallResult;
      expect(r.structuredContent!.results.map((x) => x.ok)).toEqual([true]);
    }, 60_000);

    it("is refused without the token", () => {
      expect(() => inspectorCli(inspector, [url, "--transport", "http", "--method", "tools/list"])).toThrow();
    }, 60_000);
  });
});
