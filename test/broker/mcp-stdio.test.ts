// The broker end to end: the built `hostward serve` driven by the SDK's real MCP client over stdio,
// in front of two REAL reader agents (the built bundle) on 127.0.0.1 over real mTLS.
//   agent A serves inventory hosts web1 and db1 (two names, one agent: policy is per inventory host)
//   agent B serves web2, and is stopped by the last test
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { z } from "zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DiagnosticDef } from "../../proto/catalog/define";
import { diagnostics } from "../../proto/catalog/diagnostics/index";
import { getLoad } from "../../proto/catalog/diagnostics/system";
import { actions } from "../../proto/catalog/actions/index";
import { startAgent, type TestAgent } from "../support/agent";
import { createTestPki, type TestPki } from "../support/pki";
import { createBrokerDir, type BrokerDir } from "./helpers/broker-dir";
import { call, connectBroker, textOf, type BrokerSession } from "./helpers/mcp-client";

type AnyDef = DiagnosticDef<string, z.ZodObject, z.ZodType>;
interface Result {
  host: string;
  ok: boolean;
  data?: unknown;
  error?: { code: string; message: string };
  durationMs?: number;
}
interface Output {
  results: Result[];
  summary: { hosts: number; ok: number; failed: number; denied: number };
}

let dir: string;
let pki: TestPki;
let agentA: TestAgent;
let agentB: TestAgent;
let bd: BrokerDir;
let broker: BrokerSession;

const LOG_FILE = () => join(dir, "logs", "app.log");

const HOSTS = () => [
  { name: "web1", port: agentA.port, tags: ["web"] },
  { name: "db1", port: agentA.port, tags: ["db"] },
  { name: "web2", port: agentB.port, tags: ["web"] },
];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hw-mcp-"));
  pki = await createTestPki(join(dir, "pki"));
  mkdirSync(join(dir, "logs"));
  writeFileSync(LOG_FILE(), Array.from({ length: 3000 }, (_, i) => `2026-11-21T10:00:00 app[1]: line ${i} ${"x".repeat(60)}\n`).join(""));
  const logs = { logs: { roots: [join(dir, "logs")] } };
  [agentA, agentB] = await Promise.all([
    startAgent({ role: "reader", pki, dir: join(dir, "a"), config: logs }),
    startAgent({ role: "reader", pki, dir: join(dir, "b"), config: logs }),
  ]);
  bd = createBrokerDir(join(dir, "cfg"), pki);
  bd.writeHosts(HOSTS());
  bd.writePolicy([
    { target: "*", allow: ["*"] },
    { target: "db1", deny: ["get_load"] },
  ]);
  bd.writeBroker({ fanout: { concurrency: 8, hostTimeoutMs: 8000 } });
  broker = await connectBroker(bd.dir, dir);
}, 60_000);

