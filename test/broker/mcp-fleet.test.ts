// Answers sized for a fleet, end to end: the built `hostward serve` driven by the SDK's real MCP
// client over stdio, in front of 41 real reader servers over real mTLS:
//   node01..node40  the bench's multi-agent launcher (test/bench/multi-agent.ts: the agent's own
//                   server code, one gRPC server per host on its own port, one process)
//   fresh           one hostward-reader (the built bundle) whose logs.maxScanBytes is small, so its
//                   search_logs answer differs from the fleet's
//   dead1, dead2    nothing listens: UNAVAILABLE
//   lock1..lock3    served by the launcher, but policy denies get_load and search_logs there
// The summary view, paging through every host, the views chosen by default, cursor errors and
// compare_hosts, with the client validating each answer against the advertised output schema.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getLoad, listProcesses } from "../../proto/catalog/diagnostics/system";
import { searchLogs } from "../../proto/catalog/diagnostics/logs";
import { startAgent, type TestAgent } from "../support/agent";
import { createTestPki, type TestPki } from "../support/pki";
import { createBrokerDir, ROOT, type BrokerDir } from "./helpers/broker-dir";
import { call, connectBroker, textOf, type BrokerSession } from "./helpers/mcp-client";

const FLEET = 40;
const NODES = Array.from({ length: FLEET }, (_, i) => `node${String(i + 1).padStart(2, "0")}`);
const LOCKED = ["lock1", "lock2", "lock3"];
const DEAD = ["dead1", "dead2"];
const ALL = [...NODES.slice(0, 20), "fresh", ...DEAD, ...LOCKED, ...NODES.slice(20)];

interface Result {
  host: string;
  ok: boolean;
  data?: unknown;
  error?: { code: string; message: string };
}
interface Summary {
  summary: { hosts: number; ok: number; failed: number; denied: number };
  fleet: {
    outliers: { errors: Array<{ code: string; count: number; hosts: string[]; message: string }>; apart: Array<{ host: string; values: Record<string, number> }> };
    groups: Array<{ count: number; hosts: string[]; data?: unknown }>;
    numbers: Array<{ field: string; n: number; min: number; median: number; max: number; minHost: string; maxHost: string }>;
    constant?: Record<string, number>;
    varies?: Array<{ field: string; distinct: number }>;
    omitted?: Record<string, number>;
  };
  page?: string;
  results?: undefined;
}
interface Page {
  results: Result[];
  summary: { hosts: number; ok: number; failed: number; denied: number };
  page?: string;
  fleet?: undefined;
}

let dir: string;
let pki: TestPki;
let launcher: ChildProcess;
let fresh: TestAgent;
let bd: BrokerDir;
let broker: BrokerSession;
let logFile: string;

const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v), "utf8");

