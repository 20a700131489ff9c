// The action catalog's building block. One definition per action drives: the operator agent's
// parameter validation, the root helper's re-validation (its own bundled copy), the broker's
// propose_action/execute_action checks, what `hostward approve` shows the human, the impact an
// approver key must cover and the generated docs/catalog.md "Actions" section.
//
// The parameters an approver signs are the OUTPUT of `params.parse(input)` (defaults filled in), so
// the broker, the agent and the helper all compare the same canonical object.
import { z } from "zod";
import type { Impact } from "./approval";

export interface ActionExample<P extends z.ZodType> {
  description: string;
  params: z.input<P>;
}

export interface ActionDef<N extends string = string, P extends z.ZodObject = z.ZodObject> {
  /** snake_case name; the RPC is its PascalCase form in ActionsService (restart_service → RestartService). */
  name: N;
  title: string;
  /** One or two sentences for the model and the human approver: what changes on the host. */
  summary: string;
  /** LOW / MEDIUM / HIGH: an approver key approves the action only up to its max-impact. */
  impact: Impact;
  /** Strict object whose output type equals the proto request minus `approval` (test/contract/actions-drift). */
  params: P;
  /** Deadline for the whole action on the host: pre-check, the command and the post-check. */
  timeoutMs: number;
  /** What is checked before anything changes (human text; the helper implements it). */
  precheck: string;
  /** What proves the action worked (human text; decides the verdict). */
  postcheck: string;
  /**
   * The fixed commands the helper runs, in order, as shown by `hostward approve`. `{param}` marks
   * where a validated parameter goes (always after `--`); see describeRuns().
   */
  runs: string[];
  examples: ActionExample<P>[];
}

export function defineAction<N extends string, P extends z.ZodObject>(def: ActionDef<N, P>): ActionDef<N, P> {
  return def;
}

export type ParamsOf<D> = D extends ActionDef<string, infer P> ? z.output<P> : never;

/** The `runs` lines with `{param}` replaced by the (already validated) parameter values. */
export function describeRuns(def: ActionDef, params: Record<string, unknown>): string[] {
  return def.runs.map((line) =>
    line.replace(/\{([A-Za-z][A-Za-z0-9]*)\}/g, (whole, key: string) => (key in params ? String(params[key]) : whole)),
  );
}

/** Cap on the `output` text kept in an action's result (the live stream is relayed line by line). */
export const MAX_ACTION_OUTPUT = 64 * 1024;

export const ACTION_VERDICTS = ["SUCCEEDED", "FAILED"] as const;

/**
 * The final `ActionEvent.result_json` of every action. `before`/`after` are the state the helper
 * observed around the command (e.g. {activeState, mainPid} for a unit); their shape is per action.
 */
export const actionResult = z.object({
  before: z.unknown().describe("state observed before the command (per action; null when none)"),
  after: z.unknown().describe("state observed after the command and its post-check"),
  verdict: z.enum(ACTION_VERDICTS),
  output: z.string().max(MAX_ACTION_OUTPUT).describe(`the command's output, capped at ${MAX_ACTION_OUTPUT} characters`),
  reason: z.string().max(4096).optional().describe("why the verdict is FAILED (refusal, failed pre-check, post-check …)"),
});
export type ActionResult = z.output<typeof actionResult>;
