// What a human (or the model) is shown about a request: the tools' structured view, and the exact
// text `hostward approve` and the elicitation form print before anyone signs. Every value that
// came from the model (reason, requester, params) is printed with control characters escaped, so a
// crafted string cannot rewrite the terminal or hide a line. What the action touches is never the
// host's own text: it is rendered here by the catalog from the host's facts (preview-summary.ts),
// each value the host chose quoted and escaped, and a preview whose summary says anything else
// cannot be approved.
import { createHash } from "node:crypto";
import { canonicalJson } from "../../../proto/catalog/approval";
import { findAction } from "../../../proto/catalog/actions/index";
import { applicableChecks, commandLine, renderPlan, type ActionDef, type RenderedStep } from "../../../proto/catalog/define-action";
import { previewProblem, previewSummary } from "../../../proto/catalog/preview-summary";
import { printable, type ActionRequest } from "./request";

/**
 * The commands that will run on the host, in order: the definition's plan rendered for these
 * parameters with the host's own facts (its preview), only the steps that apply — exactly the lines
 * the helper prints ("$ …") as it starts each one (test/actions/plan-is-what-runs.test.ts). The
 * request's id names a transient step's unit (the approval statement signs the same id).
 */
function planOf(r: ActionRequest): RenderedStep[] {
  const def = findAction(r.action);
  if (!def || !r.preview) return [];
  try {
    return renderPlan(def, r.params, r.preview.facts, { requestId: r.id });
  } catch {
    return [];
  }
}

function runsOf(r: ActionRequest): string[] {
  return planOf(r).map((s) => `${commandLine(s)}${s.note ? `   ${s.note}` : ""}`);
}

/**
 * What the action touches, as this broker's catalog renders it from the host's facts, or why the
 * preview cannot be shown (its facts do not match their schema, or its summary is not that text).
 */
function previewText(def: ActionDef, r: ActionRequest & { preview: NonNullable<ActionRequest["preview"]> }): { lines: string[] } | { problem: string } {
  const problem = previewProblem(def, r.params, r.preview);
  return problem ? { problem: problem.reason } : { lines: previewSummary(def, r.params, r.preview.facts) };
}

const iso = (unix: number) => new Date(unix * 1000).toISOString();

/** The structured view returned by get_action / list_actions / execute_action. */
export function requestView(r: ActionRequest, full = true): Record<string, unknown> {
  const view: Record<string, unknown> = {
    id: r.id,
    state: r.state,
    host: r.host,
    action: r.action,
    params: r.params,
    impact: r.impact,
    requester: r.requester,
    createdAt: r.createdAt,
    expiresAt: iso(r.expiresAt),
  };
  if (!full) return view;
  view.reason = r.reason;
  const def = findAction(r.action);
  if (r.preview && def) {
    const text = previewText(def, { ...r, preview: r.preview });
    view.preview = "lines" in text ? text.lines : [`(not shown: the host's impact preview is refused, ${text.problem}; it cannot be approved: propose it again)`];
  }
  view.runs = runsOf(r);
  if (r.approvalsRequired !== undefined) view.approvalsRequired = r.approvalsRequired;
  if (r.approval) {
    view.approval = {
      keyId: r.approval.keyId,
      via: r.approval.via,
      approver: r.approval.approver,
      at: r.approval.at,
      ...(r.approval.cosignatures?.length && { cosignatures: r.approval.cosignatures.map((c) => ({ keyId: c.keyId, via: c.via, approver: c.approver, at: c.at })) }),
    };
  }
  if (r.rejection) view.rejection = r.rejection;
  if (r.cancellation) view.cancellation = r.cancellation;
  if (r.execution) view.execution = r.execution;
  view.history = r.history;
  return view;
}

/**
 * A digest of everything an approval of `r` signs (its signed fields and the host's preview). The
 * approval view is handed the digest of the request it shows and sends it back with the human's
 * click; approve_in_app refuses when the stored request's differs, so a click approves the
 * request the view showed and never another copy.
 */
export function shownDigest(r: ActionRequest): string {
  const signed = {
    id: r.id,
    host: r.host,
    hostIdentity: r.hostIdentity,
    hostKey: r.hostKey ?? null,
    action: r.action,
    params: r.params,
    impact: r.impact,
    requester: r.requester,
    expiresAt: r.expiresAt,
    preview: r.preview ?? null,
  };
  return `sha256:${createHash("sha256").update(canonicalJson(signed), "utf8").digest("hex")}`;
}

