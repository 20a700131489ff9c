// What a human (or the model) is shown about a roll-out: the tools' structured view, and the exact
// text `hostward approve` prints before anyone signs — the batches with the host names, the
// strategy and its stop conditions, the gates, and the hosts' previews and commands grouped (hosts
// whose preview and plan read the same are one group). Model-given values are escaped; the reason
// comes last, fenced (actions/describe.ts).
import { canonicalJson } from "../../../proto/catalog/approval";
import { findAction } from "../../../proto/catalog/actions/index";
import { commandLine, renderPlan, type ActionPreview } from "../../../proto/catalog/define-action";
import { previewProblem, previewSummary } from "../../../proto/catalog/preview-summary";
import { rolloutRequestId, rolloutUndoRequestId } from "../../../proto/catalog/rollout-plan";
import { reasonLines } from "../actions/describe";
import { printable } from "../actions/request";
import { batchCount, type PlanHost, type RolloutRecord } from "./record";
import { countStates } from "./service";
import { conditionText, failureBudget } from "./strategy";

/** Stands for each host's request id (`<rollout id>-<index>`) in the commands shown. */
const REQUEST = "<request>";
const iso = (unix: number) => new Date(unix * 1000).toISOString();
const id = (text: string) => printable(text, { ascii: true });
/** Host names listed per batch or group before "and N more". */
const NAMES = 12;
/** Batches listed one per line before the rest are counted. */
const BATCH_LINES = 40;

function names(hosts: readonly PlanHost[]): string {
  const shown = hosts.slice(0, NAMES).map((h) => id(h.host)).join(", ");
  return hosts.length > NAMES ? `${shown} and ${hosts.length - NAMES} more` : shown;
}

/** The commands a host's part runs (`undo`: its rollback with the inverse), rendered from its preview's facts — as its helper will. */
function planLines(r: RolloutRecord, h: PlanHost, preview: ActionPreview, undo = false): string[] {
  const forward = findAction(r.action);
  const def = undo ? (forward?.inverse ? findAction(forward.inverse) : undefined) : forward;
  if (!def) return [];
  try {
    return renderPlan(def, r.params, preview.facts, { requestId: undo ? rolloutUndoRequestId(r.id, h.index) : rolloutRequestId(r.id, h.index) }).map(commandLine);
  } catch {
    return ["(the plan cannot be rendered from this host's preview)"];
  }
}

/** Hosts grouped by what they would do: the same preview lines and the same commands. */
function groups(r: RolloutRecord, previews: readonly ActionPreview[]): Array<{ hosts: PlanHost[]; summary: string[]; runs: string[]; undo: string[] }> {
  const byKey = new Map<string, { hosts: PlanHost[]; summary: string[]; runs: string[]; undo: string[] }>();
  const def = findAction(r.action);
  for (const h of r.hosts) {
    const preview = previews[h.index]!;
    // Each host's request id (in transient units' names) is written <request>, so hosts that do the same group.
    const runs = planLines(r, h, preview).map((l) => l.replaceAll(rolloutRequestId(r.id, h.index), REQUEST));
    const undo = r.strategy.rollback ? planLines(r, h, preview, true).map((l) => l.replaceAll(rolloutUndoRequestId(r.id, h.index), `${REQUEST}-undo`)) : [];
    // This broker's own rendering of the host's facts, never the host's text (actions/describe.ts).
    const problem = def ? previewProblem(def, r.params, preview) : { reason: `no action ${r.action}` };
    const summary = problem ? [`(this host's preview cannot be shown: ${problem.reason}; the roll-out cannot be approved)`] : previewSummary(def!, r.params, preview.facts);
    const key = canonicalJson({ s: summary, runs, undo });
    const g = byKey.get(key) ?? { hosts: [], summary, runs, undo };
    g.hosts.push(h);
    byKey.set(key, g);
  }
  return [...byKey.values()].sort((a, b) => b.hosts.length - a.hosts.length);
}

/** Hosts by batch, in one pass. */
function byBatch(r: RolloutRecord): PlanHost[][] {
  const out: PlanHost[][] = Array.from({ length: batchCount(r) }, () => []);
  for (const h of r.hosts) out[h.batch]!.push(h);
  return out;
}

