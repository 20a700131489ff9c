// What a human (or the model) is shown about a request: the tools' structured view, and the exact
// text `hostward approve` and the elicitation form print before anyone signs. Every value that
// came from the model (reason, requester, params) is printed with control characters escaped, so a
// crafted string cannot rewrite the terminal or hide a line.
import { canonicalJson } from "../../../proto/catalog/approval";
import { findAction } from "../../../proto/catalog/actions/index";
import { describeRuns } from "../../../proto/catalog/define-action";
import { printable, type ActionRequest } from "./request";

export function runsOf(r: ActionRequest): string[] {
  const def = findAction(r.action);
  return def ? describeRuns(def, r.params) : [];
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
  view.runs = runsOf(r);
  if (r.approval) view.approval = { keyId: r.approval.keyId, via: r.approval.via, approver: r.approval.approver, at: r.approval.at };
  if (r.rejection) view.rejection = r.rejection;
  if (r.cancellation) view.cancellation = r.cancellation;
  if (r.execution) view.execution = r.execution;
  view.history = r.history;
  return view;
}

/** The lines shown before an approval: exactly what will run, where, and until when. */
export function approvalSummary(r: ActionRequest): string[] {
  const def = findAction(r.action);
  const lines = [
    `Action request ${r.id}`,
    `  host:      ${printable(r.host)} (certificate name ${printable(r.hostIdentity)})`,
    `  action:    ${r.action}${def ? ` — ${def.title}` : ""}`,
    `  params:    ${printable(canonicalJson(r.params))}`,
    `  impact:    ${r.impact}`,
    `  requester: ${printable(r.requester)}`,
    `  reason:    ${printable(r.reason)}   (stated by the requester, not verified)`,
    `  expires:   ${iso(r.expiresAt)} (the approval is valid until then, once)`,
    `  state:     ${r.state}`,
  ];
  if (def) {
    lines.push(`  pre-check: ${def.precheck}`, `  post-check: ${def.postcheck}`, "  runs on the host, in order:");
    for (const line of describeRuns(def, r.params)) lines.push(`    ${printable(line)}`);
  } else {
    lines.push(`  (this broker's catalog has no action ${r.action}: it cannot be approved)`);
  }
  return lines;
}
