// Runbooks (issue 17): the incidents sysadmins meet most, as DATA next to the catalog. One
// definition per runbook drives the MCP prompt (prompts/list, prompts/get: renderRunbook), the
// completion of its arguments (their kind) and docs/runbooks.md (renderRunbookTemplate, written by
// `npm run gen`). A runbook names the tools to call in order, with their exact arguments; what to
// look for in their typed output (a field path of the tool's output schema and a condition, typed
// against it like a roll-out's gates); and the typed repairs to propose, whose impact is read from
// the action's definition. It never names a shell command: hostward has none to offer.
//
// Templates: a string "{name}" in a step's target or input, or a repair's target or params, is the
// value of the argument `name`, or of the fill `name` (a value the model reads off an earlier
// step's output: the prompt shows it as "<name: where it comes from>"). A step's input value that is
// exactly "{arg}" of an optional argument left out is left out too; a step or a repair that needs
// the argument otherwise lists it in `requires` and is left out (the prompt says so).
import { z } from "zod";
import { describeIssues } from "../../../shared/zod-issues";
import { findAction } from "../actions/index";
import type { DiagnosticDef } from "../define";
import type { ActionDef } from "../define-action";
import { diagnostics } from "../diagnostics/index";
import { httpUrl } from "../diagnostics/network";
import { absolutePath, canonicalUnit, dnsName, hostLabel, literalText, tagLabel, targetSelector, unitName } from "../grammar";
import { outputField } from "../output-fields";

export type RunbookArgKind = "host" | "tag" | "target" | "unit" | "path" | "url" | "domain" | "text";

export interface RunbookArgument {
  /** The prompt argument's name, also its template name ("{host}"): letters and digits. */
  name: string;
  description: string;
  required: boolean;
  /** What completes it: host → inventory host names, tag → tags, target → host names, tags ("tag:web") and "all", unit → the host's unit names. */
  kind: RunbookArgKind;
  /** For kind "unit": the name of the argument naming the host whose units complete it. */
  hostArgument?: string;
  /** An optional argument's value when it is not given (validated like a given one). */
  default?: string;
  /** A stricter grammar than its kind's (a journal time for a log window); its output is the value. */
  grammar?: z.ZodType<string>;
  /** The value checkRunbook fills the templates with (default: one per kind). */
  example?: string;
}

/**
 * A condition on one field of a tool's output. `field` is a dotted path of its output schema (for
 * a diagnostic: each host's `data`); "a[].b" is the b of any element of the array a. Without `op`
 * the field is only to be read (`meaning` says what it tells).
 */
type LookOp = "==" | "!=" | "<" | "<=" | ">" | ">=" | "contains" | "nonEmpty" | "empty";
type LookValue = string | number | boolean | null | { field: string };

interface LookFor {
  field: string;
  op?: LookOp;
  /** A constant of the field's type, null (for a nullable field) or another field of the same output ({field: "cpus"}). */
  value?: LookValue;
  meaning: string;
}

/** A value the model takes from an earlier step's output for a later step or repair. */
interface RunbookFill {
  /** Where it comes from, e.g. "a unit of step 1's units[].unit". */
  from: string;
  /** A value of the right type, for checkRunbook's validation of the calls. */
  example: unknown;
}

export interface RunbookStep {
  /** A catalog diagnostic or a broker tool (list_hosts, describe_host, ping_hosts, compare_hosts, …). */
  tool: string;
  /** The `target` argument (a template: "{host}", "{target}", "tag:{tag}", "*"); absent for tools without one. */
  target?: string;
  /** The fan-out view: "summary" for a fleet, "hosts" for the per-host answers. */
  view?: "summary" | "hosts";
  /** The tool's other arguments (templates in strings). */
  input?: Readonly<Record<string, unknown>>;
  /** Optional arguments without which the step is left out. */
  requires?: readonly string[];
  /** When the step applies, in words ("when step 1's localStub is systemd-resolved"); absent: always. */
  if?: string;
  why: string;
  lookFor: readonly LookFor[];
}

