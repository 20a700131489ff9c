// One MCP tool per catalog diagnostic, generated from the definition: the input is the catalog's
// input plus `target`, the output is the per-host result list around the catalog's output.
import type { z } from "zod";
import type { DiagnosticDef } from "../../../../proto/catalog/define";
import { diagnostics } from "../../../../proto/catalog/diagnostics/index";
import { callDiagnostic } from "../../agents/diagnostic-call";
import type { Broker } from "../../broker";
import { targetArgument } from "../../targets";
import { runHostTool } from "../host-call";
import { hostResultsSchema } from "../host-results";
import { capOutput } from "../output-cap";
import type { ToolRegistry } from "../registry";
import type { ToolSpec } from "../sdk";

type AnyDef = DiagnosticDef<string, z.ZodObject, z.ZodType>;

/**
 * What the diagnostic does and its limits. What every diagnostic shares (`target`, one result per
 * host, a host's failure is data) is said once, in the server's instructions (commands/serve.ts),
 * not in each of the 32 descriptions: tools/list is read in every conversation.
 */
function describeDiagnostic(def: AnyDef): string {
  return `${def.summary}\n\nLimits: ${def.limits.join(" ")}`;
}

function diagnosticToolSpec(broker: Broker, def: AnyDef): ToolSpec {
  const input = def.input.extend({ target: targetArgument });
  return {
    name: def.name,
    title: def.title,
    description: describeDiagnostic(def),
    input,
    output: hostResultsSchema(def.output),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: def.openWorld ?? false },
    async handler(rawArgs, call) {
      const run = await runHostTool({
        broker,
        tool: { name: def.name, group: def.group },
        schema: input as unknown as z.ZodType<{ target: string }>,
        rawArgs,
        caller: call.caller,
        work: (host, args, ctx) => callDiagnostic({ pool: broker.pool, host, def, input: args, timeoutMs: ctx.timeoutMs, callId: ctx.callId }),
      });
      if (!run.ok) return run.outcome;
      const max = broker.config.current.settings.maxOutputBytes;
      const capped = capOutput(run.output, max, (data) => def.output.safeParse(data).success);
      return { structured: capped as unknown as Record<string, unknown> };
    },
  };
}

export function registerDiagnosticTools(registry: ToolRegistry, broker: Broker): void {
  for (const def of diagnostics as readonly AnyDef[]) registry.add(diagnosticToolSpec(broker, def));
}
