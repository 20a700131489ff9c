// The action catalog's building block. One definition per action drives: the operator RPC
// (scripts/gen-actions-proto.mjs writes actions.proto from it), the operator agent's parameter
// validation, the root helper's re-validation, allowlist check and plan (its own bundled copy),
// the broker's propose_action/execute_action checks and MCP schema, the policy names, what
// `hostward approve` shows the human, the impact an approver key must cover and docs/catalog.md.
//
// The command plan is DATA: each step names a program of the one table (shared/programs.ts),
// its options and its values as templates. `{name}` is filled from the host's facts (computed by
// the helper's preview, e.g. the unit's canonical Id) or else the validated parameters; `{name...}`
// spreads an array. renderPlan() gives the exact argv of the steps that apply to THESE parameters
// on THIS host; the broker shows those lines before approval and the helper can only start a
// process by naming one of those steps (helper/actions.ts plan.run), so what is approved is what runs.
//
// The parameters an approver signs are the OUTPUT of `params.parse(input)` (defaults filled in), so
// the broker, the agent and the helper all compare the same canonical object.
import { z } from "zod";
import { buildArgv, PROGRAMS, type ProgramName } from "../../shared/programs";
import type { Impact } from "./approval";

interface ActionExample {
  description: string;
  params: Record<string, unknown>;
}

/**
 * What the host's /etc/hostward/actions.yaml must list before the helper acts (checked before the
 * approval's nonce is spent; canonical names compared again once resolved):
 * unit → `units`, container → `containers`, logFile → under `logFiles`, packages → each in
 * `packages`, reboot → `reboot: true`, journal → `journal: true`, packageCache → `packageCache: true`,
 * none → nothing (harmless actions such as flush_dns_cache).
 */
export type AllowlistKind = "unit" | "container" | "logFile" | "packages" | "reboot" | "journal" | "packageCache" | "none";

/**
 * What the host computes before approval (helper/preview.ts: facts only), signed by hash; the text
 * the human reads is rendered from those facts by preview-summary.ts, one entry per kind.
 */
export type PreviewKind = "service" | "container" | "reboot" | "journal" | "logFile" | "packages" | "packageCache" | "resolver" | "logrotate";

/** A condition on the host's facts or the parameters; a step or check without one always applies. */
export type When = { fact: string; equals: string | number | boolean } | { fact: string; oneOf: readonly (string | number | boolean)[] };

export interface CheckDef {
  text: string;
  when?: When;
}

export interface StepDef {
  /** Unique within the action; the helper's runner names the step to run it. */
  id: string;
  program: ProgramName;
  /** Option templates, one argv word each (the option rule applies after rendering). */
  options: readonly string[];
  /** Value templates, after "--" (the value rule applies after rendering); `{name...}` spreads an array. */
  values?: readonly string[];
  when?: When;
  /**
   * A write outside the operator unit's sandbox (ProtectSystem=strict): run as a transient
   * systemd unit (`systemd-run --wait --pipe …`), itself sandboxed: only `readWritePaths` writable
   * (none listed: the whole file system, for a package manager). Needs systemd: on a host without it
   * the step runs directly (a local development fleet, no sandbox to leave).
   */
  transient?: { readWritePaths?: readonly string[]; properties?: readonly string[] };
  /** Parsed rather than streamed (spawn.ts pipes): its lines are not shown as they come. */
  quiet?: boolean;
  /** A note shown after the command in the approval text, e.g. "(until active, ≤ 30 s)". */
  note?: string;
  /** Fixed variables added to the helper's fixed environment (shown in the approval text). */
  env?: Readonly<Record<string, string>>;
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
  /** Deadline for the whole action on the host: pre-checks, the commands and the post-checks. */
  timeoutMs: number;
  allowlist: AllowlistKind;
  /** false: also runs on a host without systemd (a local development fleet); the listing says so. */
  needsSystemd: boolean;
  preview: PreviewKind;
  /**
   * Preview facts that must be unchanged when the helper recomputes them at execution; one that
   * differs refuses the action (HOST_CHANGED, naming the fact) before anything runs.
   */
  material: readonly string[];
  prechecks: readonly CheckDef[];
  steps: readonly StepDef[];
  postchecks: readonly CheckDef[];
  /** The action that undoes this one, when there is one (stop_service ↔ start_service). */
  inverse?: string;
  examples: readonly ActionExample[];
}

export function defineAction<const N extends string, P extends z.ZodObject>(def: ActionDef<N, P>): ActionDef<N, P> {
  const ids = new Set<string>();
  for (const s of def.steps) {
    // Lowercase words and "-": a step id is part of a transient unit's name, and ":" is kept for
    // the stop step renderPlan adds after a transient one ("<id>:stop").
    if (!/^[a-z][a-z0-9-]{0,31}$/.test(s.id)) throw new Error(`${def.name}: step id ${JSON.stringify(s.id)} is not lowercase letters, digits and "-" (at most 32)`);
    if (ids.has(s.id)) throw new Error(`${def.name}: step id ${s.id} is used twice`);
    ids.add(s.id);
  }
  return def;
}

