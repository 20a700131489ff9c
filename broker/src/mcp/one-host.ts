// One catalog diagnostic on one host, for the broker's own readers (a host's resource, unit-name
// completion): the same path as the diagnostic's tool — validation, policy, the call and its result
// audited (host-call.ts) — with the per-host answer unwrapped.
import type { z } from "zod";
import type { DiagnosticDef } from "../../../proto/catalog/define";
import { diagnostics } from "../../../proto/catalog/diagnostics/index";
import { callDiagnostic } from "../agents/diagnostic-call";
import type { CallerIdentity } from "../audit/records";
import type { Broker } from "../broker";
import { targetArgument } from "../targets";
import { runHostTool } from "./host-call";

type AnyDef = DiagnosticDef<string, z.ZodObject, z.ZodType>;

export type OneHostAnswer = { ok: true; data: unknown } | { ok: false; code: string; message: string };

export async function diagnoseOneHost(broker: Broker, diagnostic: string, host: string, input: Record<string, unknown>, caller: CallerIdentity): Promise<OneHostAnswer> {
  const def = (diagnostics as readonly AnyDef[]).find((d) => d.name === diagnostic);
  if (!def) throw new Error(`${diagnostic} is not a catalog diagnostic`);
  const schema = def.input.extend({ target: targetArgument }) as unknown as z.ZodType<{ target: string }>;
  const done = await runHostTool({
    broker,
    tool: { name: def.name, group: def.group },
    schema,
    rawArgs: { ...input, target: host },
    caller,
    work: (h, args, ctx) => callDiagnostic({ pool: broker.pool, host: h, def, input: args, timeoutMs: ctx.timeoutMs, callId: ctx.callId }),
  });
  if (!done.ok) {
    const outcome = done.outcome;
    return { ok: false, code: "REFUSED", message: "error" in outcome ? outcome.error : "refused" };
  }
  const [result] = done.output.results;
  if (!result) return { ok: false, code: "NO_RESULT", message: `no answer for ${host}` };
  return result.ok ? { ok: true, data: result.data } : { ok: false, code: result.error?.code ?? "FAILED", message: result.error?.message ?? "failed" };
}
