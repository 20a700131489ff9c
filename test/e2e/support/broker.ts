// The broker as an operator runs it (`node dist/hostward.cjs serve --config DIR`), but started
// inside the client network namespace (`ip netns exec NS node …`) so that it reaches the containers'
// agents over the suite's private network and nothing else; driven by the MCP SDK's real Client.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { PassThrough } from "node:stream";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import type { CliPki } from "./pki";
import { BROKER_BUNDLE } from "./paths";
import { sleep } from "./run";

export interface InventoryHost {
  name: string;
  address: string;
  tags: string[];
}

export interface BrokerConfigDir {
  dir: string;
  home: string;
}

export interface BrokerConfigOptions {
  /** Also issue tls/operator.{crt,key} (actions reach the hosts' operator agents with it). */
  operator?: boolean;
  /** Policy rules after the default one (e.g. `{ target: "web1", allow: ["restart_service"] }`). */
  extraRules?: Array<{ target: string; allow?: string[]; deny?: string[] }>;
}

/** hosts.yaml, policy.yaml (system, services and health allowed everywhere), broker.yaml, tls/ from the CLI PKI. */
export async function writeBrokerConfig(dir: string, pki: CliPki, hosts: readonly InventoryHost[], opts: BrokerConfigOptions = {}): Promise<BrokerConfigDir> {
  const home = join(dir, "home");
  mkdirSync(join(dir, "tls"), { recursive: true });
  mkdirSync(home, { recursive: true });
  await pki.issueClient("reader", join(dir, "tls"));
  if (opts.operator) await pki.issueClient("operator", join(dir, "tls"));
  const inventory = hosts.map((h) => ({ name: h.name, address: h.address, ports: { reader: 7443, operator: 7444 }, tags: h.tags, certName: h.name }));
  // JSON is YAML.
  writeFileSync(join(dir, "hosts.yaml"), JSON.stringify({ hosts: inventory }, null, 2));
  const rules = [{ target: "*", allow: ["group:system", "group:services", "group:health"] }, ...(opts.extraRules ?? [])];
  writeFileSync(join(dir, "policy.yaml"), JSON.stringify({ rules }, null, 2));
  writeFileSync(join(dir, "broker.yaml"), JSON.stringify({ stateDir: join(dir, "state"), fanout: { hostTimeoutMs: 10_000 } }, null, 2));
  return { dir, home };
}

interface ToolResult {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content: Array<{ type: string; text?: string }>;
}

interface HostResult<T> {
  host: string;
  ok: boolean;
  data?: T;
  error?: { code: string; message: string };
}

interface HostResults<T> {
  results: HostResult<T>[];
  summary: { hosts: number; ok: number; failed: number; denied: number };
}

export interface BrokerSession {
  /** The SDK's Client itself, for prompts, resources and completion. */
  client: Client;
  call(name: string, args: Record<string, unknown>): Promise<ToolResult>;
  /** A call that asks for progress notifications (MCP progressToken); each arrives at onProgress. */
  callWithProgress(name: string, args: Record<string, unknown>, onProgress: (p: { progress: number; message?: string }) => void, timeoutMs?: number): Promise<ToolResult>;
  /** A tool's per-host results (throws on a tool-level error, with its text). */
  hosts<T>(name: string, args: Record<string, unknown>): Promise<HostResults<T>>;
  /** Retries until every selected host answers ok (agents restarting, channels reconnecting). */
  hostsOk<T>(name: string, args: Record<string, unknown>, timeoutMs?: number): Promise<HostResults<T>>;
  stderr(): string;
  /** The broker process (`ip netns exec` execs node in place), for tests that signal it. */
  pid(): number | null;
  close(): Promise<void>;
}

export async function connectBrokerInNetns(ns: string, config: BrokerConfigDir): Promise<BrokerSession> {
  const transport = new StdioClientTransport({
    command: "ip",
    args: ["netns", "exec", ns, process.execPath, BROKER_BUNDLE, "serve", "--config", config.dir],
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: config.home },
    stderr: "pipe",
  });
  let stderr = "";
  (transport.stderr as PassThrough | null)?.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
  const client = new Client({ name: "hostward-e2e", version: "0.0.1" });
  try {
    await client.connect(transport);
  } catch (err) {
    throw new Error(`cannot connect to the broker in ${ns}: ${(err as Error).message}\n${stderr}`, { cause: err });
  }
  const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as ToolResult;
  const hosts = async <T>(name: string, args: Record<string, unknown>) => {
    const r = await call(name, args);
    if (r.isError || !r.structuredContent) throw new Error(`${name} failed: ${r.content.map((c) => c.text ?? "").join("\n")}`);
    return r.structuredContent as unknown as HostResults<T>;
  };
  return {
    client,
    call,
    callWithProgress: async (name, args, onProgress, timeoutMs = 150_000) =>
      (await client.callTool({ name, arguments: args }, { onprogress: onProgress, timeout: timeoutMs })) as ToolResult,
    hosts,
    async hostsOk<T>(name: string, args: Record<string, unknown>, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const r = await hosts<T>(name, args);
        if (r.results.length > 0 && r.results.every((h) => h.ok)) return r;
        if (Date.now() > deadline) throw new Error(`${name}: not every host answered within ${timeoutMs} ms: ${JSON.stringify(r.results.map((h) => ({ host: h.host, ok: h.ok, error: h.error })))}`);
        await sleep(500);
      }
    },
    stderr: () => stderr,
    pid: () => transport.pid,
    close: () => client.close(),
  };
}