interface RunbookRepair {
  /** A catalog action (proto/catalog/actions). */
  action: string;
  /** The ONE host (propose_action) or, for a roll-out, the target; a template; default "{host}". */
  target?: string;
  /** The action's parameters (templates in strings). */
  params?: Readonly<Record<string, unknown>>;
  /** Optional arguments without which the repair is left out. */
  requires?: readonly string[];
  when: string;
  /** Proposed with propose_rollout (one approval, many hosts, batch by batch) instead of propose_action. */
  rollout?: true;
  /** The roll-out's strategy (propose_rollout's `strategy`; templates in strings). */
  strategy?: Readonly<Record<string, unknown>>;
}

export interface RunbookDef {
  /** The MCP prompt's name, snake_case. */
  name: string;
  title: string;
  description: string;
  arguments: readonly RunbookArgument[];
  /** Values read off earlier steps' output, by template name. */
  fill?: Readonly<Record<string, RunbookFill>>;
  steps: readonly RunbookStep[];
  repairs: readonly RunbookRepair[];
  /** What to do when no typed repair fits: what hostward has no action for, and whom to escalate to. */
  noRepair: string;
}

const NAME = /^[a-z][a-z0-9_]{0,63}$/;
const TEMPLATE_NAME = /^[A-Za-z][A-Za-z0-9]{0,63}$/;

/** A runbook definition; refuses a malformed one at once (checkRunbook checks it against the catalog and the tools). */
export function defineRunbook(def: RunbookDef): RunbookDef {
  if (!NAME.test(def.name)) throw new Error(`runbook ${JSON.stringify(def.name)}: the name is not snake_case`);
  const names = new Set<string>();
  for (const a of def.arguments) {
    if (!TEMPLATE_NAME.test(a.name)) throw new Error(`runbook ${def.name}: argument ${JSON.stringify(a.name)} is not letters and digits`);
    if (names.has(a.name)) throw new Error(`runbook ${def.name}: argument ${a.name} is declared twice`);
    names.add(a.name);
  }
  for (const f of Object.keys(def.fill ?? {})) {
    if (!TEMPLATE_NAME.test(f) || names.has(f)) throw new Error(`runbook ${def.name}: fill ${JSON.stringify(f)} is not letters and digits, or is also an argument`);
  }
  if (def.steps.length === 0) throw new Error(`runbook ${def.name}: no steps`);
  return def;
}

// --- arguments -----------------------------------------------------------------------------------

// eslint-disable-next-line no-control-regex -- the control characters every argument refuses
const CONTROL = /[\u0000-\u001f\u007f]/;

function grammarOf(arg: RunbookArgument): z.ZodType<string> {
  if (arg.grammar) return arg.grammar;
  switch (arg.kind) {
    case "host":
      return hostLabel;
    case "tag":
      return tagLabel;
    case "target":
      return targetSelector;
    case "unit":
      return unitName;
    case "path":
      return absolutePath;
    case "url":
      return httpUrl;
    case "domain":
      return dnsName;
    case "text":
      return literalText(arg.name);
  }
}

/** The one spelling of a valid value: a unit's canonical name, "*" for the whole fleet ("all"). */
function normalise(arg: RunbookArgument, value: string): string {
  if (arg.kind === "unit") return canonicalUnit(value);
  if (arg.kind === "target") return value.trim() === "all" ? "*" : value.trim();
  return value;
}

/** Why `value` is not valid for `arg` (naming it), or its normalised value. */
function parseArgument(arg: RunbookArgument, value: unknown): { ok: true; value: string } | { ok: false; problem: string } {
  const named = `argument "${arg.name}"`;
  if (typeof value !== "string") return { ok: false, problem: `${named} must be a string` };
  if (CONTROL.test(value)) return { ok: false, problem: `${named} contains a control character (NUL, newline, …)` };
  if (arg.kind === "target" && value.trim() === "all") return { ok: true, value: "*" };
  const parsed = grammarOf(arg).safeParse(value);
  if (!parsed.success) return { ok: false, problem: `${named}: ${describeIssues(parsed.error, { line: (issue) => issue.message })}` };
  return { ok: true, value: normalise(arg, parsed.data) };
}

/**
 * Validates the arguments of a prompts/get (strings from the client): the problems, each naming the
 * argument (unknown, missing, or not valid for its kind's grammar), or the values, normalised, with
 * the defaults of those not given. An empty string is an argument not given.
 */