async function startLauncher(configFile: string, count: number): Promise<number[]> {
  const bundle = join(dir, "multi-agent.cjs");
  // As `npm run bench` bundles it (test/bench/run.mjs).
  await build({
    entryPoints: [join(ROOT, "test", "bench", "multi-agent.ts")],
    outfile: bundle,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    logLevel: "warning",
    define: { HOSTWARD_VERSION: '"test"' },
    external: ["pino-pretty"],
  });
  const ready = join(dir, "multi.ready.json");
  let stderr = "";
  launcher = spawn(process.execPath, [bundle, "--config", configFile, "--count", String(count), "--ready-file", ready], { stdio: ["ignore", "ignore", "pipe"] });
  launcher.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const deadline = Date.now() + 60_000;
  while (!existsSync(ready)) {
    if (launcher.exitCode !== null || Date.now() > deadline) throw new Error(`the multi-agent launcher did not start:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return (JSON.parse(readFileSync(ready, "utf8")) as { ports: number[] }).ports;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hw-fleet-"));
  pki = await createTestPki(join(dir, "pki"));
  const logs = join(dir, "logs");
  mkdirSync(logs);
  logFile = join(logs, "app.log");
  // 240 KB of log, the lines with ERROR near its end: past a 4 KiB scan budget.
  writeFileSync(logFile, Array.from({ length: 3000 }, (_, i) => `2026-11-21T10:00:00 app[1]: line ${i} ${i > 2990 ? "ERROR" : "ok"} ${"x".repeat(50)}\n`).join(""));
  const config = join(dir, "multi.yaml");
  writeFileSync(config, JSON.stringify({ listen: { host: "127.0.0.1", port: 0 }, tls: { ca: pki.files.ca, cert: pki.files.cert.reader, key: pki.files.key.reader }, logs: { roots: [logs] } }));
  const [ports] = await Promise.all([
    startLauncher(config, FLEET + LOCKED.length),
    startAgent({ role: "reader", pki, dir: join(dir, "fresh"), config: { logs: { roots: [logs], maxScanBytes: 4096 } } }).then((a) => (fresh = a)),
  ]);
  const port = new Map<string, number>([...NODES, ...LOCKED].map((h, i) => [h, ports[i]!]));
  port.set("fresh", fresh.port);
  for (const d of DEAD) port.set(d, 1);
  bd = createBrokerDir(join(dir, "cfg"), pki);
  bd.writeHosts(ALL.map((name) => ({ name, port: port.get(name)!, tags: LOCKED.includes(name) ? ["locked"] : name.startsWith("node") ? ["node"] : [] })));
  bd.writePolicy([
    { target: "*", allow: ["*"] },
    { target: "tag:locked", deny: ["get_load", "search_logs"] },
  ]);
  bd.writeBroker({ fanout: { concurrency: 16, hostTimeoutMs: 8000 } });
  broker = await connectBroker(bd.dir, dir);
}, 120_000);

afterAll(async () => {
  await broker?.close();
  launcher?.kill("SIGTERM");
  await fresh?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Follows `page` from a summary to the last page; every page validated by the client already. */
async function pageAll(tool: string, args: Record<string, unknown>, first: string): Promise<{ results: Result[]; pages: number }> {
  const results: Result[] = [];
  let page: string | undefined = first;
  let pages = 0;
  while (page !== undefined) {
    const r = await call(broker, tool, { ...args, page });
    expect(r.isError, textOf(r)).toBeFalsy();
    const out = r.structuredContent as unknown as Page;
    expect(out.fleet).toBeUndefined();
    expect(out.summary.hosts).toBe(out.results.length);
    results.push(...out.results);
    page = out.page;
    pages++;
  }
  return { results, pages };
}

describe("get_load on 46 hosts, 41 of them real reader servers", () => {
  let answer: Summary;

  it("answers with the summary by default above 10 hosts, within 8 KB", async () => {
    const r = await call(broker, "get_load", { target: "*" });
    expect(r.isError, textOf(r)).toBeFalsy();
    answer = r.structuredContent as unknown as Summary;
    expect(bytes(answer)).toBeLessThanOrEqual(8192);
    expect(JSON.parse(textOf(r))).toEqual(answer);
    expect(answer.results).toBeUndefined();
    expect(answer.summary).toEqual({ hosts: 46, ok: 41, failed: 2, denied: 3 });
  });

  it("names the failed and the denied hosts first, by code", () => {
    expect(Object.keys(answer.fleet)[0]).toBe("outliers");
    const byCode = Object.fromEntries(answer.fleet.outliers.errors.map((e) => [e.code, e]));
    expect(byCode.POLICY_DENIED).toMatchObject({ count: 3, hosts: LOCKED });
    expect(byCode.POLICY_DENIED!.message).toContain("denied by rule 2");
    expect(byCode.UNAVAILABLE).toMatchObject({ count: 2, hosts: DEAD });
  });

  it("spreads every number over the 41 answers, in one group (the same machine's /proc)", () => {
    // Numbers that differ between hosts as distributions, the others (the same load average on
    // every server of this machine) as constants.
    expect([...answer.fleet.numbers.map((n) => n.field), ...Object.keys(answer.fleet.constant ?? {})].sort()).toEqual(Object.keys(getLoad.output.shape).sort());
    for (const n of answer.fleet.numbers) expect(n.n).toBe(41);
    expect(answer.fleet.groups).toEqual([{ count: 41, hosts: ["node01", "node02", "node03"], data: expect.any(Object) }]);
    expect(getLoad.output.safeParse(answer.fleet.groups[0]!.data).success).toBe(true);
  });

  it("pages through every host exactly once, in inventory order, without calling the hosts again", async () => {
    const before = fresh.rpcLines().filter((l) => l.method === "GetLoad").length;
    const { results } = await pageAll("get_load", { target: "*" }, answer.page!);
    expect(results.map((x) => x.host)).toEqual(ALL);
    for (const x of results) {
      if (x.ok) expect(getLoad.output.safeParse(x.data).success).toBe(true);
      else expect(x.error!.code).toBe(LOCKED.includes(x.host) ? "POLICY_DENIED" : "UNAVAILABLE");
    }
    expect(fresh.rpcLines().filter((l) => l.method === "GetLoad")).toHaveLength(before);
    // The summary's numbers are the pages' numbers.
    const values = (field: string) => results.filter((x) => x.ok).map((x) => (x.data as Record<string, number>)[field]!);
    for (const n of answer.fleet.numbers) expect([n.min, n.max]).toEqual([Math.min(...values(n.field)), Math.max(...values(n.field))]);
    for (const [field, v] of Object.entries(answer.fleet.constant ?? {})) expect(new Set(values(field))).toEqual(new Set([v]));
    const pageAudit = bd.audit().filter((a) => a.event === "tool.call" && a.tool === "get_load" && a.local === true);
    expect(pageAudit.at(-1)).toMatchObject({ outcome: "OK", hosts: ALL });
    expect(typeof pageAudit.at(-1)!.pageOf).toBe("string");
  });

  it('view "hosts" gives one result per host whatever the size; a target of ≤ 10 hosts gets it by default', async () => {
    const all = (await call(broker, "get_load", { target: "*", view: "hosts" })).structuredContent as unknown as Page;
    expect(all.results.map((x) => x.host)).toEqual(ALL);
    const few = (await call(broker, "get_load", { target: "fresh,dead1,lock1" })).structuredContent as unknown as Page;
    expect(few.results.map((x) => [x.host, x.ok])).toEqual([["fresh", true], ["dead1", false], ["lock1", false]]);
    const asked = (await call(broker, "get_load", { target: "fresh,dead1", view: "summary" })).structuredContent as unknown as Summary;
    expect(asked.summary).toEqual({ hosts: 2, ok: 1, failed: 1, denied: 0 });
    expect(asked.fleet.groups[0]).toMatchObject({ count: 1, hosts: ["fresh"] });
  });

  it("refuses a bad, foreign or mismatched cursor with a typed error naming `page`", async () => {
    const bad = await call(broker, "get_load", { target: "*", page: "not-a-cursor" });
    expect(bad.isError).toBe(true);
    expect(textOf(bad)).toMatch(/^invalid arguments for get_load: page: .*\(PAGE_INVALID\)$/);
    const other = await call(broker, "get_load", { target: "tag:node", page: answer.page! });
    expect(textOf(other)).toContain("(PAGE_MISMATCH)");
    const tool = await call(broker, "get_memory_info", { target: "*", page: answer.page! });
    expect(textOf(tool)).toContain("(PAGE_MISMATCH)");
    const unknown = await call(broker, "get_load", { target: "*", page: Buffer.from(JSON.stringify({ a: "gone", o: 0 })).toString("base64url") });
    expect(textOf(unknown)).toContain("(PAGE_EXPIRED)");
    expect(textOf(unknown)).toContain("call get_load again without page");
  });
});

describe("ping_hosts answers for a fleet too", () => {
  it("a summary with the broker's own part, and pages that keep it", async () => {
    const r = await call(broker, "ping_hosts", { target: "*" });
    expect(r.isError, textOf(r)).toBeFalsy();
    const s = r.structuredContent as unknown as Summary & { broker: { catalogHash: string } };
    expect(s.summary).toEqual({ hosts: 46, ok: 44, failed: 2, denied: 0 });
    // The launcher's 43 servers report the version it was bundled with, fresh the built agent's.
    expect(s.fleet.groups.map((g) => [g.count, g.hosts[0]])).toEqual([[43, "node01"], [1, "fresh"]]);
    expect((s.fleet.groups[0]!.data as { catalogMatch: boolean }).catalogMatch).toBe(true);
    expect(typeof s.broker.catalogHash).toBe("string");
    const page = (await call(broker, "ping_hosts", { target: "*", page: s.page! })).structuredContent as unknown as Page & { broker: unknown };
    expect(page.results.map((x) => x.host)).toEqual(ALL);
    expect(page.broker).toEqual(s.broker);
  });
});

describe("pages of a larger answer (list_processes, ~20 processes a host)", () => {
  it("split the per-host results into byte-bounded pages that together hold every host once", async () => {
    const args = { target: "*", limit: 20, sortBy: "pid" };
    const r = await call(broker, "list_processes", args);
    const s = r.structuredContent as unknown as Summary;
    expect(bytes(s)).toBeLessThanOrEqual(8192);
    expect(s.summary).toEqual({ hosts: 46, ok: 44, failed: 2, denied: 0 });
    const { results, pages } = await pageAll("list_processes", args, s.page!);
    expect(pages).toBeGreaterThan(3);
    expect(results.map((x) => x.host)).toEqual(ALL);
    for (const x of results.filter((y) => y.ok)) expect(listProcesses.output.safeParse(x.data).success).toBe(true);
  });
});

describe("a host that differs (fresh: a 4 KiB scan budget)", () => {
  const input = { path: "", pattern: "ERROR" };
  beforeAll(() => {
    input.path = logFile;
  });

  it("search_logs' summary groups it apart and names its bytesScanned among the outliers", async () => {
    const s = (await call(broker, "search_logs", { target: "*", ...input })).structuredContent as unknown as Summary;
    expect(s.summary).toEqual({ hosts: 46, ok: 41, failed: 2, denied: 3 });
    expect(s.fleet.groups.map((g) => [g.count, g.hosts[0]])).toEqual([[40, "node01"], [1, "fresh"]]);
    expect(s.fleet.outliers.apart).toEqual([{ host: "fresh", values: { bytesScanned: expect.any(Number) } }]);
    const scanned = s.fleet.numbers.find((n) => n.field === "bytesScanned")!;
    expect(scanned).toMatchObject({ min: s.fleet.outliers.apart[0]!.values.bytesScanned, minHost: "fresh", n: 41, median: readFileSync(logFile).length });
    expect(scanned.min).toBeLessThan(8192);
    expect(searchLogs.output.safeParse(s.fleet.groups[1]!.data).success).toBe(true);
  });

  it("compare_hosts lists how fresh differs from the fleet's usual answer, with the share of the fleet", async () => {
    const r = await call(broker, "compare_hosts", { diagnostic: "search_logs", input, host: "fresh" });
    expect(r.isError, textOf(r)).toBeFalsy();
    const c = r.structuredContent as { diagnostic: string; host: string; result: { ok: boolean }; fleet: unknown; differences: Array<{ field: string; host?: unknown; usual?: unknown; share: number }>; same: number };
    expect(c).toMatchObject({ diagnostic: "search_logs", host: "fresh", result: { ok: true }, fleet: { hosts: 45, ok: 40, failed: 2, denied: 3 } });
    const byField = Object.fromEntries(c.differences.map((d) => [d.field, d]));
    expect(byField.stoppedBy).toEqual({ field: "stoppedBy", host: "max_bytes", usual: null, share: 1 });
    expect(byField.truncated).toEqual({ field: "truncated", host: true, usual: false, share: 1 });
    expect(byField.bytesScanned).toMatchObject({ usual: readFileSync(logFile).length, share: 1 });
    expect(byField.matches).toMatchObject({ host: [], share: 1 });
    expect(c.same).toBeGreaterThan(0);
    // Policy is the diagnostic's: the locked hosts were refused search_logs, recorded as such.
    const decisions = bd.audit().filter((a) => a.event === "policy.decision" && a.tool === "compare_hosts" && a.host === "lock1");
    expect(decisions.at(-1)).toMatchObject({ subject: "search_logs", decision: "deny", rule: 2 });
  });

  it("a usual host differs in nothing; a denied host is reported as such", async () => {
    const same = (await call(broker, "compare_hosts", { diagnostic: "search_logs", input, host: "node07" })).structuredContent as { differences: unknown[] };
    expect(same.differences).toEqual([]);
    const locked = (await call(broker, "compare_hosts", { diagnostic: "search_logs", input, host: "lock2", target: "tag:node" })).structuredContent as {
      result: { ok: boolean; error?: { code: string } };
      note?: string;
    };
    expect(locked.result).toMatchObject({ ok: false, error: { code: "POLICY_DENIED" } });
    expect(locked.note).toContain("lock2 did not answer");
  });

  it("refuses an unknown diagnostic or bad diagnostic arguments, naming the field", async () => {
    const unknown = await call(broker, "compare_hosts", { diagnostic: "rm_rf", host: "node01" });
    expect(unknown.isError).toBe(true);
    expect(textOf(unknown)).toContain("diagnostic:");
    const bad = await call(broker, "compare_hosts", { diagnostic: "list_processes", input: { limit: "many" }, host: "node01" });
    expect(textOf(bad)).toContain("input.limit");
    const host = await call(broker, "compare_hosts", { diagnostic: "get_load", host: "nosuch" });
    expect(textOf(host)).toContain('unknown host "nosuch"');
  });
});
