// The README's quick start, word for word, from a fresh workstation to the first diagnostic on a
// real host, on Debian 12 and on Debian 13. The commands are read from the README's
// `<!-- runnable: quickstart -->` block (scripts/readme-blocks.mjs, the parser `npm run check`
// uses): changing them there changes what runs here. The host `web1` is a container booted with
// systemd at 10.0.0.5 — an address that exists only inside the namespaces this test creates —
// reached by ssh as a sudoer, as ~/.ssh/config names it. The workstation is a fresh HOME and a
// fresh npm prefix in the client namespace, holding the two release files the README names
// (`npm pack`'s CLI tarball and `npm run package`'s .deb). Each command runs as the words it is
// (argv, no shell). The only things set around the commands: HOME, PATH with the npm prefix's bin
// (where `npm install -g` puts `hostward`), npm_config_prefix (so `-g` goes to that prefix, not
// this machine's), npm_config_offline (the namespace has no network; the tarball's one dependency
// is bundled in it). Then the README's .mcp.json snippet is started as an MCP client would.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
// @ts-expect-error: a plain .mjs script shared with scripts/check.mjs, no type declarations
import { readmeBlocks } from "../../scripts/readme-blocks.mjs";
import type { Container } from "./support/container";
import { record } from "./support/measurements";
import type { Network } from "./support/netns";
import { cliPath, currentVersion, debPath } from "./support/packages";
import { SUITES, type Suite } from "./support/rootfs";
import { CLEAN_PATH, describeRun, run, type RunResult } from "./support/run";
import { createScope, requirePackages } from "./support/scope";
import { createWorkstation, prepareSshHost, type Workstation } from "./support/ssh";
import { activeState, UNITS } from "./support/units";

type Block = { name: string; text: string; commands: Array<{ line: string; argv: string[] }> };
const blocks = readmeBlocks() as Map<string, Block>;
const quickstart = blocks.get("quickstart");
const mcpJson = blocks.get("mcp-json");
/** The host the README talks about: its name and address appear in the commands themselves. */
const HOST = "web1";
const ADDRESS = "10.0.0.5";

