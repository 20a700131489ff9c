// Start the BUILT agent bundle (dist/agent/hostward-<role>.cjs, what ships) as a child process on
// 127.0.0.1 with a temporary config and certificates, and talk to it over real mTLS.
//
//   const pki = await createTestPki(join(dir, "pki"));              // test/support/pki.ts
//   const agent = await startAgent({ role: "reader", pki, dir });   // port 0 → agent.port
//   const client = diagnosticsClient(agent, pki, "reader");
//   const r = await callUnary(client, "getLoad", {});               // {ok, value} | {ok:false, code, details}
//   agent.rpcLines()                                                // the agent's "rpc" log lines
//   await agent.stop();                                             // SIGTERM, waits for exit
//
// The global setup (test/support/global-setup.ts) builds the bundles before any test runs.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import * as grpc from "@grpc/grpc-js";
import { ActionsServiceClient } from "../../proto/gen/hostward/v1/actions";
import { DiagnosticsServiceClient } from "../../proto/gen/hostward/v1/diagnostics";
import { clientCredentials, type ClientKind, type TestPki } from "./pki";

export type Role = "reader" | "operator";
export type LogLine = Record<string, unknown>;

const ROOT = join(import.meta.dirname, "..", "..");

function bundlePath(role: Role): string {
  return join(ROOT, "dist", "agent", `hostward-${role}.cjs`);
}

export interface StartAgentOptions {
  role: Role;
  pki: TestPki;
  /** A directory for the config and ready files (created if missing). */
  dir: string;
  /** Top-level config sections merged over the defaults (listen 127.0.0.1:0, TLS files from pki). */
  config?: Record<string, unknown>;
  /** Extra environment variables for the agent process. */
  env?: NodeJS.ProcessEnv;
  /** How long to wait for the ready file; default 15 s. */
  timeoutMs?: number;
  /** The node binary that runs the bundle; default this process's (test/support/node18.ts has 18). */
  node?: string;
}