/** The approval text. `previews`: each host's, by index (RolloutService.plan). */
export function rolloutSummary(r: RolloutRecord, previews: readonly ActionPreview[]): string[] {
  const def = findAction(r.action);
  const s = r.strategy;
  const inBatch = byBatch(r);
  const batches = inBatch.length;
  const lines = [
    `Roll-out ${id(r.id)}: ${id(r.action)}${def ? ` - ${def.title}` : ""} on ${r.hosts.length} host(s) in ${batches} batch(es)`,
    `  target:    ${id(r.target)}`,
    `  params:    ${id(canonicalJson(r.params))}`,
    `  impact:    ${id(r.impact)}`,
    `  requester: ${id(r.requester)}`,
    `  expires:   ${iso(r.expiresAt)} (the approval is valid until then; a batch does not start after it)`,
    `  state:     ${id(r.state)}`,
    `  plan root: ${id(r.planRoot)} (each host runs only its own entry of this plan, once)`,
    "  batches, in order:",
  ];
  for (let b = 0; b < Math.min(batches, BATCH_LINES); b++) {
    const hosts = inBatch[b]!;
    lines.push(`    ${b + 1}.${b === 0 && s.canaries > 0 ? " (canary)" : ""} ${names(hosts)}`);
  }
  if (batches > BATCH_LINES) lines.push(`    … ${batches - BATCH_LINES} more batch(es), ${r.hosts.filter((h) => h.batch >= BATCH_LINES).length} host(s)`);
  const budget = failureBudget(s, r.hosts.length);
  lines.push(
    "  strategy:",
    `    canaries ${s.canaries}, then ${typeof s.batchSize === "number" ? s.batchSize : `${s.batchSize} of the hosts`} per batch, ${s.pauseSeconds} s pause between batches`,
    `    stops before the next batch when: ${s.canaries > 0 ? "a canary fails; " : ""}more than ${budget} host(s) failed (maxFailures ${JSON.stringify(s.maxFailures)}); cancel_rollout is called; the approval is about to expire`,
    "    a host fails when its action fails or one of its gates does not hold; hosts not reached are left untouched",
    ...(s.rollback
      ? [`    rollback: a host whose gate fails after its action succeeded is rolled back with ${id(def?.inverse ?? "(no inverse)")} (same parameters, its own pre-checks, the commands below; the host's state at that moment is not previewed), then gated again; it still counts as failed. The broker judges the gates: each host checks only that this plan's action ran there first, and rolls back at most once`]
      : []),
  );
  lines.push("  gates (run on each host after its action; all must hold):");
  if (s.gates.length === 0) lines.push("    (none: a host passes when its action succeeds)");
  for (const g of s.gates) lines.push(`    - ${id(g.diagnostic)} ${id(canonicalJson(g.input))}: ${g.when.map((c) => id(conditionText(c))).join(" and ")}`);
  lines.push('  what it touches and runs, from the hosts\' facts ("quoted": text a host reported, not verified; hosts that read the same are grouped):');
  for (const g of groups(r, previews)) {
    lines.push(`    ${g.hosts.length} host(s): ${names(g.hosts)}`);
    for (const line of g.summary) lines.push(`      ${printable(line)}`);
    for (const line of g.runs) lines.push(`      $ ${id(line)}`);
    if (g.undo.length > 0) lines.push("      if its gates fail, rollback:", ...g.undo.map((line) => `        $ ${id(line)}`));
  }
  if (lines.some((l) => l.includes(REQUEST))) lines.push(`  ${REQUEST} in a command is that host's request id: ${id(r.id)}-<its number in the plan, from 0>`);
  if (def) lines.push(`  refused on a host at execution if any of these changed there since: ${def.material.join(", ") || "(nothing)"}`);
  lines.push("  reason given by the requester (not verified; it changes nothing of the above):", ...reasonLines(r.reason));
  return lines;
}

/**
 * The structured view returned by the roll-out tools. `allHosts`: every host (the first 200, with
 * their results when `results` has them), or only those not SUCCEEDED/PENDING plus counts.
 */
export function rolloutView(r: RolloutRecord, allHosts = false, results?: ReadonlyMap<number, unknown>): Record<string, unknown> {
  const notable = r.hosts.filter((h) => allHosts || (h.state !== "SUCCEEDED" && h.state !== "PENDING" && h.state !== "UNTOUCHED"));
  return {
    id: r.id,
    state: r.state,
    action: r.action,
    params: r.params,
    impact: r.impact,
    target: r.target,
    requester: r.requester,
    createdAt: r.createdAt,
    expiresAt: iso(r.expiresAt),
    strategy: r.strategy,
    batches: byBatch(r).slice(0, 200).map((hosts) => hosts.map((h) => h.host)),
    counts: countStates(r),
    ...(r.execution && { execution: { startedAt: r.execution.startedAt, endedAt: r.execution.endedAt, batch: r.execution.batch + 1, failures: r.execution.failures, resumes: r.execution.resumes, ...(r.execution.halt && { halt: r.execution.halt }), ...(r.execution.cancelRequested && { cancelRequested: r.execution.cancelRequested }) } }),
    untouched: r.hosts.filter((h) => h.state === "UNTOUCHED").map((h) => h.host).slice(0, 1000),
    hosts: notable.slice(0, 200).map((h) => ({ host: h.host, batch: h.batch + 1, state: h.state, ...(h.run?.error && { error: h.run.error }), ...(h.run?.reconciled && { reconciled: h.run.reconciled }), ...(h.gates && { gates: h.gates }), ...(h.rollback && { rollback: h.rollback }), ...(allHosts && results?.has(h.index) && { result: results.get(h.index) }) })),
    ...(r.approval && { approval: { keyId: r.approval.keyId, approver: r.approval.approver, at: r.approval.at } }),
    ...(r.rejection && { rejection: r.rejection }),
    ...(r.cancellation && { cancellation: r.cancellation }),
  };
}
