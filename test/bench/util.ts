// Shared pieces of the benchmark: timing statistics, /proc memory readings, child processes that
// are always ours (tracked by pid and stopped by pid), and the MCP client over stdio.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, watch } from "node:fs";
import { basename, dirname, join } from "node:path";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";

export const ROOT = join(__dirname, "..", "..", "..");
export const BROKER_BUNDLE = join(ROOT, "dist", "hostward.cjs");
export const AGENT_BUNDLE = (role: "reader" | "operator") => join(ROOT, "dist", "agent", `hostward-${role}.cjs`);

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** p50/p99/mean over samples in milliseconds, with the run count every figure must state. */
export interface Stats {
  runs: number;
  p50: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

export function stats(samples: readonly number[]): Stats {
  if (samples.length === 0) throw new Error("no samples");
  const s = [...samples].sort((a, b) => a - b);
  // Nearest-rank percentiles: with n runs, p99 is the ceil(0.99 n)-th smallest sample.
  const rank = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] as number;
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    runs: s.length,
    p50: round(rank(0.5)),
    p99: round(rank(0.99)),
    mean: round(s.reduce((a, b) => a + b, 0) / s.length),
    min: round(s[0] as number),
    max: round(s[s.length - 1] as number),
  };
}

/** Runs `fn` `warmup` times unmeasured, then `runs` times measured (ms each), one after another. */
export async function timeRuns(runs: number, warmup: number, fn: (i: number) => Promise<unknown>): Promise<Stats> {
  for (let i = 0; i < warmup; i++) await fn(i);
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn(i);
    samples.push(performance.now() - t);
  }
  return stats(samples);
}

/** Memory of a process from /proc/PID/status, MiB. rssFile is mostly node's own binary (shared). */
export interface ProcMemory {
  rss: number;
  hwm: number;
  rssAnon: number;
  rssFile: number;
}

export function procMemory(pid: number): ProcMemory {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text);
    if (!m) throw new Error(`no ${key} in /proc/${pid}/status`);
    return Math.round((Number(m[1]) / 1024) * 10) / 10;
  };
  return { rss: kb("VmRSS"), hwm: kb("VmHWM"), rssAnon: kb("RssAnon"), rssFile: kb("RssFile") };
}

/**
 * CPU time a process has used so far (user + system, ms) from /proc/PID/stat: clock ticks, 10 ms
 * each on Linux (USER_HZ is 100 on every architecture the bench runs on).
 */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The fields after the command name (which may hold spaces) start after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every child the bench starts; `stopAll` ends them by pid (never by name). */
const children = new Set<ChildProcess>();

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
}

export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c)));
}

/** Runs a program to completion (argv, no shell); rejects on a non-zero exit with its stderr. */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; okCodes?: number[] } = {},
): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"], env: opts.env ?? process.env });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    child.on("error", reject);
    child.on("close", (code) => ((opts.okCodes ?? [0]).includes(code ?? -1) ? resolve({ stdout, stderr, code: code ?? -1 }) : reject(new Error(`${cmd} ${args.join(" ")} exited ${code}: ${stderr.slice(-2000)}`))));
  });
}

/** Resolves when `file` exists (fs.watch on its directory, so the moment is not a polling tick). */
export function waitForFile(file: string, timeoutMs: number, child?: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const dir = dirname(file);
    const name = basename(file);
    const done = (err?: Error) => {
      watcher.close();
      clearTimeout(timer);
      clearInterval(poll);
      if (err) reject(err);
      else resolve();
    };
    const watcher = watch(dir, (_event, changed) => {
      if (changed === name && existsSync(file)) done();
    });
    // A fallback in case an event is coalesced, and a check that the child is still alive.
    const poll = setInterval(() => {
      if (existsSync(file)) done();
      else if (child && child.exitCode !== null) done(new Error(`process ${child.pid} exited (${child.exitCode}) before writing ${file}`));
    }, 50);
    const timer = setTimeout(() => done(new Error(`${file} did not appear within ${timeoutMs} ms`)), timeoutMs);
    if (existsSync(file)) done();
  });
}

export interface McpSession {
  client: Client;
  /** The broker's pid (for VmHWM). */
  pid: number;
  stderr(): string;
  close(): Promise<void>;
}

/** `hostward serve --config DIR` driven by the SDK's MCP client over stdio; `nodeArgs` go to node (e.g. --cpu-prof). */
export async function connectBroker(configDir: string, home: string, nodeArgs: readonly string[] = []): Promise<McpSession> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...nodeArgs, BROKER_BUNDLE, "serve", "--config", configDir],
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, XDG_STATE_HOME: join(home, "state"), XDG_CONFIG_HOME: join(home, "config") },
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
  const client = new Client({ name: "hostward-bench", version: "0.0.1" });
  try {
    await client.connect(transport);
  } catch (err) {
    throw new Error(`cannot connect to the broker: ${(err as Error).message}\n${stderr}`, { cause: err });
  }
  const pid = transport.pid;
  if (pid === null) throw new Error("the broker has no pid");
  return { client, pid, stderr: () => stderr, close: () => client.close() };
}

export interface ToolResult {
  isError?: boolean;
  structuredContent?: { results?: Array<{ host: string; ok: boolean; error?: { code: string; message: string } }>; summary?: Record<string, number> };
  content: Array<{ type: string; text?: string }>;
}

export async function callTool(session: McpSession, name: string, args: Record<string, unknown>): Promise<ToolResult> {
  return (await session.client.callTool({ name, arguments: args })) as ToolResult;
}

/** Fails loudly when a call the bench measures did not do what it is supposed to measure. */
export function expectOk(r: ToolResult, what: string, hosts = 1): void {
  const s = r.structuredContent?.summary;
  if (r.isError || !s || s.ok !== hosts) {
    throw new Error(`${what}: expected ${hosts} ok host(s), got ${JSON.stringify(r.structuredContent?.summary ?? r.content).slice(0, 500)}`);
  }
}
