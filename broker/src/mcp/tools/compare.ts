// compare_hosts: how one host's answer to a diagnostic differs from the fleet's usual answer
// (drift). Runs the diagnostic on the target and the host, through the same path as the diagnostic
// itself (runHostTool: audit, policy of THAT diagnostic on every host, fan-out), then compares
// (fleet-compare.ts). Read-only like every diagnostic.
import { z } from "zod";
import type { DiagnosticDef } from "../../../../proto/catalog/define";
import { diagnostics } from "../../../../proto/catalog/diagnostics/index";
import { callDiagnostic } from "../../agents/diagnostic-call";
import type { Broker } from "../../broker";
import { hostLabel } from "../../config/schema";
import { targetArgument } from "../../targets";
import { compareHost } from "../fleet-compare";
import { fleetDefOf } from "../fleet-shape";
import { runHostTool } from "../host-call";
import { summarize } from "../host-results";
import type { ToolRegistry } from "../registry";

type AnyDef = DiagnosticDef<string, z.ZodObject, z.ZodType>;

/** Differences listed at most; the rest are counted in `omitted`. */
const MAX_DIFFERENCES = 100;

const compareShape = {
  host: hostLabel.describe("the host compared"),
  target: targetArgument.default("*").describe('the fleet (a target; default "*")'),
};

/** What tools/list shows: the diagnostic's own arguments are checked against its schema on each call. */
const compareInput = z.strictObject({
  diagnostic: z.string().max(64).describe("e.g. get_load"),
  input: z.record(z.string(), z.unknown()).optional().describe("the diagnostic's arguments, without target"),
  ...compareShape,
});

interface CompareArgs {
  diagnostic: string;
  input: Record<string, unknown>;
  host: string;
  target: string;
}

let validation: z.ZodType<CompareArgs> | undefined;

/** One strict branch per diagnostic, so `input` is checked (and defaulted) by that diagnostic's schema. */
function validationSchema(): z.ZodType<CompareArgs> {
  validation ??= z.discriminatedUnion(
    "diagnostic",
    (diagnostics as readonly AnyDef[]).map((d) => z.strictObject({ diagnostic: z.literal(d.name), input: d.input.prefault({}), ...compareShape })) as unknown as [
      z.ZodObject,
      ...z.ZodObject[],
    ],
  ) as unknown as z.ZodType<CompareArgs>;
  return validation;
}

const differenceSchema = z.object({ field: z.string(), host: z.unknown().optional(), usual: z.unknown().optional(), share: z.number() });
const countsSchema = z.object({ hosts: z.number().int(), ok: z.number().int(), failed: z.number().int(), denied: z.number().int() });

const compareOutput = z.object({
  diagnostic: z.string(),
  host: z.string(),
  result: z.object({ ok: z.boolean(), error: z.object({ code: z.string(), message: z.string() }).optional() }),
  fleet: countsSchema.describe("the other hosts"),
  differences: z.array(differenceSchema),
  same: z.number().int().describe("fields with the usual value"),
  varies: z.array(z.string()).describe("fields not compared: they differ on most hosts"),
  omitted: z.number().int().optional(),
  note: z.string().optional(),
});

const byName = new Map((diagnostics as readonly AnyDef[]).map((d) => [d.name, d]));

export function registerCompareTool(registry: ToolRegistry, broker: Broker): void {
  registry.add({
    name: "compare_hosts",
    title: "Compare a host with the fleet",
    description:
      "Drift: how `host`'s answer to `diagnostic` differs from the fleet's (`target`) usual answer. differences: fields whose value is not the fleet's most common one, or whose number stands apart from the fleet's median; share: the part of the fleet with the usual value (most agreed first). Allowed where the diagnostic is.",
    input: compareInput,
    output: compareOutput,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async handler(rawArgs, call) {
      const run = await runHostTool({
        broker,
        tool: { name: "compare_hosts", group: "health" },
        schema: validationSchema(),
        rawArgs,
        caller: call.caller,
        subject: (a) => ({ name: a.diagnostic, group: byName.get(a.diagnostic)!.group }),
        selector: (a) => `${a.target},${a.host}`,
        work: (host, a, ctx) => callDiagnostic({ pool: broker.pool, host, def: byName.get(a.diagnostic)!, input: a.input, timeoutMs: ctx.timeoutMs, callId: ctx.callId }),
      });
      if (!run.ok) return run.outcome;
      const { diagnostic, host } = run.args;
      const mine = run.output.results.find((r) => r.host === host)!;
      const others = run.output.results.filter((r) => r.host !== host);
      const base = {
        diagnostic,
        host,
        result: { ok: mine.ok, ...(mine.error && { error: mine.error }) },
        fleet: summarize(others),
      };
      const fleetData = others.flatMap((r) => (r.ok && r.data !== undefined ? [r.data] : []));
      if (!mine.ok || fleetData.length === 0) {
        const note = !mine.ok ? `${host} did not answer: nothing to compare` : "no other host of the target answered: nothing to compare with";
        return { structured: { ...base, differences: [], same: 0, varies: [], note } };
      }
      const c = compareHost(fleetDefOf(byName.get(diagnostic)!), mine.data, fleetData);
      const shownDifferences = c.differences.slice(0, MAX_DIFFERENCES);
      return {
        structured: {
          ...base,
          differences: shownDifferences,
          same: c.same,
          varies: c.varies,
          ...(c.differences.length > shownDifferences.length && { omitted: c.differences.length - shownDifferences.length }),
        },
      };
    },
  });
}