export function parseRunbookArgs(def: RunbookDef, raw: Record<string, string> | undefined): { ok: true; args: Record<string, string> } | { ok: false; problems: string[] } {
  const given = raw ?? {};
  const problems: string[] = [];
  const known = new Set(def.arguments.map((a) => a.name));
  for (const key of Object.keys(given)) {
    if (!known.has(key)) problems.push(`unknown argument ${JSON.stringify(key)} (${def.name} takes: ${[...known].join(", ") || "none"})`);
  }
  const args: Record<string, string> = {};
  for (const arg of def.arguments) {
    const value = Object.hasOwn(given, arg.name) ? given[arg.name] : undefined;
    if (value === undefined || value === "") {
      if (arg.required) problems.push(`argument "${arg.name}" is required: ${arg.description}`);
      else if (arg.default !== undefined) args[arg.name] = arg.default;
      continue;
    }
    const parsed = parseArgument(arg, value);
    if (parsed.ok) args[arg.name] = parsed.value;
    else problems.push(parsed.problem);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, args };
}

// --- templates -----------------------------------------------------------------------------------

const PLACEHOLDER = /\{([A-Za-z][A-Za-z0-9]*)\}/g;
const EXACT = /^\{([A-Za-z][A-Za-z0-9]*)\}$/;

/** What a template name stands for in one rendering. */
type Lookup = (name: string) => { value: unknown } | "absent" | "unknown";

class TemplateError extends Error {
  constructor(
    readonly template: string,
    readonly why: "absent" | "unknown",
  ) {
    super(`{${template}}`);
  }
}

const OMIT = Symbol("omit");

/**
 * Fills the templates of a value. An exact "{x}" takes x's value (of any type); an absent x gives
 * OMIT when `omitAbsent` (the key is dropped), else throws. Inside a longer string, x must be present.
 */
function fill(value: unknown, lookup: Lookup, omitAbsent: boolean): unknown {
  if (typeof value === "string") {
    const exact = EXACT.exec(value);
    if (exact) {
      const name = exact[1]!;
      const found = lookup(name);
      if (found === "unknown") throw new TemplateError(name, "unknown");
      if (found === "absent") {
        if (omitAbsent) return OMIT;
        throw new TemplateError(name, "absent");
      }
      return found.value;
    }
    return value.replace(PLACEHOLDER, (_m, name: string) => {
      const found = lookup(name);
      if (found === "unknown" || found === "absent") throw new TemplateError(name, found);
      return String(found.value);
    });
  }
  if (Array.isArray(value)) return value.map((v) => fill(v, lookup, omitAbsent)).filter((v) => v !== OMIT);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const filled = fill(v, lookup, omitAbsent);
      if (filled !== OMIT) out[k] = filled;
    }
    return out;
  }
  return value;
}

/** How templates are read in one rendering: the prompt's (values), the docs' (names) or the checks' (examples). */
interface Mode {
  /** An argument's value, or undefined when it was not given. */
  arg(a: RunbookArgument): string | undefined;
  /** A fill's stand-in. */
  fill(name: string, f: RunbookFill): unknown;
  /** An optional argument left out, inside a repair: its stand-in (the model fills it). */
  absentInRepair(a: RunbookArgument): unknown;
}

function lookupFor(def: RunbookDef, mode: Mode, repair: boolean): Lookup {
  return (name) => {
    const arg = def.arguments.find((a) => a.name === name);
    if (arg) {
      const v = mode.arg(arg);
      if (v !== undefined) return { value: v };
      return repair ? { value: mode.absentInRepair(arg) } : "absent";
    }
    const f = def.fill?.[name];
    return f ? { value: mode.fill(name, f) } : "unknown";
  };
}

const placeholder = (name: string, what: string) => `<${name}: ${what}>`;

const promptMode = (args: Record<string, string>): Mode => ({
  arg: (a) => (Object.hasOwn(args, a.name) ? args[a.name] : undefined),
  fill: (name, f) => placeholder(name, f.from),
  absentInRepair: (a) => placeholder(a.name, a.description),
});

const templateMode: Mode = {
  arg: (a) => `{${a.name}}`,
  fill: (name, f) => placeholder(name, f.from),
  absentInRepair: (a) => `{${a.name}}`,
};

const KIND_EXAMPLES: Record<RunbookArgKind, string> = {
  host: "web1",
  tag: "web",
  target: "tag:web",
  unit: "nginx.service",
  path: "/var/log/app/debug.log",
  url: "https://www.example.org/",
  domain: "www.example.org",
  text: "example",
};

