// The generic catalog → gRPC wiring (agent/src/server/diagnostics-service.ts), driven over real
// mTLS by fixture diagnostics bound to real generated methods: proto3 zero values, validation
// messages, output checking, the reply cap, the concurrency limit, deadlines, status mapping and
// the per-call log line.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { unitName } from "../../proto/catalog/grammar";
import { DiagnosticError, type DiagnosticContext } from "../../agent/src/diagnostics/context";
import { ExecError, run } from "../../agent/src/exec";
import { DeadlineExceeded } from "../../agent/src/server/deadline";
import type { AnyHandler } from "../../agent/src/server/diagnostics-service";
import { INTERNAL_MESSAGE } from "../../agent/src/server/errors";
import { callUnary, diagnosticsClient, type LogLine } from "../support/agent";
import { createTestPki, type TestPki } from "../support/pki";
import { startInProcess, type InProcessAgent } from "./in-process";

const echo = z.object({ input: z.record(z.string(), z.unknown()) });
const definitions = [
  { name: "get_service_status", input: z.strictObject({ unit: unitName }), output: echo },
  {
    name: "list_processes",
    input: z.strictObject({
      limit: z.number().int().min(1).max(200).default(20),
      sortBy: z.enum(["cpu", "memory", "pid"]).default("cpu"),
      user: z.string().optional(),
      nameContains: z.string().optional(),
    }),
    output: echo,
  },
  {
    name: "get_journal_logs",
    input: z.strictObject({
      unit: z.string().optional(),
      priority: z.string().optional(),
      since: z.string().optional(),
      until: z.string().optional(),
      boot: z.number().int().optional(),
      lines: z.number().int().default(100),
      cursor: z.string().optional(),
      grep: z.string().optional(),
    }),
    output: echo,
  },
  { name: "get_load", input: z.strictObject({}), output: z.object({ n: z.number(), pad: z.string().optional() }) },
  { name: "get_cpu_info", input: z.strictObject({}), output: z.object({ exitCode: z.number().nullable() }) },
];

/** What get_load does in the current test. */
let loadBehaviour: (ctx: DiagnosticContext) => Promise<unknown> = async () => ({ n: 1 });

const handlers: Record<string, AnyHandler> = {
  get_service_status: async (input) => ({ input }),
  list_processes: async (input) => ({ input }),
  get_journal_logs: async (input) => ({ input }),
  get_load: (_input, ctx) => loadBehaviour(ctx),
  // A real process through exec.ts, so the log line's spawn count has something to count.
  get_cpu_info: async (_input, ctx) => ({ exitCode: (await run("systemctl", ["--version"], [], { signal: ctx.signal })).exitCode }),
};

let dir: string;
let pki: TestPki;
let agent: InProcessAgent;
let client: grpc.Client;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hostward-wiring-"));
  pki = await createTestPki(dir);
  agent = await startInProcess({ pki, wiring: { definitions, handlers }, limits: { maxConcurrentCalls: 2, maxReplyBytes: 1024 } });
  client = diagnosticsClient(agent, pki, "reader");
});

afterAll(async () => {
  client?.close();
  await agent?.stop();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  loadBehaviour = async () => ({ n: 1 });
});

