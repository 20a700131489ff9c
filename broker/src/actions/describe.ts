// What a human (or the model) is shown about a request: the tools' structured view, and the exact
// text `hostward approve` and the elicitation form print before anyone signs. Every value that
// came from the model (reason, requester, params) is printed with control characters escaped, so a
// crafted string cannot rewrite the terminal or hide a line.
import { canonicalJson } from "../../../proto/catalog/approval";
import { findAction } from "../../../proto/catalog/actions/index";
import { applicableChecks, commandLine, renderPlan } from "../../../proto/catalog/define-action";
import { printable, type ActionRequest } from "./request";

/**
 * The commands that will run on the host, in order: the definition's plan rendered for these
 * parameters with the host's own facts (its preview), only the steps that apply — exactly the lines
 * the helper prints ("$ …") as it starts each one (test/actions/plan-is-what-runs.test.ts). The
 * request's id names a transient step's unit (the approval statement signs the same id).
 */
function runsOf(r: ActionRequest): string[] {
  const def = findAction(r.action);
  if (!def || !r.preview) return [];
  try {
    return renderPlan(def, r.params, r.preview.facts, { requestId: r.id }).map((s) => `${commandLine(s)}${s.note ? `   ${s.note}` : ""}`);
  } catch {
    return [];
  }
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
  if (r.preview) view.preview = r.preview.summary;
  view.runs = runsOf(r);
  if (r.approval) view.approval = { keyId: r.approval.keyId, via: r.approval.via, approver: r.approval.approver, at: r.approval.at };
  if (r.rejection) view.rejection = r.rejection;
  if (r.cancellation) view.cancellation = r.cancellation;
  if (r.execution) view.execution = r.execution;
  view.history = r.history;
  return view;
}

/** Width of one line of the requester's reason as printed (so it never reaches a terminal's edge and wraps). */
const REASON_WIDTH = 64;

/**
 * The reason as the approver sees it: escaped (shared/printable.ts), cut into lines of at most
 * REASON_WIDTH characters, each behind "    > ", after everything else. Whatever it says, it
 * cannot be laid out to look like one of the request's own fields (those start "  name:").
 */
function reasonLines(reason: string): string[] {
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
  if (def && r.preview) {
    const facts = r.preview.facts;
    // Host output (the preview) and the catalog's own text (which may hold non-ASCII, such as
    // U+2264) with validated values in it: escaped, not ASCII-only.
    lines.push("  what it touches, as the host reported it:");
    for (const line of r.preview.summary) lines.push(`    ${printable(line)}`);
    lines.push("  pre-checks (the action stops, nothing changed, if one fails):");
    for (const c of applicableChecks(def.prechecks, r.params, facts)) lines.push(`    - ${printable(c)}`);
    lines.push("  runs on the host, in order:");
    const runs = runsOf(r);
    for (const line of runs) lines.push(`    $ ${printable(line)}`);
    if (runs.length === 0) lines.push("    (nothing: no step of the plan applies on this host)");
    lines.push("  post-checks (they decide the verdict):");
    for (const c of applicableChecks(def.postchecks, r.params, facts)) lines.push(`    - ${printable(c)}`);
    lines.push(`  undo:      ${def.inverse ? `${def.inverse} (propose it to revert)` : "none (this action has no inverse)"}`);
    lines.push(`  refused at execution if any of these changed since: ${def.material.join(", ") || "(nothing)"}`);
  } else if (def) {
    lines.push("  (this request carries no impact preview from its host: it cannot be approved; propose it again)");
  } else {
    lines.push(`  (this broker's catalog has no action ${id(r.action)}: it cannot be approved)`);
  }
  lines.push("  reason given by the requester (not verified; it changes nothing of the above):", ...reasonLines(r.reason));
  return lines;
}