/** The checks' values: every argument given (its example), or only the required ones (the rest at their defaults). */
function exampleMode(def: RunbookDef, allGiven: boolean): Mode {
  return {
    arg: (a) => (allGiven || a.required ? (a.example ?? KIND_EXAMPLES[a.kind]) : a.default),
    fill: (_name, f) => f.example,
    absentInRepair: (a) => a.example ?? KIND_EXAMPLES[a.kind],
  };
}

function requirementsMet(def: RunbookDef, mode: Mode, requires: readonly string[] | undefined): string[] {
  return (requires ?? []).filter((r) => {
    const a = def.arguments.find((x) => x.name === r);
    return !a || mode.arg(a) === undefined;
  });
}

/** A step's call arguments ({target, view, ...input}, filled), or why it is left out. */
function stepCall(def: RunbookDef, step: RunbookStep, mode: Mode): { call: Record<string, unknown> } | { missing: string[] } {
  const missing = requirementsMet(def, mode, step.requires);
  if (missing.length > 0) return { missing };
  const lookup = lookupFor(def, mode, false);
  const call: Record<string, unknown> = {};
  if (step.target !== undefined) call.target = fill(step.target, lookup, false);
  if (step.view !== undefined) call.view = step.view;
  Object.assign(call, fill(step.input ?? {}, lookup, true));
  return { call };
}

interface RepairCall {
  /** The MCP tool: propose_action or propose_rollout. */
  tool: "propose_action" | "propose_rollout";
  target: unknown;
  params: Record<string, unknown>;
  strategy?: Record<string, unknown>;
}

function repairCall(def: RunbookDef, repair: RunbookRepair, mode: Mode): { call: RepairCall } | { missing: string[] } {
  const missing = requirementsMet(def, mode, repair.requires);
  if (missing.length > 0) return { missing };
  const lookup = lookupFor(def, mode, true);
  const target = fill(repair.target ?? "{host}", lookup, false);
  const params = fill(repair.params ?? {}, lookup, false) as Record<string, unknown>;
  if (!repair.rollout) return { call: { tool: "propose_action", target, params } };
  return { call: { tool: "propose_rollout", target, params, strategy: fill(repair.strategy ?? {}, lookup, false) as Record<string, unknown> } };
}

/** The MCP arguments of a repair's proposal. */
function proposalArguments(action: string, c: RepairCall, reason: string): Record<string, unknown> {
  return c.tool === "propose_action"
    ? { target: c.target, request: { action, ...c.params }, reason }
    : { target: c.target, action, params: c.params, strategy: c.strategy ?? {}, reason };
}

// --- checks --------------------------------------------------------------------------------------

/** A tool's MCP schemas, as the broker registers them (scripts/tool-schemas.ts allTools). */
export interface ToolSchemas {
  input: z.ZodType;
  output: z.ZodType;
}

type AnyDiagnostic = DiagnosticDef<string, z.ZodObject, z.ZodType>;

const findDiagnostic = (name: string) => (diagnostics as readonly AnyDiagnostic[]).find((d) => d.name === name);

const ORDERING = new Set<LookOp>(["<", "<=", ">", ">="]);
const GATE_OPS = new Set<string>(["==", "!=", "<", "<=", ">", ">="]);