/** Width of one line of the requester's reason as printed (so it never reaches a terminal's edge and wraps). */
const REASON_WIDTH = 64;

/**
 * The reason as the approver sees it: escaped (shared/printable.ts), cut into lines of at most
 * REASON_WIDTH characters, each behind "    > ", after everything else. Whatever it says, it
 * cannot be laid out to look like one of the request's own fields (those start "  name:").
 */
export function reasonLines(reason: string): string[] {
  const text = printable(reason);
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += REASON_WIDTH) lines.push(`    > ${text.slice(i, i + REASON_WIDTH)}`);
  return lines.length > 0 ? lines : ["    > (none)"];
}

/**
 * The lines shown before an approval: exactly what will run, where, and until when. Identifiers
 * (host, parameters, requester, the commands) are printed ASCII-only; the reason, free text from
 * the requester, comes last, escaped and fenced.
 */
export function approvalSummary(r: ActionRequest): string[] {
  const def = findAction(r.action);
  const id = (text: string) => printable(text, { ascii: true });
  const lines = [
    `Action request ${id(r.id)}`,
    `  host:      ${id(r.host)} (certificate name ${id(r.hostIdentity)}${r.hostKey ? `, operator key ${id(r.hostKey)}` : ""})`,
    `  action:    ${id(r.action)}${def ? ` - ${def.title}` : ""}`,
    `  params:    ${id(canonicalJson(r.params))}`,
    `  impact:    ${id(r.impact)}`,
    `  requester: ${id(r.requester)}`,
    `  expires:   ${iso(r.expiresAt)} (the approval is valid until then, once)`,
    `  state:     ${id(r.state)}`,
  ];
  const text = def && r.preview ? previewText(def, { ...r, preview: r.preview }) : null;
  if (def && r.preview && text && "lines" in text) {
    const facts = r.preview.facts;
    // Rendered from the host's facts by the catalog: its own words (which may hold non-ASCII, such
    // as U+2192) escaped, each value the host chose already quoted and escaped ASCII-only.
    lines.push('  what it touches, from the host\'s facts ("quoted": text the host reported, not verified):');
    for (const line of text.lines) lines.push(`    ${printable(line)}`);
    lines.push("  pre-checks (the action stops, nothing changed, if one fails):");
    for (const c of applicableChecks(def.prechecks, r.params, facts)) lines.push(`    - ${printable(c)}`);
    lines.push("  runs on the host, in order:");
    // The command (host facts in it: a unit, a path) ASCII-only, like every identifier; the catalog's note escaped.
    const runs = planOf(r);
    for (const s of runs) lines.push(`    $ ${id(commandLine(s))}${s.note ? `   ${printable(s.note)}` : ""}`);
    if (runs.length === 0) lines.push("    (nothing: no step of the plan applies on this host)");
    lines.push("  post-checks (they decide the verdict):");
    for (const c of applicableChecks(def.postchecks, r.params, facts)) lines.push(`    - ${printable(c)}`);
    lines.push(`  undo:      ${def.inverse ? `${def.inverse} (propose it to revert)` : "none (this action has no inverse)"}`);
    lines.push(`  refused at execution if any of these changed since: ${def.material.join(", ") || "(nothing)"}`);
  } else if (text && "problem" in text) {
    lines.push(`  (the host's impact preview is refused: ${printable(text.problem)}: it cannot be approved; propose it again)`);
  } else if (def) {
    lines.push("  (this request carries no impact preview from its host: it cannot be approved; propose it again)");
  } else {
    lines.push(`  (this broker's catalog has no action ${id(r.action)}: it cannot be approved)`);
  }
  lines.push("  reason given by the requester (not verified; it changes nothing of the above):", ...reasonLines(r.reason));
  return lines;
}

/** Who has signed so far (an action's or a roll-out's approval), one line each, as an approver reads it before adding theirs. */
export function signatureLines(approval: { keyId: string; approver: string; via: string; at: string; cosignatures?: ReadonlyArray<{ keyId: string; approver: string; via: string; at: string }> }): string[] {
  return [approval, ...(approval.cosignatures ?? [])].map((s, i) => `  signed ${i + 1}: ${s.keyId} by ${printable(s.approver)} (${s.via}) at ${s.at}`);
}