async function lastLine(method: string): Promise<LogLine> {
  for (let i = 0; i < 100; i++) {
    const line = agent.lines.filter((l) => l.msg === "rpc" && l.method === method).at(-1);
    if (line) return line;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no rpc line for ${method}`);
}

async function echoed(method: string, request: object): Promise<unknown> {
  const result = await callUnary(client, method, request);
  if (!result.ok) throw new Error(`${method} failed: ${result.details}`);
  return (JSON.parse(result.value.json) as { input: unknown }).input;
}

describe("proto3 zero values", () => {
  it("plain fields at zero are dropped so the catalog's defaults apply", async () => {
    expect(await echoed("listProcesses", {})).toEqual({ limit: 20, sortBy: "cpu" });
    expect(await echoed("listProcesses", { limit: 0, sortBy: "" })).toEqual({ limit: 20, sortBy: "cpu" });
    expect(await echoed("listProcesses", { limit: 5, user: "root" })).toEqual({ limit: 5, sortBy: "cpu", user: "root" });
  });

  it("an explicit zero in an `optional` field is kept (boot 0 = the current boot)", async () => {
    expect(await echoed("getJournalLogs", { boot: 0 })).toEqual({ boot: 0, lines: 100 });
    expect(await echoed("getJournalLogs", {})).toEqual({ lines: 100 });
  });
});

describe("invalid arguments", () => {
  it("name the field and say what is wrong; nothing runs; the value is not logged", async () => {
    const bad = await callUnary(client, "getServiceStatus", { unit: "-evil-value" });
    expect(bad).toEqual({ ok: false, code: grpc.status.INVALID_ARGUMENT, details: 'invalid argument "unit": unit name must not start with "-"' });
    const line = await lastLine("GetServiceStatus");
    expect(line).toMatchObject({ outcome: "INVALID_ARGUMENT", spawns: 0 });
    expect(line.argDigest).toMatch(/^sha256:/);
    expect(JSON.stringify(line)).not.toContain("evil-value");
  });

  it("a missing required field (proto3 empty string) is reported as required", async () => {
    const missing = await callUnary(client, "getServiceStatus", {});
    expect(missing).toEqual({ ok: false, code: grpc.status.INVALID_ARGUMENT, details: 'invalid argument "unit": is required' });
  });
});

describe("results", () => {
  it("a result that breaks the output schema is INTERNAL (a server fault), detail only in the log", async () => {
    loadBehaviour = async () => ({ n: "not a number" });
    const result = await callUnary(client, "getLoad", {});
    expect(result).toEqual({ ok: false, code: grpc.status.INTERNAL, details: INTERNAL_MESSAGE });
    expect(String((await lastLine("GetLoad")).error)).toMatch(/does not match its output schema[\s\S]*n:/);
  });

  it("a reply over limits.maxReplyBytes is RESOURCE_EXHAUSTED with the limit named", async () => {
    loadBehaviour = async () => ({ n: 1, pad: "x".repeat(2000) });
    const result = await callUnary(client, "getLoad", {});
    expect(result).toMatchObject({ ok: false, code: grpc.status.RESOURCE_EXHAUSTED });
    if (!result.ok) expect(result.details).toMatch(/over this agent's limit of 1024 bytes \(limits\.maxReplyBytes\)/);
  });

  it("extra keys a handler adds are not passed on", async () => {
    loadBehaviour = async () => ({ n: 2, secret: "x" });
    const result = await callUnary(client, "getLoad", {});
    expect(result).toEqual({ ok: true, value: { json: '{"n":2}' } });
  });

  it("counts the processes a call started in its log line", async () => {
    const result = await callUnary(client, "getCpuInfo", {});
    expect(result).toEqual({ ok: true, value: { json: '{"exitCode":0}' } });
    expect(await lastLine("GetCpuInfo")).toMatchObject({ outcome: "OK", spawns: 1 });
  });
});

describe("errors map to typed statuses", () => {
  it.each([
    ["DiagnosticError NOT_FOUND", () => new DiagnosticError("NOT_FOUND", "unit nginx.service not found"), grpc.status.NOT_FOUND, "unit nginx.service not found"],
    ["ExecError not-installed", () => new ExecError("podman is not installed on this host", "not-installed"), grpc.status.FAILED_PRECONDITION, "podman is not installed on this host"],
    ["ExecError timeout", () => new ExecError("journalctl did not finish within 10 ms", "timeout"), grpc.status.DEADLINE_EXCEEDED, "journalctl did not finish within 10 ms"],
    ["ExecError refused", () => new ExecError('refused value "-x"', "refused"), grpc.status.INVALID_ARGUMENT, 'refused value "-x"'],
    ["ExecError spawn-failed", () => new ExecError("systemctl could not be started: EACCES", "spawn-failed"), grpc.status.INTERNAL, INTERNAL_MESSAGE],
    ["any other error", () => new Error("secret detail"), grpc.status.INTERNAL, INTERNAL_MESSAGE],
  ] as const)("%s", async (_name, makeError, code, details) => {
    loadBehaviour = async () => {
      throw makeError();
    };
    expect(await callUnary(client, "getLoad", {})).toEqual({ ok: false, code, details });
  });

  it("an unexpected error's detail goes to the log, not to the caller", async () => {
    loadBehaviour = async () => {
      throw new Error("secret detail");
    };
    await callUnary(client, "getLoad", {});
    expect(await lastLine("GetLoad")).toMatchObject({ outcome: "INTERNAL" });
    expect(String((await lastLine("GetLoad")).error)).toContain("secret detail");
  });
});

describe("deadlines and limits", () => {
  it("the caller's deadline aborts the handler's signal", async () => {
    let reason: unknown;
    loadBehaviour = (ctx) =>
      new Promise((resolve) => {
        ctx.signal.addEventListener("abort", () => {
          reason = ctx.signal.reason;
          resolve({ n: 0 });
        });
      });
    const result = await callUnary(client, "getLoad", {}, 300);
    expect(result).toMatchObject({ ok: false, code: grpc.status.DEADLINE_EXCEEDED });
    for (let i = 0; i < 100 && reason === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    expect(reason).toBeInstanceOf(DeadlineExceeded);
    expect(await lastLine("GetLoad")).toMatchObject({ outcome: "DEADLINE_EXCEEDED" });
  });

  it("past limits.maxConcurrentCalls a call is RESOURCE_EXHAUSTED at once", async () => {
    let entered = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    loadBehaviour = async () => {
      entered += 1;
      await gate;
      return { n: 1 };
    };
    const first = [callUnary(client, "getLoad", {}), callUnary(client, "getLoad", {})];
    for (let i = 0; i < 200 && entered < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(entered).toBe(2);
    const third = await callUnary(client, "getLoad", {});
    expect(third).toMatchObject({ ok: false, code: grpc.status.RESOURCE_EXHAUSTED });
    if (!third.ok) expect(third.details).toMatch(/limit of 2 concurrent calls \(limits\.maxConcurrentCalls\)/);
    release();
    for (const r of await Promise.all(first)) expect(r.ok).toBe(true);
    // The slots are given back: a new call succeeds.
    expect((await callUnary(client, "getLoad", {})).ok).toBe(true);
  });
});

describe("methods without a catalog entry", () => {
  it("answer UNIMPLEMENTED", async () => {
    expect(await callUnary(client, "getAgentInfo", {})).toMatchObject({ ok: false, code: grpc.status.UNIMPLEMENTED });
  });
});