/** What the host reports about itself for an action's plan (a preview's `facts`); values from the host. */
export type Facts = Readonly<Record<string, unknown>>;

// "${…}" is not a placeholder (dpkg-query's own format, for instance).
const PLACEHOLDER = /(?<!\$)\{([A-Za-z][A-Za-z0-9]*)(\.\.\.)?\}/g;

function lookup(name: string, facts: Facts, params: Record<string, unknown>): unknown {
  if (Object.hasOwn(facts, name)) return facts[name];
  if (Object.hasOwn(params, name)) return params[name];
  throw new Error(`template names {${name}}, which is neither a fact nor a parameter`);
}

function scalar(v: unknown, name: string): string {
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return String(v);
  throw new Error(`{${name}} is not a single value`);
}

/** One template → one word (or several for a lone `{name...}`). */
export function renderTemplate(template: string, facts: Facts, params: Record<string, unknown>): string[] {
  const spread = /^\{([A-Za-z][A-Za-z0-9]*)\.\.\.\}$/.exec(template);
  if (spread) {
    const v = lookup(spread[1] as string, facts, params);
    if (!Array.isArray(v)) throw new Error(`{${spread[1]}...} is not a list`);
    return v.map((x) => scalar(x, spread[1] as string));
  }
  return [
    template.replace(PLACEHOLDER, (_whole, name: string, dots?: string) => {
      if (dots) throw new Error(`{${name}...} must be a whole word`);
      return scalar(lookup(name, facts, params), name);
    }),
  ];
}

export function holds(when: When | undefined, facts: Facts, params: Record<string, unknown>): boolean {
  if (!when) return true;
  const v = Object.hasOwn(facts, when.fact) ? facts[when.fact] : params[when.fact];
  return "equals" in when ? v === when.equals : when.oneOf.includes(v as string);
}

/**
 * What the plan needs of the run besides the parameters and the host's facts. `requestId` is the
 * request's id (the broker's "act-…", signed in the approval statement as `id`): it names each
 * transient step's unit, so the approver reads the very unit name the helper starts and stops.
 */
export interface PlanRun {
  requestId: string;
}

/**
 * For checking that a preview's facts render at all (the helper's preview query, the broker's
 * fetchPreview), before the request has an id: never for a plan that is shown or run.
 */
export const PREVIEW_RUN: PlanRun = { requestId: "preview" };

/** Characters a transient unit's name is made of (a subset of systemd's unit-name characters). */
const NOT_UNIT_CHAR = /[^A-Za-z0-9_-]/g;

/**
 * The deterministic unit of a transient step: `hostward-<short request id>-<step id>.service`
 * ("act-" dropped from the broker's ids, anything but [A-Za-z0-9_-] made "_", at most 48
 * characters of it). The helper starts one request at most once (its ledger), so the name is free.
 */
export function transientUnit(requestId: string, stepId: string): string {
  const short = requestId.replace(/^act-/, "").replace(NOT_UNIT_CHAR, "_").slice(0, 48) || "_";
  return `hostward-${short}-${stepId.replace(NOT_UNIT_CHAR, "_")}.service`;
}

/**
 * How long systemd gives a transient unit to stop (SIGTERM, then SIGKILL) when the helper stops it
 * at the deadline, or when RuntimeMaxSec= ends it: the helper's stop must be done well within the
 * 30 s the operator agent allows the helper past the action's timeout.
 */
export const TRANSIENT_STOP_SECONDS = 10;

/**
 * systemd-run's own options for a transient step (the inner command follows its "--").
 *
 * RuntimeMaxSec= is the action's whole timeout, not the time left of its deadline: the plan is
 * rendered (and approved) before the action runs, when the time left cannot be known, and what
 * runs must be the line the approver read. It is a backstop only (never more than the action's
 * timeout): at the deadline the helper itself stops the unit (the "<id>:stop" step, plan.run).
 */
function transientOptions(step: StepDef, unit: string, timeoutSeconds: number, render: (template: string) => string[] = (t) => [t]): string[] {
  const opts = [
    "--wait",
    "--pipe",
    "--collect",
    "--quiet",
    `--unit=${unit}`,
    "--service-type=exec",
    `--property=RuntimeMaxSec=${timeoutSeconds}`,
    `--property=TimeoutStopSec=${TRANSIENT_STOP_SECONDS}`,
    "--property=NoNewPrivileges=yes",
  ];
  for (const [k, v] of Object.entries(step.env ?? {})) opts.push(`--setenv=${k}=${v}`);
  for (const p of step.transient?.properties ?? []) opts.push(`--property=${p}`);
  const paths = (step.transient?.readWritePaths ?? []).flatMap(render);
  if (paths.length > 0) opts.push("--property=ProtectSystem=strict", `--property=ReadWritePaths=${paths.join(" ")}`);
  return opts;
}