/** The problems of one condition against an output schema, each starting with `where`. */
function checkCondition(schema: z.ZodType, c: LookFor, where: string, arrays: boolean): string[] {
  const f = outputField(schema, c.field, { arrays });
  if ("error" in f) return [`${where}.field: ${f.error}`];
  const v = c.value;
  if (c.op === undefined) return v === undefined ? [] : [`${where}: a value without an op`];
  if (c.op === "nonEmpty" || c.op === "empty") {
    if (f.kind !== "array") return [`${where}.op: ${c.op} reads an array; ${c.field} is a ${f.kind}`];
    return v === undefined ? [] : [`${where}.value: ${c.op} takes no value`];
  }
  if (v === undefined) return [`${where}.value: ${c.op} needs a value`];
  if (v === null) {
    if (c.op !== "==" && c.op !== "!=") return [`${where}.op: only == and != compare with null`];
    return f.nullable ? [] : [`${where}.value: ${c.field} is never null`];
  }
  if (f.kind === "array" || f.kind === "object") return [`${where}.field: ${c.field} is an ${f.kind} (compare a field inside it${f.kind === "array" ? ', "[]" steps into its elements' : ""})`];
  if (c.op === "contains") {
    if (f.kind !== "string") return [`${where}.op: contains reads a string; ${c.field} is a ${f.kind}`];
    return typeof v === "string" ? [] : [`${where}.value: contains takes a string`];
  }
  const kind = typeof v === "object" ? outputField(schema, v.field, { arrays }) : { kind: typeof v as string, nullable: false };
  if ("error" in kind) return [`${where}.value.field: ${kind.error}`];
  if (kind.kind !== f.kind) return [`${where}.value: ${c.field} is a ${f.kind}, not a ${kind.kind}`];
  if (ORDERING.has(c.op) && f.kind !== "number") return [`${where}.op: ${c.op} compares numbers; ${c.field} is a ${f.kind} (use == or !=)`];
  if (typeof v !== "object" && f.values && !f.values.includes(v)) return [`${where}.value: ${JSON.stringify(v)} is not a value of ${c.field} (${f.values.map((x) => JSON.stringify(x)).join(", ")})`];
  return [];
}

/** The output a step's conditions read: a diagnostic's per-host data, else the tool's own output. */
function outputOf(tool: string, tools: ReadonlyMap<string, ToolSchemas>): z.ZodType | undefined {
  return findDiagnostic(tool)?.output ?? tools.get(tool)?.output;
}

function callProblems(schema: z.ZodType | undefined, call: Record<string, unknown>, where: string, what: string, mode: string): string[] {
  if (!schema) return [];
  const r = schema.safeParse(call);
  return r.success ? [] : [`${where}: not a valid call of ${what} ${mode}: ${describeIssues(r.error)} (arguments ${JSON.stringify(call)})`];
}

function templateProblem(err: unknown, where: string): string {
  if (err instanceof TemplateError) {
    return err.why === "unknown"
      ? `${where}: {${err.template}} is neither an argument nor a fill`
      : `${where}: {${err.template}} is an optional argument without a default: list it in requires, or use it alone as an input value (left out with it)`;
  }
  throw err;
}

/**
 * Checks a runbook against the catalog and the broker's tools (`tools`: every tool the broker
 * registers, the diagnostics included, by name): its arguments, that every tool and action it names
 * exists, that every condition is typed against the tool's output schema, and that every call it
 * proposes is valid for that tool's input schema once the templates are filled — with every
 * argument given, and with only the required ones. Returns the problems, each naming where; none:
 * the runbook holds.
 */
