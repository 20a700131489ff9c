// Bad input of every kind, end to end (issue "The spine"): the SDK's MCP client → the built broker →
// a real reader agent. Values the catalog's grammars refuse never leave the broker (no RPC, an
// audited refusal naming the field); values only the host can judge (a symlink out of the log root,
// a FIFO) reach the agent, which refuses them without opening anything dangerous or spawning, logs
// the refusal on its side, and the broker reports it for that host and audits the result.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, type TestAgent } from "../support/agent";
import { createTestPki } from "../support/pki";
import { createBrokerDir, type BrokerDir } from "./helpers/broker-dir";
import { call, connectBroker, textOf, type BrokerSession } from "./helpers/mcp-client";

let dir: string;
let logs: string;
let agent: TestAgent;
let bd: BrokerDir;
let broker: BrokerSession;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hw-bad-input-"));
  logs = join(dir, "logs");
  mkdirSync(logs);
  writeFileSync(join(logs, "app.log"), "hello\n");
  symlinkSync("/etc/passwd", join(logs, "escape.log"));
  // mkfifo has no node:fs equivalent; test setup only (product code never spawns outside exec.ts).
  execFileSync("/usr/bin/mkfifo", ["--", join(logs, "pipe.log")]);
  const pki = await createTestPki(join(dir, "pki"));
  agent = await startAgent({ role: "reader", pki, dir: join(dir, "agent"), config: { logs: { roots: [logs] } } });
  bd = createBrokerDir(join(dir, "cfg"), pki);
  bd.writeHosts([{ name: "web1", port: agent.port, tags: ["web"] }]);
  bd.writePolicy([{ target: "*", allow: ["*"] }]);
  broker = await connectBroker(bd.dir, dir);
}, 60_000);

afterAll(async () => {
  await broker?.close();
  await agent?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const MIB = "a".repeat(1024 * 1024);

describe("refused by the broker: no RPC, an audited refusal naming the field", () => {
  const cases: Array<[string, string, Record<string, unknown>, string]> = [
    ["$() substitution", "get_service_status", { unit: "$(id)" }, "unit"],
    ["backticks", "get_service_logs", { unit: "nginx`id`" }, "unit"],
    ["a semicolon", "get_container_status", { name: "web;reboot" }, "name"],
    ["a NUL byte", "read_log_file", { path: "/var/log/syslog\u0000.txt" }, "path"],
    ["a newline", "get_journal_logs", { grep: "a\nb" }, "grep"],
    ["a '..' segment", "read_log_file", { path: `${"/var/log"}/../../etc/shadow` }, "path"],
    ["a leading '-' in a host", "test_connectivity", { host: "-oProxyCommand=x", ports: [22] }, "host"],
    ["a 1 MiB string", "search_logs", { path: "/var/log/syslog", pattern: MIB }, "pattern"],
    ["a wrong type", "list_processes", { limit: "5" }, "limit"],
    ["an out-of-range count", "get_journal_logs", { lines: 100000 }, "lines"],
    ["an unknown key", "get_disk_usage", { mountPoint: "/", recursive: true }, "recursive"],
  ];

  it.each(cases)("%s", async (_what, tool, args, field) => {
    const rpcsBefore = agent.rpcLines().length;
    const r = await call(broker, tool, { target: "web1", ...args });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toContain(`invalid arguments for ${tool}`);
    expect(textOf(r)).toContain(field);
    expect(textOf(r).length).toBeLessThan(2000); // the 1 MiB value is not echoed back
    const refusal = bd.audit().filter((a) => a.event === "tool.refused").at(-1);
    expect(refusal).toMatchObject({ tool, reason: "INVALID_ARGUMENT" });
    expect(refusal!.fields).toContain(field);
    expect(agent.rpcLines().length).toBe(rpcsBefore);
  });
});

describe("refused by the agent: what only the host can judge", () => {
  async function readVia(path: string) {
    const r = await call(broker, "read_log_file", { target: "web1", path });
    expect(r.isError).toBeFalsy();
    const result = (r.structuredContent as { results: Array<{ ok: boolean; error?: { code: string; message: string } }> }).results[0]!;
    const line = await agent.waitForLine((l) => l.msg === "rpc" && l.method === "ReadLogFile" && l.outcome !== "OK");
    return { result, line };
  }

  it("a symlink out of the allowed root is refused, naming the path", async () => {
    const { result, line } = await readVia(join(logs, "escape.log"));
    expect(result.ok).toBe(false);
    expect(result.error!.code).toBe("PERMISSION_DENIED");
    expect(result.error!.message).toContain("escape.log");
    expect(result.error!.message).not.toContain("root:x:0:0"); // nothing of /etc/passwd leaks
    expect(line).toMatchObject({ outcome: "PERMISSION_DENIED", spawns: 0 });
  });

  it("a FIFO is refused at once, without blocking on it", async () => {
    const started = Date.now();
    const { result } = await readVia(join(logs, "pipe.log"));
    expect(result.ok).toBe(false);
    expect(result.error!.message).toMatch(/not a regular file|FIFO/i);
    expect(Date.now() - started).toBeLessThan(5_000); // a blocking open would hit the 10 s host deadline
    const audited = bd.audit().filter((a) => a.event === "tool.result" && a.tool === "read_log_file").at(-1);
    expect(audited).toBeDefined();
  });
});
