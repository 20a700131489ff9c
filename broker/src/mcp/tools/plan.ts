// plan: a dry run. For a tool, a target and arguments, which hosts would it run on, what policy
// decides for each (and by which rule), and whether the arguments are valid. Nothing is sent.
import { z } from "zod";
import type { DiagnosticDef } from "../../../../proto/catalog/define";
import { diagnostics } from "../../../../proto/catalog/diagnostics/index";
import type { Broker } from "../../broker";
import { decide, principalOf } from "../../policy";
import { policyTools } from "../../policy-tools";
import { resolveTargets, targetArgument } from "../../targets";
import { parseArgs } from "../arguments";
import { runLocalTool } from "../local-call";
import type { ToolRegistry } from "../registry";

const planInput = z.strictObject({
  tool: z.string().max(128).describe("the tool to plan, e.g. get_service_status"),
  target: targetArgument,
  args: z.record(z.string(), z.unknown()).optional().describe("the tool's arguments (without target); omitted: {}"),
});

const planOutput = z.object({
  tool: z.string(),
  target: z.string(),
  hosts: z.array(z.object({ host: z.string(), allowed: z.boolean(), rule: z.number().int().nullable(), reason: z.string() })),
  input: z.object({ valid: z.boolean(), error: z.string().optional() }),
  summary: z.object({ hosts: z.number().int(), allowed: z.number().int(), denied: z.number().int() }),
  wouldRun: z.boolean().describe("valid arguments and at least one host allowed"),
});

type AnyDef = DiagnosticDef<string, z.ZodObject, z.ZodType>;

export function registerPlanTool(registry: ToolRegistry, broker: Broker): void {
  registry.add({
    name: "plan",
    title: "Plan a call (dry run)",
    description:
      "Dry run of a host tool: the hosts `target` selects, the policy decision for each (with the deciding rule), and whether `args` are valid for the tool. Nothing is executed or sent to any host.",
    input: planInput,
    output: planOutput,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    handler: async (raw, call) =>
      runLocalTool(broker, "plan", planInput, raw, call.caller, ({ tool, target, args }) => {
        const subject = policyTools().get(tool);
        if (!subject) return { error: `unknown tool "${tool}": plan covers the diagnostics and ping_hosts (see tools/list)` };
        const config = broker.config.current;
        const resolved = resolveTargets(target, config.hosts);
        if (!resolved.ok) return { error: resolved.error };
        const def = (diagnostics as readonly AnyDef[]).find((d) => d.name === tool);
        const inputSchema = def ? def.input : z.strictObject({});
        const parsed = parseArgs(tool, inputSchema, args ?? {});
        const who = principalOf(config, call.caller);
        const hosts = resolved.hosts.map((h) => {
          const d = decide(config.policy, subject, h, who);
          return { host: h.name, allowed: d.allowed, rule: d.rule, reason: d.reason };
        });
        const allowed = hosts.filter((h) => h.allowed).length;
        return {
          structured: {
            tool,
            target,
            hosts,
            input: parsed.ok ? { valid: true } : { valid: false, error: parsed.error },
            summary: { hosts: hosts.length, allowed, denied: hosts.length - allowed },
            wouldRun: parsed.ok && allowed > 0,
          },
        };
      }),
  });
}