export function checkRunbook(def: RunbookDef, tools: ReadonlyMap<string, ToolSchemas>): string[] {
  const problems: string[] = [];
  const args = new Map(def.arguments.map((a) => [a.name, a]));
  def.arguments.forEach((a, i) => {
    const where = `arguments[${i}] (${a.name})`;
    if (a.required && a.default !== undefined) problems.push(`${where}: a required argument has no default`);
    if (a.kind === "unit") {
      const host = a.hostArgument === undefined ? undefined : args.get(a.hostArgument);
      if (!host || host.kind !== "host") problems.push(`${where}.hostArgument: a unit argument names the host argument whose units complete it`);
    } else if (a.hostArgument !== undefined) problems.push(`${where}.hostArgument: only a unit argument has one`);
    for (const [label, value] of [["default", a.default], ["example", a.example]] as const) {
      if (value === undefined) continue;
      const parsed = parseArgument(a, value);
      if (!parsed.ok) problems.push(`${where}.${label}: ${parsed.problem}`);
    }
  });
  const optional = (name: string) => args.get(name)?.required === false;

  def.steps.forEach((step, i) => {
    const where = `steps[${i}]`;
    const diagnostic = findDiagnostic(step.tool);
    if (!diagnostic && !tools.has(step.tool)) {
      problems.push(`${where}.tool: ${JSON.stringify(step.tool)} is neither a diagnostic of the catalog nor a tool of the broker`);
      return;
    }
    for (const r of step.requires ?? []) if (!optional(r)) problems.push(`${where}.requires: ${JSON.stringify(r)} is not an optional argument`);
    const output = outputOf(step.tool, tools)!;
    if (step.lookFor.length === 0) problems.push(`${where}.lookFor: says nothing to look for`);
    step.lookFor.forEach((c, j) => problems.push(...checkCondition(output, c, `${where}.lookFor[${j}]`, true)));
    for (const allGiven of [true, false]) {
      const label = allGiven ? "(every argument given)" : "(only the required arguments)";
      let made: ReturnType<typeof stepCall>;
      try {
        made = stepCall(def, step, exampleMode(def, allGiven));
      } catch (err) {
        problems.push(templateProblem(err, where));
        break;
      }
      if ("missing" in made) continue;
      const found: string[] = [];
      const target = made.call.target;
      if (target !== undefined && !targetSelector.safeParse(target).success) found.push(`${where}.target: ${JSON.stringify(target)} is not a target ${label}`);
      if (diagnostic) {
        const { target: _t, view: _v, ...input } = made.call;
        found.push(...callProblems(diagnostic.input, input, `${where}.input`, step.tool, label));
      }
      found.push(...callProblems(tools.get(step.tool)?.input, made.call, `${where}.input`, `the tool ${step.tool}`, label));
      // One way of calling it wrong is enough to say: the other would mostly repeat it.
      problems.push(...found);
      if (found.length > 0) break;
    }
  });

  if (def.repairs.length === 0 && def.noRepair.trim() === "") problems.push("repairs: none, and noRepair says nothing");
  def.repairs.forEach((repair, i) => {
    const where = `repairs[${i}]`;
    const action = findAction(repair.action);
    if (!action) {
      problems.push(`${where}.action: ${JSON.stringify(repair.action)} is not an action of the catalog`);
      return;
    }
    for (const r of repair.requires ?? []) if (!optional(r)) problems.push(`${where}.requires: ${JSON.stringify(r)} is not an optional argument`);
    if (repair.strategy && !repair.rollout) problems.push(`${where}.strategy: only a roll-out has one`);
    for (const allGiven of [true, false]) {
      const label = allGiven ? "(every argument given)" : "(only the required arguments)";
      let made: ReturnType<typeof repairCall>;
      try {
        made = repairCall(def, repair, exampleMode(def, allGiven));
      } catch (err) {
        problems.push(templateProblem(err, where));
        break;
      }
      if ("missing" in made) continue;
      const c = made.call;
      const before = problems.length;
      const targetOk = repair.rollout ? targetSelector.safeParse(c.target).success : hostLabel.safeParse(c.target).success;
      if (!targetOk) problems.push(`${where}.target: ${JSON.stringify(c.target)} is not ${repair.rollout ? "a target" : "one host's name"} ${label}`);
      problems.push(...callProblems(action.params, c.params, `${where}.params`, `the action ${action.name}`, label));
      problems.push(...callProblems(tools.get(c.tool)?.input, proposalArguments(action.name, c, repair.when), `${where}`, c.tool, label));
      const gates = (c.strategy?.gates ?? []) as readonly { diagnostic?: unknown; when?: readonly LookFor[] }[];
      gates.forEach((g, k) => {
        const d = typeof g.diagnostic === "string" ? findDiagnostic(g.diagnostic) : undefined;
        if (!d) {
          problems.push(`${where}.strategy.gates[${k}].diagnostic: ${JSON.stringify(g.diagnostic)} is not a diagnostic of the catalog`);
          return;
        }
        (g.when ?? []).forEach((cond, m) => {
          const at = `${where}.strategy.gates[${k}].when[${m}]`;
          if (!GATE_OPS.has(String(cond.op))) problems.push(`${at}.op: a gate compares with ${[...GATE_OPS].join(" ")}`);
          else problems.push(...checkCondition(d.output, { ...cond, meaning: "" }, at, false));
        });
      });
      if (problems.length > before) break;
    }
  });
  return [...new Set(problems)];
}

/** One MCP call a runbook makes or proposes, its templates filled. */
export interface RunbookCall {
  tool: string;
  args: Record<string, unknown>;
}

/**
 * The calls of a runbook with the checks' values: every argument at its example (allGiven) or only
 * the required ones (the rest at their defaults, the steps and repairs that need them left out);
 * fills at their examples. What checkRunbook validates, for tests that check more (a roll-out's gates).
 */
