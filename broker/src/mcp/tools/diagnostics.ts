// One MCP tool per catalog diagnostic, generated from the definition: the input is the catalog's
// input plus `target`, `view` and `page` (fleet-view.ts), the output is the per-host result list
// around the catalog's output, or its summary.
import { z } from "zod";
import type { DiagnosticDef } from "../../../../proto/catalog/define";
import { diagnostics } from "../../../../proto/catalog/diagnostics/index";
import { callDiagnostic } from "../../agents/diagnostic-call";
import type { Broker } from "../../broker";
import { targetArgument } from "../../targets";
import type { AnswerStore } from "../answers";
import { fleetDefOf } from "../fleet-shape";
import { runFleetTool } from "../fleet-view";
import { fleetResultsSchema } from "../host-results";
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

/** What every fan-out tool adds to its own arguments; explained in the server's instructions. */
export const fleetArguments = {
  target: targetArgument,
  view: z.enum(["summary", "hosts"]).optional(),
  page: z.string().max(256).optional(),
};

function diagnosticToolSpec(broker: Broker, answers: AnswerStore, def: AnyDef): ToolSpec {
  const input = def.input.extend(fleetArguments);
  return {
    name: def.name,
    title: def.title,
    description: describeDiagnostic(def),
    input,
    output: fleetResultsSchema(def.output),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: def.openWorld ?? false },
    handler: (rawArgs, call) =>
      runFleetTool({
        broker,
        answers,
        tool: { name: def.name, group: def.group },
        def: fleetDefOf(def),
        schema: input as unknown as z.ZodType<{ target: string }>,
        rawArgs,
        caller: call.caller,
        work: (host, args, ctx) => callDiagnostic({ pool: broker.pool, host, def, input: args, timeoutMs: ctx.timeoutMs, callId: ctx.callId }),
        isValidData: (data) => def.output.safeParse(data).success,
      }),
  };
}

export function registerDiagnosticTools(registry: ToolRegistry, broker: Broker, answers: AnswerStore): void {
  for (const def of diagnostics as readonly AnyDef[]) registry.add(diagnosticToolSpec(broker, answers, def));
}
