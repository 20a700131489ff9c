// Shared helpers for the handler-level diagnostic tests (test/diagnostics/*.test.ts): a real
// DiagnosticContext built from a raw agent.yaml object, and a runner that does what the agent's
// server does with a call (validate the input with the catalog, run the handler inside an exec
// scope that counts spawned processes, validate the output with the catalog) so a test can
// assert on the output, the error and the number of processes started.
//
//   const r = await runDiagnostic(servicesHandlers, catalog.getServiceLogs, { unit: "ssh" });
//   if (r.ok) r.out.entries; else r.error;   // r.spawns either way (0 when the input is refused)
import { expect } from "vitest";
import type { z } from "zod";
import type { DiagnosticDef } from "../../proto/catalog/define";
import { AgentConfigSchema } from "../../agent/src/config";
import { DiagnosticError, type DiagnosticContext } from "../../agent/src/diagnostics/context";
import { execScope } from "../../agent/src/exec";

export type AnyDef = DiagnosticDef<string, z.ZodObject, z.ZodType>;
type AnyHandler = (input: unknown, ctx: DiagnosticContext) => Promise<unknown>;

export type DiagnosticRun<D extends AnyDef> =
  | { ok: true; out: z.output<D["output"]>; spawns: number }
  | { ok: false; error: unknown; spawns: number };

/** A context as the agent builds it: `config` is the raw agent.yaml object (defaults applied). */
export function testContext(opts: { config?: Record<string, unknown>; agent?: Partial<DiagnosticContext["agent"]>; signal?: AbortSignal } = {}): DiagnosticContext {
  return {
    config: AgentConfigSchema.parse(opts.config ?? {}),
    signal: opts.signal ?? new AbortController().signal,
    agent: { version: "test", role: "reader", startedAt: Date.now(), catalogHash: "sha256:test", ...opts.agent },
  };
}

/**
 * Validates `rawInput` with `def.input`, runs the group's handler for `def`, validates its result
 * with `def.output`. Everything runs inside one exec scope, so a refused input reports spawns 0.
 */
export async function runDiagnostic<D extends AnyDef>(
  handlers: Record<D["name"], unknown>,
  def: D,
  rawInput: unknown,
  ctx: DiagnosticContext = testContext(),
): Promise<DiagnosticRun<D>> {
  const handler = (handlers as Record<string, AnyHandler | undefined>)[def.name];
  if (!handler) throw new Error(`no handler for ${def.name}`);
  const scope = { spawns: 0 };
  try {
    const out = await execScope.run(scope, async () => {
      const parsed = def.input.safeParse(rawInput);
      if (!parsed.success) throw parsed.error;
      return def.output.parse(await handler(parsed.data, ctx)) as z.output<D["output"]>;
    });
    return { ok: true, out, spawns: scope.spawns };
  } catch (error) {
    return { ok: false, error, spawns: scope.spawns };
  }
}

/** runDiagnostic for a valid input: resolves to the output and spawn count, rejects with the error. */
export async function callDiagnostic<D extends AnyDef>(
  handlers: Record<D["name"], unknown>,
  def: D,
  input: z.input<D["input"]>,
  ctx?: DiagnosticContext,
): Promise<{ out: z.output<D["output"]>; spawns: number }> {
  const r = await runDiagnostic(handlers, def, input, ctx);
  if (!r.ok) throw r.error;
  return { out: r.out, spawns: r.spawns };
}

/** Expects `p` to reject with a DiagnosticError (with `code`, when given) and returns it. */
export async function rejectsWith(p: Promise<unknown>, code?: DiagnosticError["code"]): Promise<DiagnosticError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, "expected a DiagnosticError").toBeInstanceOf(DiagnosticError);
  if (code !== undefined) expect((err as DiagnosticError).code).toBe(code);
  return err as DiagnosticError;
}

/** Expects `schema` to refuse `input`; returns its issues as "path: message; path: message". */
export function schemaErrors(schema: z.ZodType, input: unknown): string {
  const r = schema.safeParse(input);
  expect(r.success, `the schema should refuse ${JSON.stringify(input)?.slice(0, 100)}`).toBe(false);
  return (r.error?.issues ?? []).map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
}