export function exampleCalls(def: RunbookDef, allGiven: boolean): { steps: RunbookCall[]; proposals: RunbookCall[] } {
  const mode = exampleMode(def, allGiven);
  const steps = def.steps.flatMap((s) => {
    const made = stepCall(def, s, mode);
    return "missing" in made ? [] : [{ tool: s.tool, args: made.call }];
  });
  const proposals = def.repairs.flatMap((r) => {
    const made = repairCall(def, r, mode);
    return "missing" in made ? [] : [{ tool: made.call.tool, args: proposalArguments(r.action, made.call, r.when) }];
  });
  return { steps, proposals };
}

// --- rendering -----------------------------------------------------------------------------------

/** A code fence longer than any run of backticks in the text. */
function fenced(text: string, lang = "json"): string[] {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = "`".repeat(Math.max(3, longest + 1));
  return [`${fence}${lang}`, text, fence];
}

function code(text: string): string {
  return text.includes("`") ? `\`\` ${text} \`\`` : `\`${text}\``;
}

/** A condition as the model reads it: `load5` > `cpus`, `units` is not empty, `status` == "SERVFAIL". */
function conditionText(c: LookFor): string {
  const field = code(c.field);
  if (c.op === undefined) return field;
  if (c.op === "nonEmpty") return `${field} is not empty`;
  if (c.op === "empty") return `${field} is empty`;
  const v = c.value;
  const value = v !== null && typeof v === "object" ? code(v.field) : JSON.stringify(v);
  return `${field} ${c.op} ${value}`;
}

interface Layout {
  /** Heading prefix of the runbook's title ("#": the prompt, "##": docs/runbooks.md). */
  h: string;
  /** The arguments' values (the prompt), or undefined (the docs show the templates). */
  args?: Record<string, string>;
}

function impactLine(action: ActionDef): string {
  return `impact **${action.impact}**${action.inverse ? ` · undo: ${code(action.inverse)}` : " · no undo"} — ${action.title}. ${action.summary}`;
}

const FIELDS_NOTE =
  'Field paths are those of the tool\'s output schema; for a diagnostic, of each host\'s `data` (`results[].data`). `a[].b` is the `b` of any element of the array `a`. In a summary answer (`view: "summary"`) the same paths appear under `fleet.numbers`, `fleet.outliers.apart` and `fleet.groups`, an array\'s entries keyed by what identifies them (`filesystems[/var].usedPercent`); `page` gives the per-host answers.';

