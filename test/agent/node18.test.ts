// The agent runs on the distributions' own nodejs, 18 or newer (Debian 12 and Ubuntu 24.04 ship
// 18): the bundles are built for node18 (scripts/build.mjs) and here the BUILT bundles run on a
// real Node 18 binary (test/support/node18.ts) while the broker stays on this machine's Node 20.
// Every example of the catalog goes through the broker to two readers, one on Node 18 and one on
// Node 20, and must come back the same way from both (ok, or the same error code): a Node 18 gap
// (a missing API, a syntax error) would be an error on one side only.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diagnostics } from "../../proto/catalog/diagnostics/index";
import { call, connectBroker, type BrokerSession } from "../broker/helpers/mcp-client";
import { createBrokerDir } from "../broker/helpers/broker-dir";
import * as grpc from "@grpc/grpc-js";
import { HealthService, ServingStatus } from "../../agent/src/server/health";
import { callUnary, startAgent, type TestAgent } from "../support/agent";
import { ensureNode18 } from "../support/node18";
import { clientCredentials, createTestPki, type TestPki } from "../support/pki";

const ROOT = join(import.meta.dirname, "..", "..");
let dir: string;
let node18: string;
let pki: TestPki;
const agents: TestAgent[] = [];
let broker: BrokerSession;

interface HostResult {
  host: string;
  ok: boolean;
  data?: Record<string, unknown>;
  error?: { code: string; message: string };
}

beforeAll(async () => {
  node18 = ensureNode18();
  dir = mkdtempSync(join(tmpdir(), "hostward-node18-"));
  pki = await createTestPki(join(dir, "pki"));
  const [r18, r20] = await Promise.all([
    startAgent({ role: "reader", pki, dir: join(dir, "r18"), node: node18 }),
    startAgent({ role: "reader", pki, dir: join(dir, "r20") }),
  ]);
  agents.push(r18, r20);
  const bd = createBrokerDir(join(dir, "broker"), pki);
  bd.writeHosts([
    { name: "n18", port: r18.port },
    { name: "n20", port: r20.port },
  ]);
  bd.writePolicy([{ target: "*", allow: ["*"] }]);
  bd.writeBroker({ fanout: { hostTimeoutMs: 20_000 } });
  broker = await connectBroker(bd.dir, dir);
}, 120_000);

afterAll(async () => {
  await broker?.close();
  await Promise.all(agents.map((a) => a.stop()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the agent bundles on Node 18", () => {
  it("each bundle starts on Node 18 and prints its version", () => {
    const version = (JSON.parse(execFileSync(process.execPath, ["-p", "JSON.stringify(require('./package.json'))"], { cwd: ROOT, encoding: "utf8" })) as { version: string }).version;
    for (const name of ["hostward-reader", "hostward-operator", "hostward-agent"]) {
      const out = execFileSync(node18, [join(ROOT, "dist", "agent", `${name}.cjs`), "--version"], { encoding: "utf8" });
      expect(out.trim(), name).toContain(version);
    }
  });

  it("the operator agent starts on Node 18 and answers its health check over mTLS", async () => {
    const op = await startAgent({ role: "operator", pki, dir: join(dir, "op18"), node: node18 });
    agents.push(op);
    const started = await op.waitForLine((l) => l.msg === "started", 10_000);
    expect(String(started.node)).toMatch(/^v18\./);
    const Health = grpc.makeGenericClientConstructor(HealthService, "grpc.health.v1.Health");
    const client = new Health(op.address, clientCredentials(pki, "operator"));
    try {
      const r = await callUnary<{ status: ServingStatus }>(client, "check", { service: "hostward.v1.ActionsService" });
      expect(r).toEqual({ ok: true, value: { status: ServingStatus.SERVING } });
    } finally {
      client.close();
    }
  });

  it("node-pty's addon (N-API) loads on Node 18 and runs a program on a pty", () => {
    const script = `const pty = require(${JSON.stringify(join(ROOT, "node_modules", "node-pty"))});
const p = pty.spawn("/bin/echo", ["pty-on-node18"], { env: { PATH: "/usr/bin:/bin" } });
let out = ""; p.onData((d) => (out += d)); p.onExit(({ exitCode }) => { process.stdout.write(JSON.stringify({ out, exitCode, v: process.version })); });`;
    const r = JSON.parse(execFileSync(node18, ["-e", script], { encoding: "utf8", timeout: 15_000 })) as { out: string; exitCode: number; v: string };
    expect(r.v).toMatch(/^v18\./);
    expect(r.exitCode).toBe(0);
    expect(r.out).toContain("pty-on-node18");
  });

  it("get_agent_info: the Node 18 agent reports Node 18", async () => {
    const r = await call(broker, "get_agent_info", { target: "n18,n20" });
    const results = (r.structuredContent as { results: HostResult[] }).results;
    expect(results.map((h) => [h.host, h.ok, String(h.data?.nodeVersion).slice(0, 3)])).toEqual([
      ["n18", true, "v18"],
      ["n20", true, "v20"],
    ]);
  });

  it("every catalog example answers the same way on Node 18 as on Node 20", async () => {
    const differences: string[] = [];
    let okOn18 = 0;
    let examples = 0;
    for (const def of diagnostics) {
      for (const example of def.examples) {
        examples += 1;
        const r = await call(broker, def.name, { target: "n18,n20", ...(example.input as Record<string, unknown>) });
        if (r.isError || !r.structuredContent) {
          differences.push(`${def.name} ${JSON.stringify(example.input)}: tool error ${JSON.stringify(r.content)}`);
          continue;
        }
        const byHost = new Map((r.structuredContent as { results: HostResult[] }).results.map((h) => [h.host, h]));
        const a = byHost.get("n18");
        const b = byHost.get("n20");
        const outcome = (h: HostResult | undefined) => (h?.ok ? "ok" : `error ${h?.error?.code}`);
        if (outcome(a) !== outcome(b)) {
          differences.push(`${def.name} ${JSON.stringify(example.input)}: Node 18 ${outcome(a)} ${a?.error?.message ?? ""} / Node 20 ${outcome(b)} ${b?.error?.message ?? ""}`);
        }
        if (a?.ok) okOn18 += 1;
      }
    }
    expect(differences).toEqual([]);
    expect(examples).toBeGreaterThanOrEqual(diagnostics.length);
    // Control: most examples really ran (on a machine without systemd as PID 1 the systemd ones fail alike).
    expect(okOn18).toBeGreaterThan(examples / 2);
  }, 120_000);

  it("the root helper bundle runs on Node 18 (outside sudo it refuses with its no-permission code)", () => {
    let code = 0;
    try {
      execFileSync(node18, [join(ROOT, "dist", "agent", "hostward-action.cjs"), "restart_service"], { env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" }, stdio: "pipe" });
    } catch (err) {
      code = (err as { status: number }).status;
    }
    expect(code).toBe(77);
  });
});
