// stdout is the MCP channel: nothing but JSON-RPC may ever appear on it, even while the broker
// logs (startup, tool calls, an unreachable host). Driven with raw JSON-RPC lines so that any
// stray byte on stdout is seen (an SDK client would only report it as a parse error).
import { KernelLock } from "../../broker/src/file-lock";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestPki, type TestPki } from "../support/pki";
import { BROKER_BUNDLE, brokerEnv, createBrokerDir } from "./helpers/broker-dir";

let dir: string;
let pki: TestPki;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hw-stdout-"));
  pki = await createTestPki(join(dir, "pki"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("writes only JSON-RPC messages to stdout; logs go to stderr as JSON lines", async () => {
  const bd = createBrokerDir(join(dir, "cfg"), pki);
  // Port 9 on loopback: nothing listens, so the call exercises the error and logging paths.
  bd.writeHosts([{ name: "nowhere", port: 9 }]);
  bd.writePolicy([{ target: "*", allow: ["*"] }]);
  // At debug level, so that every log line the broker can write per call is written.
  const child = spawn(process.execPath, [BROKER_BUNDLE, "serve", "--config", bd.dir], { env: { ...brokerEnv(dir), HOSTWARD_LOG_LEVEL: "debug" }, stdio: ["pipe", "pipe", "pipe"] });
  const stdoutLines: string[] = [];
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const responses = new Map<number, Record<string, unknown>>();
  const waiters = new Map<number, () => void>();
  createInterface({ input: child.stdout }).on("line", (line) => {
    stdoutLines.push(line);
    try {
      const msg = JSON.parse(line) as { id?: number };
      if (typeof msg.id === "number") {
        responses.set(msg.id, msg);
        waiters.get(msg.id)?.();
      }
    } catch {
      // recorded in stdoutLines; asserted below
    }
  });
  const request = (id: number, method: string, params: Record<string, unknown>) =>
    new Promise<Record<string, unknown>>((resolve) => {
      waiters.set(id, () => resolve(responses.get(id)!));
      child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", id, method, params })}\n`);
    });

  const init = await request(1, "initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw-test", version: "1.0" } });
  expect(init).toMatchObject({ jsonrpc: "2.0", id: 1, result: { serverInfo: { name: "hostward" } } });
  child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`);
  const list = await request(2, "tools/list", {});
  expect((list.result as { tools: unknown[] }).tools.length).toBeGreaterThan(5);
  const call = await request(3, "tools/call", { name: "get_load", arguments: { target: "nowhere" } });
  expect(call.result).toMatchObject({ structuredContent: { results: [{ host: "nowhere", ok: false, error: { code: "UNAVAILABLE" } }] } });
  const bad = await request(4, "tools/call", { name: "get_load", arguments: { target: "nowhere", extra: 1 } });
  expect(bad.result).toMatchObject({ isError: true });
  child.stdin.end();
  const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
  expect(code).toBe(0);
  // The audit lock (a kernel lock on a file that stays, broker/src/file-lock.ts) is free once it exited.
  expect(existsSync(bd.auditFile)).toBe(true);
  const lock = new KernelLock(`${bd.auditFile}.lock`);
  expect(lock.tryAcquire()).toBe(true);
  lock.close();

  expect(stdoutLines.length).toBeGreaterThanOrEqual(4);
  for (const line of stdoutLines) {
    const msg = JSON.parse(line) as Record<string, unknown>;
    expect(msg.jsonrpc).toBe("2.0");
  }
  // The logs did happen, on stderr, as pino JSON lines.
  const logs = stderr
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { msg: string });
  expect(logs.map((l) => l.msg)).toEqual(expect.arrayContaining(["broker started", "tool call", "broker stopping"]));
});
