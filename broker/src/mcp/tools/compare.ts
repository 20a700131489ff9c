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
  host: hostLabel.describe("the host to compare (an inventory name)"),
  target: targetArgument.default("*").describe('the fleet to compare it with: a target selector, default "*"'),
};

/** What tools/list shows: the diagnostic's own arguments are checked against its schema on each call. */
const compareInput = z.strictObject({
  diagnostic: z.string().max(64).describe("the diagnostic whose answers are compared, e.g. get_load"),
  input: z.record(z.string(), z.unknown()).optional().describe("its arguments (without target); omitted: {}"),
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
  result: z.object({ ok: z.boolean(), error: z.object({ code: z.string(), message: z.string() }).optional() }).describe("the compared host's own outcome"),
  fleet: countsSchema.describe("the other hosts of the target"),
  differences: z.array(differenceSchema).describe("fields where the host differs from the fleet's usual value, the most agreed-on usual first"),
  same: z.number().int().describe("fields where the host has the usual value"),
  varies: z.array(z.string()).describe("fields not compared: they differ on most of the fleet"),
  omitted: z.number().int().optional().describe("differences not listed"),
  note: z.string().optional(),
});

const byName = new Map((diagnostics as readonly AnyDef[]).map((d) => [d.name, d]));

export function registerCompareTool(registry: ToolRegistry, broker: Broker): void {
  registry.add({
    name: "compare_hosts",
    title: "Compare a host with the fleet",
    description:
      "Runs a diagnostic on `host` and on the fleet (`target`) and lists the fields where the host's answer differs from the fleet's usual one (the most common value; for numbers the median, differing when the value stands apart): {field, host, usual, share of the fleet with the usual value}. Allowed where the diagnostic is; use it to find drift.",
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
