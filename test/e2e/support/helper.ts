// The root helper called the way the operator agent calls it, but by hand inside a container:
// `runuser -u hostward-operator -- sudo -n -- /usr/libexec/hostward/hostward-action` with the
// request as JSON on stdin. What it prints is parsed back: stdout JSON lines (output…, then one
// result or refused), and its own audit JSON line on stderr.
import { findAction } from "../../../proto/catalog/actions/index";
import { commandLine, renderPlan, type ActionPreview, type ActionResult } from "../../../proto/catalog/define-action";
import type { HelperRequest } from "../../../agent/src/helper/wire";
import type { Container } from "./container";
import type { RunResult } from "./run";

export const HELPER = "/usr/libexec/hostward/hostward-action";

interface HelperAudit {
  audit: "hostward-action";
  event: "refused" | "executed";
  mode: string;
  action?: string;
  code?: string;
  exitCode: number;
  verdict?: string;
  spawns: number;
  sudoUser?: string;
  requestId?: string;
  keyId?: string;
}

export interface HelperRun {
  code: number | null;
  outputs: string[];
  result?: ActionResult & { spawns: number };
  refused?: { code: string; exitCode: number; reason: string; spawns: number };
  /** The answer to a preview query. */
  preview?: ActionPreview;
  /** The helper's audit lines on stderr (exactly one when the helper itself ran). */
  audits: HelperAudit[];
  /** Whether every stdout line was output* then one result/refused, in that order. */
  ordered: boolean;
  raw: RunResult;
}

export function parseHelperRun(raw: RunResult): HelperRun {
  const out: HelperRun = { code: raw.code, outputs: [], audits: [], ordered: true, raw };
  let ended = false;
  for (const line of raw.stdout.split("\n")) {
    if (line.trim() === "") continue;
    const msg = JSON.parse(line) as { type: string; line?: string } & Record<string, unknown>;
    if (ended) out.ordered = false;
    if (msg.type === "output") out.outputs.push(String(msg.line));
    else if (msg.type === "result") {
      out.result = msg as unknown as HelperRun["result"];
      ended = true;
    } else if (msg.type === "refused") {
      out.refused = msg as unknown as HelperRun["refused"];
      ended = true;
    } else if (msg.type === "preview") {
      out.preview = msg.preview as ActionPreview;
      ended = true;
    }
  }
  for (const line of raw.stderr.split("\n")) {
    if (line.startsWith('{"audit":"hostward-action"')) out.audits.push(JSON.parse(line) as HelperAudit);
  }
  return out;
}

export interface AsOperatorOptions {
  /** Arguments after the helper path (the sudoers line allows none). */
  extraArgs?: string[];
  /** sudo options before "--" (e.g. "LD_PRELOAD=/x": sudo's VAR=value form). */
  sudoArgs?: string[];
  /** Variables set in the caller's environment before sudo (`env NAME=VALUE … sudo …`). */
  callerEnv?: Record<string, string>;
}

/** runuser -u hostward-operator -- [env …] sudo -n [sudoArgs] -- HELPER [extraArgs], request on stdin. */
export async function helperAsOperator(c: Container, request: HelperRequest | string, opts: AsOperatorOptions = {}): Promise<HelperRun> {
  const env = Object.entries(opts.callerEnv ?? {}).map(([k, v]) => `${k}=${v}`);
  const argv = [
    "runuser",
    "-u",
    "hostward-operator",
    "--",
    ...(env.length ? ["env", ...env] : []),
    "sudo",
    "-n",
    ...(opts.sudoArgs ?? []),
    "--",
    HELPER,
    ...(opts.extraArgs ?? []),
  ];
  const input = typeof request === "string" ? request : `${JSON.stringify(request)}\n`;
  return parseHelperRun(await c.exec(argv, { input, timeoutMs: 150_000 }));
}

/**
 * The host's impact preview of an action, asked exactly as the operator agent asks it (the helper's
 * read-only `{"query":"preview"}` through the one sudoers line): what an approver reads and signs.
 * Throws with the helper's answer when it refuses.
 */
export async function previewIn(c: Container, action: string, params: Record<string, unknown>): Promise<ActionPreview> {
  const r = await helperAsOperator(c, `${JSON.stringify({ query: "preview", action, params })}\n`);
  if (r.code !== 0 || !r.preview) throw new Error(`the helper did not preview ${action} ${JSON.stringify(params)} (exit ${r.code}):\n${r.raw.stdout}\n${r.raw.stderr}`);
  return r.preview;
}

/** The helper's refusal of a preview query (for previews refused before anything is approved). */
export async function previewRefusal(c: Container, action: string, params: Record<string, unknown>): Promise<HelperRun> {
  return helperAsOperator(c, `${JSON.stringify({ query: "preview", action, params })}\n`);
}

/**
 * The request id the plan lines below are rendered for when none is given: only a transient step's
 * lines (its unit, `--unit=hostward-<id>-<step>`, and its stop step) depend on it, so a test of
 * such an action passes the approval's own id (statement.id).
 */
const ANY_REQUEST = "e2e-any";

/**
 * The lines an approver of this preview read as the plan (define-action.ts renderPlan →
 * commandLine), each as the helper prints it when it starts the step ("$ " + line). `params` are
 * the catalog-parsed parameters (defaults filled in), as the helper renders them.
 */
export function planLines(action: string, params: Record<string, unknown>, preview: ActionPreview, opts: { shownOnly?: boolean; requestId?: string } = {}): string[] {
  const def = findAction(action);
  if (!def) throw new Error(`no action ${action} in the catalog`);
  const parsed = def.params.parse(params) as Record<string, unknown>;
  // Quiet steps (parsed, not streamed: systemctl show, dpkg-query) run without a "$ " line.
  return renderPlan(def, parsed, preview.facts, { requestId: opts.requestId ?? ANY_REQUEST })
    .filter((s) => !opts.shownOnly || !s.quiet)
    .map((s) => `$ ${commandLine(s)}`);
}

/** The "$ " line of one step of the plan (by its id in the definition), as the helper prints it. */
export function planLine(action: string, params: Record<string, unknown>, preview: ActionPreview, stepId: string, requestId = ANY_REQUEST): string {
  const def = findAction(action);
  if (!def) throw new Error(`no action ${action} in the catalog`);
  const step = renderPlan(def, def.params.parse(params) as Record<string, unknown>, preview.facts, { requestId }).find((s) => s.id === stepId);
  if (!step) throw new Error(`step ${stepId} is not in the plan of ${action} for this preview`);
  return `$ ${commandLine(step)}`;
}

/** The lines of the helper's output that start a step ("$ …"): every one must be a planLines line. */
export function ranLines(outputs: readonly string[]): string[] {
  return outputs.filter((l) => l.startsWith("$ "));
}

/**
 * The broker's `runs` (requestView: the plan rendered from the host's preview, each line
 * `commandLine` plus "   note" when the step has one) as the "$ " lines the helper prints.
 */
export function runsAsPrinted(runs: readonly string[]): string[] {
  return runs.map((r) => `$ ${r.replace(/ {3}\(.*\)$/, "")}`);
}