function render(def: RunbookDef, layout: Layout): string {
  const mode = layout.args ? promptMode(layout.args) : templateMode;
  const sub = `${layout.h}#`;
  const lines: string[] = [`${layout.h} ${def.title}`, "", def.description, ""];
  if (layout.args) {
    const given = def.arguments.filter((a) => layout.args![a.name] !== undefined);
    if (given.length > 0) lines.push(`Arguments: ${given.map((a) => `${a.name} = ${JSON.stringify(layout.args![a.name])}`).join(", ")}.`, "");
  } else {
    lines.push("| argument | kind | required | default | description |", "|---|---|---|---|---|");
    for (const a of def.arguments) {
      const completes = a.kind === "unit" && a.hostArgument ? `unit (of \`${a.hostArgument}\`)` : a.kind;
      lines.push(`| \`${a.name}\` | ${completes} | ${a.required ? "yes" : "no"} | ${a.default === undefined ? "" : code(a.default)} | ${a.description.replace(/\|/g, "\\|")} |`);
    }
    lines.push("");
  }
  lines.push(
    "Run the steps in order; each is one MCP tool call with exactly these arguments. Read the typed output, not a text copy, and go on while the cause is not found.",
    "",
    FIELDS_NOTE,
    "",
    `${sub} Steps`,
    "",
  );
  const fills = Object.entries(def.fill ?? {});
  if (fills.length > 0) {
    lines.push("Values written `<name: …>` are to be read off an earlier step's output:", ...fills.map(([name, f]) => `- \`${name}\`: ${f.from}`), "");
  }
  // Steps keep their numbers when one is left out: the runbook's texts refer to them ("step 5").
  const leftOut: string[] = [];
  def.steps.forEach((step, i) => {
    const n = i + 1;
    const made = stepCall(def, step, mode);
    if ("missing" in made) {
      leftOut.push(`step ${n}, ${code(step.tool)}, needs the argument ${made.missing.map(code).join(", ")}: ${step.why}`);
      return;
    }
    const diagnostic = findDiagnostic(step.tool);
    lines.push(`${sub}# ${n}. ${step.tool}`, "");
    const only = [step.if, !layout.args && step.requires?.length ? `only with ${step.requires.map(code).join(", ")}` : undefined].filter(Boolean);
    if (only.length > 0) lines.push(`Only ${only.join("; ").replace(/^only /, "")}.`, "");
    lines.push(step.why, "", `Call ${code(step.tool)} with:`, "", ...fenced(JSON.stringify(made.call)), "");
    lines.push(diagnostic ? "Look for, in each host's `data`:" : `Look for, in the output of ${code(step.tool)}:`);
    for (const c of step.lookFor) lines.push(`- ${conditionText(c)}: ${c.meaning}`);
    lines.push("");
  });
  if (leftOut.length > 0) lines.push("Left out with these arguments:", ...leftOut.map((l) => `- ${l}`), "");

  lines.push(`${sub} Repairs to propose`, "");
  if (def.repairs.length > 0) {
    lines.push(
      "Propose only what the steps showed is needed, one host at a time with `propose_action` (or many hosts with one approval with `propose_rollout`), with a `reason` that says what you found. The impact is the catalog's; the host previews what the action would touch before a human approves.",
      "",
    );
  }
  const leftOutRepairs: string[] = [];
  for (const repair of def.repairs) {
    const action = findAction(repair.action)!;
    const made = repairCall(def, repair, mode);
    if ("missing" in made) {
      leftOutRepairs.push(`${code(repair.action)} needs the argument ${made.missing.map(code).join(", ")}`);
      continue;
    }
    lines.push(`- **${repair.action}**${repair.rollout ? " (roll-out)" : ""}: ${impactLine(action)}`, `  When: ${repair.when}`);
    const invalid = layout.args ? invalidParams(def, action, repair, layout.args) : undefined;
    if (invalid) {
      lines.push(`  Not applicable with these arguments: ${invalid}`, "");
      continue;
    }
    const reason = placeholder("reason", "what the steps showed");
    lines.push(`  Call ${code(made.call.tool)} with:`, "", ...fenced(JSON.stringify(proposalArguments(action.name, made.call, reason))).map((l) => `  ${l}`), "");
  }
  if (leftOutRepairs.length > 0) lines.push("Left out with these arguments:", ...leftOutRepairs.map((l) => `- ${l}`), "");
  lines.push(`${sub} When no typed repair fits`, "", def.noRepair, "");
  lines.push(
    `${sub} Nothing runs until a human approves`,
    "",
    "The steps only read. A proposal records a PENDING request and returns its id; nothing changes on any host until a human approves it outside your reach (`hostward approve ID` in a terminal, or the client's approval dialog within policy), and you then call `execute_action` (or `execute_rollout`) with that id. The host checks the approval, its own allowlist and the preview again before it acts. Never offer a shell command in place of a typed action: when none fits, say so and escalate.",
  );
  return lines.join("\n");
}

/** Why a repair's parameters are not valid with the prompt's arguments (a unit that is not a service), or undefined. */
function invalidParams(def: RunbookDef, action: ActionDef, repair: RunbookRepair, args: Record<string, string>): string | undefined {
  // The fills and the arguments left out stand for values the model will read: their examples take their place here.
  const examples = exampleMode(def, true);
  const mode: Mode = { ...examples, arg: (a) => (Object.hasOwn(args, a.name) ? args[a.name] : undefined) };
  const made = repairCall(def, repair, mode);
  if ("missing" in made) return undefined;
  const r = action.params.safeParse(made.call.params);
  return r.success ? undefined : describeIssues(r.error);
}

/**
 * The prompt's text for these (validated: parseRunbookArgs) arguments: markdown for the model —
 * the steps in order, each naming the MCP tool and its exact arguments (JSON), what to look for
 * in its typed output, the repairs to propose with their catalog impact, and that nothing runs
 * until a human approves.
 */
export function renderRunbook(def: RunbookDef, args: Record<string, string>): string {
  return render(def, { h: "#", args });
}

/** The runbook with its templates ({host}, <fill: …>), for docs/runbooks.md. */
export function renderRunbookTemplate(def: RunbookDef): string {
  return render(def, { h: "##" });
}