export interface TestAgent {
  role: Role;
  port: number;
  pid: number;
  /** "localhost:PORT": the agent certificate is issued for localhost and 127.0.0.1. */
  address: string;
  /** The --ready-file the agent wrote (and removes on a clean exit). */
  readyFile: string;
  /** Every JSON line the agent printed on stdout so far. */
  lines(): LogLine[];
  /** The "rpc" lines only (one per call). */
  rpcLines(): LogLine[];
  /** Resolves with the first line (already printed or still to come) matching `match`. */
  waitForLine(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  stderr(): string;
  /** SIGTERM, then waits for the exit (SIGKILL after 10 s). */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function writeConfig(opts: StartAgentOptions): string {
  const config = {
    listen: { host: "127.0.0.1", port: 0 },
    tls: { ca: opts.pki.files.ca, cert: opts.pki.files.cert[opts.role], key: opts.pki.files.key[opts.role] },
    ...opts.config,
  };
  const file = join(opts.dir, `agent-${opts.role}.yaml`);
  writeFileSync(file, JSON.stringify(config, null, 2)); // JSON is YAML
  return file;
}

export async function startAgent(opts: StartAgentOptions): Promise<TestAgent> {
  mkdirSync(opts.dir, { recursive: true });
  const configFile = writeConfig(opts);
  const readyFile = join(opts.dir, `ready-${opts.role}-${Date.now()}.json`);
  const child = spawn(opts.node ?? process.execPath, [bundlePath(opts.role), "--config", configFile, "--ready-file", readyFile], {
    cwd: opts.dir,
    env: { PATH: process.env.PATH, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: LogLine[] = [];
  const waiters = new Set<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  let stderr = "";
  createInterface({ input: child.stdout }).on("line", (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { nonJson: text };
    }
    lines.push(line);
    for (const w of waiters) {
      if (w.match(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });
  let exitedEarly = false;
  void exited.then(() => {
    exitedEarly = true;
  });

  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  while (!existsSync(readyFile)) {
    if (exitedEarly) throw new Error(`hostward-${opts.role} exited before it was ready:\n${stderr}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`hostward-${opts.role} was not ready within ${opts.timeoutMs ?? 15_000} ms:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const ready = JSON.parse(readFileSync(readyFile, "utf8")) as { role: Role; port: number; pid: number };

  return {
    role: opts.role,
    port: ready.port,
    pid: ready.pid,
    address: `localhost:${ready.port}`,
    readyFile,
    lines: () => [...lines],
    rpcLines: () => lines.filter((l) => l.msg === "rpc"),
    waitForLine(match, timeoutMs = 5_000) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise<LogLine>((resolve, reject) => {
        const waiter = { match, resolve };
        waiters.add(waiter);
        setTimeout(() => {
          if (waiters.delete(waiter)) reject(new Error(`no matching log line within ${timeoutMs} ms; lines: ${JSON.stringify(lines.slice(-5))}`));
        }, timeoutMs);
      });
    },
    stderr: () => stderr,
    async stop() {
      if (!exitedEarly) {
        child.kill("SIGTERM");
        const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
        const result = await exited;
        clearTimeout(kill);
        return result;
      }
      return exited;
    },
  };
}

/** Runs a bundle to completion (for startup failures, --help, --version). */
export function runBundle(role: Role, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bundlePath(role), ...args], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    const kill = setTimeout(() => child.kill("SIGKILL"), 15_000);
    child.on("exit", (code) => {
      clearTimeout(kill);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A DiagnosticsService client presenting the `kind` client certificate (null: none). */
export function diagnosticsClient(agent: Pick<TestAgent, "address">, pki: TestPki, kind: ClientKind | null): DiagnosticsServiceClient {
  return new DiagnosticsServiceClient(agent.address, clientCredentials(pki, kind));
}

/** An ActionsService client presenting the `kind` client certificate (null: none). */
export function actionsClient(agent: Pick<TestAgent, "address">, pki: TestPki, kind: ClientKind | null): ActionsServiceClient {
  return new ActionsServiceClient(agent.address, clientCredentials(pki, kind));
}

/**
 * ts-proto's encoders expect complete messages; like `Request.fromPartial`, fill every field the
 * caller left out with its proto3 default (what the request type decodes from zero bytes).
 */
function completeRequest(client: grpc.Client, method: string, request: object): object {
  const service = (client.constructor as unknown as { service?: Record<string, grpc.MethodDefinition<object, unknown>> }).service;
  const definition = service?.[method];
  if (!definition) throw new Error(`the client has no method ${method}`);
  return { ...definition.requestDeserialize(Buffer.alloc(0)), ...request };
}

export type CallOutcome<T> = { ok: true; value: T } | { ok: false; code: grpc.status; details: string };

/** One unary call by its generated method key ("getLoad"), with a deadline (default 10 s). Fields left out of `request` take their proto3 defaults. */
export function callUnary<T = { json: string }>(client: grpc.Client, method: string, request: object, deadlineMs = 10_000): Promise<CallOutcome<T>> {
  const fn = (client as unknown as Record<string, unknown>)[method];
  if (typeof fn !== "function") throw new Error(`the client has no method ${method}`);
  return new Promise((resolve) => {
    (fn as (req: object, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: T) => void) => void).call(
      client,
      completeRequest(client, method, request),
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
      (err, value) => resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, value }),
    );
  });
}

/** A server-streaming call to its end: the messages received and the final status. */
export function callStream<T>(client: grpc.Client, method: string, request: object, deadlineMs = 10_000): Promise<{ messages: T[]; code: grpc.status; details: string }> {
  const fn = (client as unknown as Record<string, unknown>)[method];
  if (typeof fn !== "function") throw new Error(`the client has no method ${method}`);
  return new Promise((resolve) => {
    const messages: T[] = [];
    const stream = (fn as (req: object, md: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientReadableStream<T>).call(client, completeRequest(client, method, request), new grpc.Metadata(), {
      deadline: Date.now() + deadlineMs,
    });
    stream.on("data", (m: T) => messages.push(m));
    stream.on("error", () => undefined); // the status event carries the outcome
    stream.on("status", (s: grpc.StatusObject) => resolve({ messages, code: s.code, details: s.details }));
  });
}