export interface RenderedStep {
  id: string;
  program: ProgramName;
  /** The absolute path the host reported (or the table's first candidate). */
  path: string;
  /** Options (the option rule) and values (after "--", the value rule), rendered. */
  options: string[];
  values: string[];
  /** For a transient step: `program` is systemd-run, and this is the command it starts. */
  inner?: { program: ProgramName; path: string; options: string[]; values: string[] };
  quiet: boolean;
  note?: string;
  env?: Readonly<Record<string, string>>;
  /** A transient step's unit (transientUnit): what its "<id>:stop" step stops. */
  unit?: string;
  /**
   * A stop step: it runs only when the transient step it names did not finish before the action's
   * deadline or was aborted (plan.run starts it then, never a runner); it stops that step's unit.
   */
  stops?: string;
}

/** The whole argv after the program, each level checked by the one argument rule (shared/programs.ts). */
export function argvOf(step: RenderedStep): string[] {
  const own = buildArgv(step.options, []);
  if (!step.inner) return buildArgv(step.options, step.values);
  return [...own, "--", step.inner.path, ...buildArgv(step.inner.options, step.inner.values)];
}

/** Facts the plan reads besides the action's own: `systemd` (is it PID 1) and `paths` (program → absolute path). */
function pathOf(program: ProgramName, facts: Facts): string {
  const paths = facts.paths as Record<string, unknown> | undefined;
  const p = paths?.[program];
  return typeof p === "string" && p.startsWith("/") ? p : PROGRAMS[program][0];
}

/**
 * The steps that apply to these parameters on this host, each with its exact argv. Throws when a
 * rendered word breaks the argument rule (a bug in a definition or a fact the host should not have
 * reported: never run).
 */
export function renderPlan(def: ActionDef, params: Record<string, unknown>, facts: Facts, run: PlanRun): RenderedStep[] {
  const out: RenderedStep[] = [];
  // Without systemd such an action fails its first pre-check: nothing would run.
  if (def.needsSystemd && facts.systemd !== true) return out;
  for (const step of def.steps) {
    if (!holds(step.when, facts, params)) continue;
    const options = step.options.flatMap((t) => renderTemplate(t, facts, params));
    const values = (step.values ?? []).flatMap((t) => renderTemplate(t, facts, params));
    const base = { id: step.id, quiet: step.quiet === true, ...(step.note !== undefined && { note: step.note }), ...(step.env !== undefined && { env: step.env }) };
    if (step.transient && facts.systemd === true) {
      const unit = transientUnit(run.requestId, step.id);
      const wrap = transientOptions(step, unit, Math.max(1, Math.floor(def.timeoutMs / 1000)), (t) => renderTemplate(t, facts, params));
      const rendered: RenderedStep = { ...base, unit, program: "systemd-run", path: pathOf("systemd-run", facts), options: wrap, values: [], inner: { program: step.program, path: pathOf(step.program, facts), options, values } };
      argvOf(rendered);
      out.push(rendered);
      // What the helper runs if the step outlives the deadline (systemd-run --wait is killed, its
      // unit would go on): shown to the approver with the rest of the plan.
      const stop: RenderedStep = {
        id: `${step.id}:stop`,
        stops: step.id,
        program: "systemctl",
        path: pathOf("systemctl", facts),
        options: ["stop", "--no-pager", "--no-ask-password"],
        values: [unit],
        quiet: false,
        note: `(only if ${step.id} is still running at the action's deadline, or the helper is stopped)`,
      };
      argvOf(stop);
      out.push(stop);
      continue;
    }
    const rendered: RenderedStep = { ...base, program: step.program, path: pathOf(step.program, facts), options, values };
    argvOf(rendered);
    out.push(rendered);
  }
  return out;
}

/** The line a step is shown as, and the one the helper prints when it starts it ("$ " + this). */
export function commandLine(step: RenderedStep): string {
  const env = step.inner ? [] : Object.entries(step.env ?? {}).map(([k, v]) => `${k}=${v}`);
  return [...env, step.path, ...argvOf(step)].join(" ");
}

/** The checks that apply here. */
export function applicableChecks(checks: readonly CheckDef[], params: Record<string, unknown>, facts: Facts): string[] {
  return checks.filter((c) => holds(c.when, facts, params)).map((c) => c.text);
}

/** Cap on the `output` text kept in an action's result (the live stream is relayed line by line). */
export const MAX_ACTION_OUTPUT = 64 * 1024;

const ACTION_VERDICTS = ["SUCCEEDED", "FAILED"] as const;

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

/** Bounds of a preview's summary: lines, and characters per line (preview-summary.ts cuts to them). */
export const MAX_SUMMARY_LINES = 40;
export const MAX_SUMMARY_LINE = 500;

/**
 * What the host says an action would touch, computed by the helper before approval (a read-only
 * query) and again at execution. Untrusted host output: the broker validates it with this schema,
 * then its facts with the kind's own (preview-summary.ts). `facts` feed the plan's templates and the
 * material comparison; `summary` must be exactly previewSummary(facts): the broker shows its own
 * rendering and refuses a preview whose summary differs, and so does the helper at execution.
 */
export const actionPreview = z.strictObject({
  action: z.string().max(64),
  facts: z.record(z.string().max(64), z.unknown()),
  summary: z.array(z.string().max(MAX_SUMMARY_LINE)).max(MAX_SUMMARY_LINES),
});
export type ActionPreview = z.output<typeof actionPreview>;