afterAll(async () => {
  await broker?.close();
  await Promise.all([agentA?.stop(), agentB?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

const structured = (r: { structuredContent?: Record<string, unknown> }) => r.structuredContent as unknown as Output;

describe("diagnostics through the broker", () => {
  it("get_load on one host returns the structured shape, with a JSON text copy", async () => {
    const r = await call(broker, "get_load", { target: "web1" });
    expect(r.isError).toBeFalsy();
    const out = structured(r);
    expect(out.summary).toEqual({ hosts: 1, ok: 1, failed: 0, denied: 0 });
    expect(out.results).toHaveLength(1);
    expect(out.results[0]).toMatchObject({ host: "web1", ok: true });
    expect(getLoad.output.safeParse(out.results[0]!.data).success).toBe(true);
    expect(JSON.parse(textOf(r))).toEqual(r.structuredContent);
  });

  it("get_load on * : every host in inventory order, the policy-denied one refused without traffic", async () => {
    const before = agentA.rpcLines().filter((l) => l.method === "GetLoad").length;
    const r = await call(broker, "get_load", { target: "*" });
    const out = structured(r);
    expect(out.results.map((x) => x.host)).toEqual(["web1", "db1", "web2"]);
    expect(out.results[0]).toMatchObject({ ok: true });
    expect(out.results[2]).toMatchObject({ ok: true });
    expect(out.results[1]).toEqual({
      host: "db1",
      ok: false,
      error: { code: "POLICY_DENIED", message: 'get_load is not allowed on db1 (denied by rule 2: target "db1", deny "get_load")' },
    });
    expect(out.summary).toEqual({ hosts: 3, ok: 2, failed: 0, denied: 1 });
    // Agent A serves web1 and db1: exactly one GetLoad reached it (web1's).
    await agentA.waitForLine(() => agentA.rpcLines().filter((l) => l.method === "GetLoad").length === before + 1);
    expect(agentA.rpcLines().filter((l) => l.method === "GetLoad")).toHaveLength(before + 1);
    const decisions = bd.audit().filter((a) => a.event === "policy.decision" && a.tool === "get_load" && a.host === "db1");
    expect(decisions.at(-1)).toMatchObject({ decision: "deny", rule: 2 });
  });

  it("a tag target selects the tagged hosts", async () => {
    const out = structured(await call(broker, "get_load", { target: "tag:web" }));
    expect(out.results.map((x) => [x.host, x.ok])).toEqual([
      ["web1", true],
      ["web2", true],
    ]);
  });

  it("an unknown host in the target is a tool error naming it", async () => {
    const r = await call(broker, "get_load", { target: "web1,web9" });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toContain('unknown host "web9"');
  });

  it("every catalog diagnostic answers through the broker with the structured shape", async () => {
    for (const def of diagnostics as readonly AnyDef[]) {
      const args = { ...(def.examples[0]?.input ?? {}), target: "web1" };
      const r = await call(broker, def.name, args);
      expect(r.isError, `${def.name}: ${textOf(r)}`).toBeFalsy();
      const out = structured(r);
      expect(out.summary.hosts, def.name).toBe(1);
      const res = out.results[0]!;
      expect(res.host).toBe("web1");
      if (res.ok) {
        expect(def.output.safeParse(res.data).success, `${def.name} data`).toBe(true);
      } else {
        // This machine has no systemd, journal or podman: such diagnostics fail, as typed errors.
        expect(res.error?.code, `${def.name}: ${JSON.stringify(res.error)}`).toMatch(/^(FAILED_PRECONDITION|NOT_FOUND|UNAVAILABLE|PERMISSION_DENIED|INVALID_ARGUMENT|DEADLINE_EXCEEDED|RESOURCE_EXHAUSTED)$/);
        expect(res.error?.message.length).toBeGreaterThan(0);
      }
    }
  }, 120_000);
});

describe("bad input is refused before anything reaches a host, and audited", () => {
  const cases: Array<[string, string, Record<string, unknown>, string, RegExp]> = [
    ["a leading '-'", "get_service_status", { target: "web1", unit: "-x" }, "unit", /unit: unit name must not start with "-"/],
    ["an unknown key", "get_load", { target: "web1", bogus: 1 }, "bogus", /unknown argument "bogus"/],
    ["a wrong type", "get_service_logs", { target: "web1", unit: "nginx", lines: "10" }, "lines", /lines: Invalid input: expected number, received string/],
    ["a missing target", "get_load", {}, "target", /target: /],
    ["shell metacharacters", "get_service_status", { target: "web1", unit: "nginx;reboot" }, "unit", /unit: unit name is not valid/],
  ];

  it.each(cases)("%s → isError naming the field, a refusal record, no RPC", async (_what, tool, args, field, message) => {
    const rpcsBefore = agentA.rpcLines().length;
    const r = await call(broker, tool, args);
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(message);
    expect(textOf(r)).toContain(`invalid arguments for ${tool}`);
    const refusal = bd.audit().filter((a) => a.event === "tool.refused").at(-1);
    expect(refusal).toMatchObject({ tool, reason: "INVALID_ARGUMENT", caller: { transport: "stdio", client: { name: "hostward-test" } } });
    expect(refusal!.fields).toContain(field);
    expect(agentA.rpcLines().length).toBe(rpcsBefore);
  });
});

describe("fleet tools", () => {
  it("list_hosts and its tag filter", async () => {
    expect(structured(await call(broker, "list_hosts", {}))).toMatchObject({ count: 3 });
    const web = (await call(broker, "list_hosts", { tag: "web" })).structuredContent as { hosts: Array<{ name: string }> };
    expect(web.hosts.map((h) => h.name)).toEqual(["web1", "web2"]);
  });

  it("describe_host shows what policy allows there", async () => {
    const r = (await call(broker, "describe_host", { name: "db1" })).structuredContent as {
      host: { name: string; tags: string[] };
      allowedTools: string[];
      deniedTools: Array<{ tool: string; reason: string }>;
    };
    expect(r.host).toMatchObject({ name: "db1", tags: ["db"], certName: "localhost" });
    expect(r.allowedTools).toContain("get_agent_info");
    expect(r.allowedTools).not.toContain("get_load");
    expect(r.deniedTools[0]).toEqual({ tool: "get_load", reason: 'get_load is not allowed on db1 (denied by rule 2: target "db1", deny "get_load")' });
    // allow "*" never covers actions: proposing a change must be allowed by name or group:actions.
    expect(r.deniedTools.slice(1)).toEqual(actions.map((a) => ({ tool: a.name, reason: `${a.name} is not allowed on db1 (no rule allows it)` })));
  });

  it("plan: per-host decisions and input validation, nothing executed", async () => {
    const rpcsBefore = agentA.rpcLines().length + agentB.rpcLines().length;
    const ok = (await call(broker, "plan", { tool: "get_load", target: "*" })).structuredContent as Record<string, unknown>;
    expect(ok).toMatchObject({
      tool: "get_load",
      hosts: [
        { host: "web1", allowed: true, rule: 1 },
        { host: "db1", allowed: false, rule: 2 },
        { host: "web2", allowed: true, rule: 1 },
      ],
      input: { valid: true },
      summary: { hosts: 3, allowed: 2, denied: 1 },
      wouldRun: true,
    });
    const bad = (await call(broker, "plan", { tool: "get_service_status", target: "web1", args: { unit: "-x" } })).structuredContent as Record<string, unknown>;
    expect(bad).toMatchObject({ input: { valid: false, error: expect.stringContaining('unit: unit name must not start with "-"') }, wouldRun: false });
    expect(agentA.rpcLines().length + agentB.rpcLines().length).toBe(rpcsBefore);
  });

  it("ping_hosts: health, latency, version and catalog hash match per host", async () => {
    const out = (await call(broker, "ping_hosts", { target: "*" })).structuredContent as unknown as Output & { broker: { catalogHash: string } };
    expect(out.results.map((x) => x.host)).toEqual(["web1", "db1", "web2"]);
    for (const res of out.results) {
      expect(res.ok, JSON.stringify(res)).toBe(true);
      expect(res.data).toMatchObject({ serving: "SERVING", role: "reader", catalogMatch: true, catalogHash: out.broker.catalogHash });
      expect((res.data as { latencyMs: number }).latencyMs).toBeGreaterThan(0);
    }
  });
});

describe("reload_config", () => {
  it("refuses an invalid configuration and keeps the running one", async () => {
    bd.writeHosts([...HOSTS(), { name: "web1", port: agentA.port }]);
    const r = await call(broker, "reload_config", {});
    expect(r.isError).toBe(true);
    expect(textOf(r)).toContain('duplicate host name "web1"');
    expect(structured(await call(broker, "list_hosts", {}))).toMatchObject({ count: 3 });
    expect(bd.audit().filter((a) => a.event === "config.reload").at(-1)).toMatchObject({ outcome: "REFUSED" });
  });

  it("picks up a new host", async () => {
    bd.writeHosts([...HOSTS(), { name: "web3", port: agentB.port, tags: ["web"] }]);
    const r = await call(broker, "reload_config", {});
    expect(r.isError, textOf(r)).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ hosts: 4, changes: { added: ["web3"], removed: [], changed: [] } });
    const out = structured(await call(broker, "get_load", { target: "web3" }));
    expect(out.results[0]).toMatchObject({ host: "web3", ok: true });
  });
});

describe("output cap", () => {
  it("cuts a large answer to maxOutputBytes, marked truncated, still valid for the catalog", async () => {
    bd.writeBroker({ fanout: { concurrency: 8, hostTimeoutMs: 8000 }, maxOutputBytes: 4096 });
    expect((await call(broker, "reload_config", {})).structuredContent).toMatchObject({ changes: { settingsChanged: true } });
    try {
      const r = await call(broker, "read_log_file", { target: "web1", path: LOG_FILE(), tailLines: 3000, maxBytes: 1024 * 1024 });
      const out = r.structuredContent as unknown as Output & { truncated?: boolean };
      expect(Buffer.byteLength(JSON.stringify(out))).toBeLessThanOrEqual(4096);
      expect(out.truncated).toBe(true);
      const res = out.results[0]!;
      expect(res).toMatchObject({ host: "web1", ok: true, truncated: true });
      const def = diagnostics.find((d) => d.name === "read_log_file") as AnyDef;
      expect(def.output.safeParse(res.data).success).toBe(true);
      // Tail mode keeps the newest lines, and says that earlier ones exist.
      const data = res.data as { lines: string[]; truncated: boolean; mode: string };
      expect(data.mode).toBe("tail");
      expect(data.lines.length).toBeGreaterThan(5);
      expect(data.lines.at(-1)).toContain("line 2999 ");
      expect(data.truncated).toBe(true);
    } finally {
      bd.writeBroker({ fanout: { concurrency: 8, hostTimeoutMs: 8000 } });
      expect((await call(broker, "reload_config", {})).isError).toBeFalsy();
    }
  });
});

describe("fan-out with an agent down", () => {
  it("the others answer; the stopped one is reported UNAVAILABLE, quickly", async () => {
    await agentB.stop();
    const started = Date.now();
    const out = structured(await call(broker, "get_load", { target: "*" }));
    const elapsed = Date.now() - started;
    expect(out.results.map((x) => [x.host, x.ok ? "ok" : x.error?.code])).toEqual([
      ["web1", "ok"],
      ["db1", "POLICY_DENIED"],
      ["web2", "UNAVAILABLE"],
      ["web3", "UNAVAILABLE"],
    ]);
    expect(out.results[2]!.error!.message).toContain("web2 is unreachable");
    expect(out.summary).toEqual({ hosts: 4, ok: 1, failed: 2, denied: 1 });
    expect(elapsed).toBeLessThan(3000);
    const result = bd.audit().filter((a) => a.event === "tool.result" && a.tool === "get_load").at(-1);
    expect(result).toMatchObject({ outcomes: [{ host: "web1", outcome: "OK" }, { host: "db1", outcome: "POLICY_DENIED" }, { host: "web2", outcome: "UNAVAILABLE" }, { host: "web3", outcome: "UNAVAILABLE" }] });
  });
});

describe("never act unaudited", () => {
  it("when the audit log cannot be written, the call fails and nothing is sent", async () => {
    // Replace the log by a directory: every append now fails (root ignores permission bits).
    renameSync(bd.auditFile, `${bd.auditFile}.moved`);
    mkdirSync(bd.auditFile);
    const rpcsBefore = agentA.rpcLines().length;
    const r = await call(broker, "get_load", { target: "web1" });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toContain("refused: the call could not be audited, so nothing was executed");
    // Refusals of bad input are not answered silently either.
    const bad = await call(broker, "get_load", { target: "web1", bogus: 1 });
    expect(bad.isError).toBe(true);
    expect(textOf(bad)).toContain("could not be audited");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(agentA.rpcLines().length).toBe(rpcsBefore);
  });
});
