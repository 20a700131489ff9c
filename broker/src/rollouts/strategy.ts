// A roll-out's strategy (issue 14): canaries, batch size, pause, error budget and health gates —
// what Ansible's `serial` + `max_fail_percentage` and Systems Manager's MaxConcurrency/MaxErrors
// say, as data the human reads and signs (its canonical JSON's hash is in the roll-out statement).
// Pure: the batches of a host list, the typing of a gate against its diagnostic's output schema,
// a gate's verdict on one output, and whether the error budget is spent.
import { z } from "zod";
import type { DiagnosticDef } from "../../../proto/catalog/define";
import { diagnostics } from "../../../proto/catalog/diagnostics/index";
import { fieldType } from "../../../proto/catalog/output-fields";
import { describeIssues } from "../../../shared/zod-issues";

/** A count of hosts, or a percentage of them ("25%"). */
const amount = z.union([z.number().int().min(0).max(10_000), z.string().regex(/^(100|[1-9]?[0-9])%$/, 'a percentage such as "25%"')]);

const COMPARISONS = ["==", "!=", "<", "<=", ">", ">="] as const;

const condition = z.strictObject({
  /** Dotted path into the diagnostic's output, e.g. "status" or "timings.totalMs". */
  field: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,5}$/, "a dotted field path such as timings.totalMs"),
  op: z.enum(COMPARISONS),
  value: z.union([z.number(), z.string().max(200), z.boolean(), z.null()]),
});
export type GateCondition = z.output<typeof condition>;

const gate = z.strictObject({
  /** A catalog diagnostic, run on the host after its action (and its conditions all hold, or the host fails its gate). */
  diagnostic: z.string().max(64),
  input: z.record(z.string(), z.unknown()).default({}),
  when: z.array(condition).min(1).max(8),
});
export type Gate = z.output<typeof gate>;

export const rolloutStrategy = z.strictObject({
  /** Hosts in the first batch, alone, before any other (0: no canary batch). */
  canaries: z.number().int().min(0).max(100).default(1),
  /** Hosts per batch after the canaries: a count, or a percentage of the plan's hosts (rounded up). */
  batchSize: amount.default(1),
  /** Seconds to wait between batches (after a batch's gates held). */
  pauseSeconds: z.number().int().min(0).max(3600).default(0),
  /** Failed hosts (action failed, or a gate did not hold) the roll-out tolerates before it stops; a canary's failure always stops it. */
  maxFailures: amount.default(0),
  gates: z.array(gate).max(4).default([]),
  /**
   * A host whose gate fails after its action succeeded is rolled back with the action's inverse
   * (the catalog's: start_service for stop_service, …), then gated again. Only for actions that have one.
   */
  rollback: z.boolean().default(false),
});
export type RolloutStrategy = z.output<typeof rolloutStrategy>;

const count = (a: number | string, of: number): number => (typeof a === "number" ? a : Math.ceil((Number(a.slice(0, -1)) / 100) * of));

/** The plan's batches, as host lists: the canaries first, then batchSize at a time, in the order given. */
export function planBatches<T>(hosts: readonly T[], s: Pick<RolloutStrategy, "canaries" | "batchSize">): T[][] {
  const batches: T[][] = [];
  const canaries = Math.min(s.canaries, hosts.length);
  if (canaries > 0) batches.push(hosts.slice(0, canaries));
  const size = Math.max(1, count(s.batchSize, hosts.length));
  for (let i = canaries; i < hosts.length; i += size) batches.push(hosts.slice(i, i + size));
  return batches;
}

/** How many failed hosts the roll-out tolerates (maxFailures, a percentage rounded down: "10%" of 5 hosts is 0). */
export function failureBudget(s: Pick<RolloutStrategy, "maxFailures">, hosts: number): number {
  return typeof s.maxFailures === "number" ? s.maxFailures : Math.floor((Number(s.maxFailures.slice(0, -1)) / 100) * hosts);
}

type AnyDiagnostic = DiagnosticDef<string, z.ZodObject, z.ZodType>;

/**
 * Checks a strategy's gates against the catalog: each names a diagnostic, its input is valid for
 * it, each condition's field exists in its output with a type the operator and value fit.
 * Returns the problems, each naming where (gates[0].when[1].field …); none: the gates are typed.
 */
export function checkGates(gates: readonly Gate[]): string[] {
  const problems: string[] = [];
  gates.forEach((g, i) => {
    const def = (diagnostics as readonly AnyDiagnostic[]).find((d) => d.name === g.diagnostic);
    if (!def) {
      problems.push(`gates[${i}].diagnostic: ${JSON.stringify(g.diagnostic)} is not a diagnostic of the catalog`);
      return;
    }
    const input = def.input.safeParse(g.input);
    if (!input.success) problems.push(`gates[${i}].input: not a valid input of ${def.name}: ${describeIssues(input.error)}`);
    g.when.forEach((c, j) => {
      const where = `gates[${i}].when[${j}]`;
      const t = fieldType(def.output, c.field);
      if ("error" in t) {
        problems.push(`${where}.field: ${t.error} in the output of ${def.name}`);
        return;
      }
      if (c.value === null) {
        if (c.op !== "==" && c.op !== "!=") problems.push(`${where}.op: only == and != compare with null`);
        else if (!t.nullable) problems.push(`${where}.value: ${c.field} of ${def.name} is never null`);
        return;
      }
      if (typeof c.value !== t.type) problems.push(`${where}.value: ${c.field} of ${def.name} is a ${t.type}, not a ${typeof c.value}`);
      else if (t.type !== "number" && c.op !== "==" && c.op !== "!=") problems.push(`${where}.op: ${c.op} compares numbers; ${c.field} is a ${t.type} (use == or !=)`);
    });
  });
  return problems;
}

function at(value: unknown, path: string): unknown {
  let v = value;
  for (const key of path.split(".")) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** One condition on one (validated) output: whether it holds, and what was seen, for the record. */
export function holds(c: GateCondition, output: unknown): { ok: boolean; seen: unknown } {
  const seen = at(output, c.field) ?? null;
  switch (c.op) {
    case "==":
      return { ok: seen === c.value, seen };
    case "!=":
      return { ok: seen !== c.value, seen };
    default: {
      if (typeof seen !== "number" || typeof c.value !== "number") return { ok: false, seen };
      const ok = c.op === "<" ? seen < c.value : c.op === "<=" ? seen <= c.value : c.op === ">" ? seen > c.value : seen >= c.value;
      return { ok, seen };
    }
  }
}

/** A gate's condition as a person reads it: `status == 200`. */
export function conditionText(c: GateCondition): string {
  return `${c.field} ${c.op} ${JSON.stringify(c.value)}`;
}