describe.each(SUITES)("the README's quick start on Debian %s", (suite: Suite) => {
  const scope = createScope(`readme-${suite}`);
  let net: Network;
  let c: Container;
  let ws: Workstation;
  let cwd: string;
  let env: Record<string, string>;
  const results: Array<{ line: string; argv: string[]; r: RunResult; ms: number }> = [];

  beforeAll(async () => {
    requirePackages();
    const t0 = Date.now();
    if (!quickstart || !mcpJson) throw new Error("README.md lost its runnable blocks (npm run check says which)");
    net = await scope.network(0, [HOST], { base: "10.0.0", firstHost: 5 });
    expect(net.hosts[HOST]?.address).toBe(ADDRESS);
    c = await scope.container(HOST, net.hosts[HOST]?.nsPath, suite);
    const root = join(scope.dir, "workstation");
    cwd = join(root, "downloads");
    mkdirSync(cwd, { recursive: true });
    ws = await createWorkstation(join(root, "home"), net);
    ws.addHost(HOST, ADDRESS);
    await prepareSshHost(c, ws.publicKey);
    // The two release files, as a user downloads them.
    record(`quick start on ${suite}: the host booted (container from the cached rootfs, ssh user), s`, Number(((Date.now() - t0) / 1000).toFixed(1)));
    copyFileSync(cliPath(), join(cwd, `hostward-${currentVersion()}.tgz`));
    copyFileSync(debPath(), join(cwd, `hostward-agent_${currentVersion()}_amd64.deb`));
    const prefix = join(root, "npm-global");
    env = {
      HOME: ws.home,
      PATH: `${join(prefix, "bin")}:${CLEAN_PATH}`,
      LANG: "C.UTF-8",
      npm_config_prefix: prefix,
      npm_config_offline: "true",
      npm_config_update_notifier: "false",
    };
  });
  afterAll(() => scope.close());

  test("every command of the block runs as written and the last one is the first diagnostic", async () => {
    const started = Date.now();
    for (const { line, argv } of quickstart?.commands ?? []) {
      const t0 = Date.now();
      const r = await run("ip", ["netns", "exec", net.clientNs, ...argv], { cwd, env, timeoutMs: 240_000 });
      results.push({ line, argv, r, ms: Date.now() - t0 });
      if (r.code !== 0) throw new Error(`README quick start, "${line}" failed:\n${describeRun("", argv, r)}`);
    }
    const total = Date.now() - started;
    record(`quick start on ${suite}: commands`, results.length);
    record(`quick start on ${suite}: wall time (cached rootfs, booted host), s`, Number((total / 1000).toFixed(1)));
    results.forEach(({ argv, ms }, i) => record(`quick start on ${suite}: ${i + 1}. ${argv.slice(0, argv[0] === "ssh" ? 4 : 3).join(" ")}, s`, Number((ms / 1000).toFixed(1))));

    // What the last command printed: the broker's answer from web1 (nginx runs there).
    const last = results.at(-1);
    expect(last?.line).toMatch(/^hostward call get_service_status/);
    expect(last?.r.stdout).toMatch(new RegExp(`^${HOST}: ok$`, "m"));
    const data = JSON.parse(last?.r.stdout.slice(last.r.stdout.indexOf("{")) ?? "{}") as { unit: string; activeState: string; mainPid: number };
    expect(data).toMatchObject({ unit: "nginx.service", activeState: "active" });
    expect(data.mainPid).toBe(Number((await c.execOk(["systemctl", "show", "--property=MainPID", "--value", "nginx.service"])).stdout.trim()));
  });

  test("on the host: the distribution's nodejs came with the package, both agents are active, the copied key is gone", async () => {
    const node = (await c.execOk(["dpkg-query", "-W", "-f", "${Version}", "nodejs"])).stdout;
    expect(node).toMatch(suite === "bookworm" ? /^18\./ : /^20\./);
    for (const unit of UNITS) expect(await activeState(c, unit), unit).toBe("active");
    expect(existsSync(c.path(`/home/admin/${HOST}-tls/${HOST}.key`))).toBe(false);
    const apt = results.find((x) => x.line.includes("apt install"));
    expect(`${apt?.r.stdout}${apt?.r.stderr}`).toMatch(/\bnodejs\b/);
  });

  test("on the workstation: the CLI installed from the tarball alone (offline), nothing compiled; its one dependency came bundled, prebuilt", async () => {
    const installed = join(env.npm_config_prefix ?? "", "lib", "node_modules", "hostward");
    expect(readdirSync(installed).sort()).toEqual(["README.md", "bin", "dist", "node_modules", "package.json"]);
    // fs-native-extensions (the audit log's kernel file locks) and what it needs, from the tarball
    // itself (bundleDependencies): the workstation fetched nothing.
    expect(readdirSync(join(installed, "node_modules")).sort()).toEqual(["bare-addon-resolve", "bare-module-resolve", "bare-semver", "fs-native-extensions", "require-addon", "which-runtime"]);
    const fsx = join(installed, "node_modules", "fs-native-extensions");
    expect(existsSync(join(fsx, "prebuilds", "linux-x64"))).toBe(true);
    expect(existsSync(join(fsx, "build"))).toBe(false); // nothing was compiled
    const npm = results[0];
    expect(`${npm?.r.stdout}${npm?.r.stderr}`).not.toMatch(/gyp|node-pty|install-scripts/i);
    // The artefact ships pty.node prebuilt for the local fleet's helper: no compiler was needed.
    expect(readFileSync(join(installed, "dist", "agent", "pty.node")).subarray(0, 4).toString("latin1")).toBe("\x7fELF");
  });

  test("the README's .mcp.json entry starts the installed broker for an MCP client, which diagnoses web1", async () => {
    const entry = (JSON.parse(mcpJson?.text ?? "{}") as { mcpServers: Record<string, { command: string; args: string[] }> }).mcpServers.hostward;
    expect(entry?.command).toBe("hostward");
    const transport = new StdioClientTransport({ command: "ip", args: ["netns", "exec", net.clientNs, entry?.command ?? "", ...(entry?.args ?? [])], env, stderr: "pipe" });
    const client = new Client({ name: "hostward-e2e-readme", version: "1" });
    await client.connect(transport);
    try {
      const tools = (await client.listTools()).tools.map((t) => t.name);
      expect(tools).toEqual(expect.arrayContaining(["get_service_status", "list_hosts", "ping_hosts"]));
      const r = (await client.callTool({ name: "get_service_status", arguments: { target: HOST, unit: "nginx" } })) as { structuredContent?: { results: Array<{ host: string; ok: boolean }> } };
      expect(r.structuredContent?.results.map((h) => [h.host, h.ok])).toEqual([[HOST, true]]);
    } finally {
      await client.close();
    }
  });
});
