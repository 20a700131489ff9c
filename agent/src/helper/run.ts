// The helper, start to end. Every gate refuses before anything runs, cheapest first:
//   invocation (file, environment, caller, argv: guard.ts) → native pty addon present →
//   request (≤ 64 KiB of JSON on stdin) → action known, parameters valid (own catalog copy) →
//   allowlist (name as given) → approver keys and host identity (root-owned: the operator
//   certificate's name and key) → the store of used approvals and its clock that never steps back
//   (nonce-store.ts, clock.ts) → approval (signature, host name and key, action, parameters, clock
//   skew, store floor, lifetime, expiry, key's max impact) → nonce unused (recorded, synced) →
//   preview recomputed (preview.ts): the signed preview's hash must match, its summary must be the
//   text its own facts render to (else ALTERED: the approver read something else), and its
//   material facts and the plan rendered from them must be those of this host now (else HOST_CHANGED) →
//   the host's ledger records the start (ledger.ts; also a journal line) → then the action:
//   pre-check → the plan's commands → post-check → the ledger records the end. One audit line on stderr.
// A ledger query ({"query":"ledger","requestId"}) answers with the host's record of one request; a
// preview query ({"query":"preview","action","params"}) with what the action would touch (read-only,
// after the same parameter and allowlist checks).
import { findAction } from "../../../proto/catalog/actions/index";
import { checkApproval, impactRank, type Impact } from "../../../proto/catalog/approval";
import { rolloutRequestId } from "../../../proto/catalog/rollout-plan";
import { createHash } from "node:crypto";
import type { ActionResult } from "../../../proto/catalog/define-action";
import { canonicalJson } from "../../../shared/canonical-json";
import { previewDigest } from "../../../proto/catalog/approval";
import { actionPreview, commandLine, PREVIEW_RUN, renderPlan, type ActionDef, type ActionPreview } from "../../../proto/catalog/define-action";
import { capOutput, checkAllowlisted, planOf, runnerOf } from "./actions";
import { changedFact, computePreview } from "./preview";
import { previewProblem } from "../../../proto/catalog/preview-summary";
import { describeIssues } from "../../../shared/zod-issues";
import { writeAudit, type AuditRecord } from "./audit";
import { HELPER_EXIT, HelperRefusal, REFUSAL_EXIT, type RefusalCode } from "./exit-codes";
import { decide, helperMode, type HelperMode, type Invocation } from "./guard";
import { wallClockSeconds } from "./clock";
import { openApprovalStore, useNonce } from "./nonce-store";
import { readRequestText } from "./read-stdin";
import { hostIdentity, loadAllowlist, loadApprovers, resolveSettings } from "./settings";
import { loadPty, spawnCount } from "./spawn";
import { journalLine } from "./journal-line";
import { peekLedger, readLedger, recordEnd, recordStart } from "./ledger";
import { approvalFromWire, HelperQuery, HelperRequest, nowUnixMicros, type HelperLine } from "./wire";

export interface HelperIo {
  invocation: Invocation;
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Directory of the running bundle (where a development pty.node may be). */
  bundleDir: string;
}

const MAX_OUTPUT_LINES = 5000;

/** How long a preview query may take (it only reads). */
const PREVIEW_MS = 20_000;

/** The catalog's definition, its runner and the parameters as it validates them (its own copy of the catalog). */
function validated(action: string, raw: Record<string, unknown>) {
  const def = findAction(action);
  const runner = runnerOf(action);
  if (!def || !runner) throw new HelperRefusal("BAD_REQUEST", `unknown action ${JSON.stringify(action)}`);
  const parsed = def.params.safeParse(raw);
  if (!parsed.success) throw new HelperRefusal("BAD_REQUEST", describeIssues(parsed.error, { top: "params", line: (i, where) => `invalid argument "${where}": ${i.message}` }));
  return { def, runner, params: parsed.data as Record<string, unknown> };
}

/**
 * A roll-out part that names a rollback (rollout-plan.ts): the plan's action and its inverse must be
 * each other's in this host's own catalog, and the plan's impact is the higher of the two (what
 * the approver signed). `undo`: this part runs the inverse; the forward part's definition is the
 * one whose preview was approved.
 */
function rollbackOf(def: ActionDef, r: { rollbackAction: string; undo: boolean; forwardAction: string }): { impact: Impact; previewDef: ActionDef } {
  if (r.rollbackAction === "") return { impact: def.impact, previewDef: def };
  const forward = r.undo ? findAction(r.forwardAction) : def;
  const inverse = r.undo ? def : findAction(r.rollbackAction);
  if (!forward || !inverse || forward.inverse !== inverse.name) {
    throw new HelperRefusal("OTHER_ACTION", `${r.rollbackAction} is not the inverse of ${r.undo ? r.forwardAction : def.name} in this host's catalog; nothing ran`);
  }
  const impact = impactRank(inverse.impact) > impactRank(forward.impact) ? inverse.impact : forward.impact;
  return { impact, previewDef: forward };
}

/** An undo part's own nonce, derived from the plan's (which the forward part used), so it too runs once. */
function undoNonce(nonce: string): string {
  return createHash("sha256").update(`${nonce}:undo`).digest("hex").slice(0, 32);
}

/** The approved preview from the request: its hash must be the signed one, its shape the catalog's. */
function approvedPreview(def: ActionDef, json: string, signedHash: string): ActionPreview {
  if (previewDigest(json) !== signedHash) throw new HelperRefusal("ALTERED", "the impact preview sent with the approval is not the one its signature covers (preview_hash)");
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new HelperRefusal("MALFORMED", "preview_json is not JSON");
  }
  const p = actionPreview.safeParse(value);
  if (!p.success || p.data.action !== def.name) throw new HelperRefusal("MALFORMED", `preview_json is not a preview of ${def.name}`);
  return p.data;
}

export async function runHelper(io: HelperIo): Promise<number> {
  const started = performance.now();
  const send = (line: HelperLine) => io.stdout.write(`${JSON.stringify(line)}\n`);
  const audit: Partial<AuditRecord> & { mode: HelperMode } = { mode: helperMode(io.invocation.env), sudoUser: io.invocation.env.SUDO_USER };
  const finish = (record: Pick<AuditRecord, "event" | "exitCode"> & Partial<AuditRecord>) => {
    writeAudit(io.stderr, { ...audit, ...record, spawns: spawnCount(), durationMs: Math.round(performance.now() - started) });
    return record.exitCode;
  };
  const refuse = (code: RefusalCode, reason: string) => {
    const exitCode = REFUSAL_EXIT[code];
    send({ type: "refused", code, exitCode, reason, spawns: spawnCount() });
    return finish({ event: "refused", code, exitCode, reason });
  };

  const gate = decide(io.invocation);
  if (!("ok" in gate)) return refuse(gate.exitCode === HELPER_EXIT.usage ? "USAGE" : "ENVIRONMENT", gate.message);
  const mode = gate.mode;
  audit.mode = mode;
  if (mode === "direct") {
    io.stderr.write("hostward-action: DIRECT MODE (local development fleet): not run through sudo, configuration from HOSTWARD_* variables; never use this on a real host\n");
  }

  try {
    loadPty(mode, io.bundleDir);
    const text = await readRequestText(io.stdin);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new HelperRefusal("BAD_REQUEST", "the request on stdin is not JSON");
    }
    if (typeof raw === "object" && raw !== null && "query" in raw) {
      const q = HelperQuery.safeParse(raw);
      if (!q.success) throw new HelperRefusal("BAD_REQUEST", `the query is invalid: ${describeIssues(q.error)}`);
      const settings = resolveSettings(mode, io.invocation.env, io.invocation.euid);
      if (q.data.query === "preview") {
        const { def, params } = validated(q.data.action, q.data.params);
        audit.action = def.name;
        audit.params = params;
        const allowlist = loadAllowlist(settings);
        checkAllowlisted(def, params, allowlist);
        const preview = await computePreview(def, params, { allowlist, deadline: Date.now() + PREVIEW_MS, owners: settings.owners });
        renderPlan(def, params, preview.facts, PREVIEW_RUN);
        send({ type: "preview", preview, approvalsRequired: allowlist.approvals.required[def.impact] });
        return finish({ event: "previewed", exitCode: HELPER_EXIT.succeeded });
      }
      audit.requestId = q.data.requestId;
      const answer = readLedger(settings.stateDir, settings.owners, q.data.requestId);
      send({ type: "ledger", entry: answer.entry, ...(answer.running !== undefined && { running: answer.running }), ...(answer.unreadable !== undefined && { unreadable: answer.unreadable }) });
      return finish({ event: "queried", exitCode: HELPER_EXIT.succeeded });
    }
    const req = HelperRequest.safeParse(raw);
    if (!req.success) throw new HelperRefusal("BAD_REQUEST", `the request is invalid: ${describeIssues(req.error)}`);
    const { def, params, runner } = validated(req.data.action, req.data.params);
    audit.action = def.name;
    audit.params = params;

    const settings = resolveSettings(mode, io.invocation.env, io.invocation.euid);
    const allowlist = loadAllowlist(settings);
    checkAllowlisted(def, params, allowlist);

    if (!req.data.approval) throw new HelperRefusal("NO_APPROVAL", `${def.name} needs an approval signed by an approver key; none was given`);
    const approvers = loadApprovers(settings);
    if (approvers.warnings.length > 0) audit.warnings = approvers.warnings;
    const host = hostIdentity(settings);
    const clock = openApprovalStore(settings.stateDir, settings.owners, wallClockSeconds(mode, io.invocation.env));
    if (clock.created) (audit.warnings ??= []).push(`started a new record of used approvals in ${settings.stateDir}: approvals signed before now are refused`);
    if (clock.behindBy > 0) (audit.warnings ??= []).push(`the wall clock is ${clock.behindBy} s behind the latest time this helper has seen; approvals are judged by that later time`);
    const approval = approvalFromWire(req.data.approval);
    audit.requestId = approval.requestId;
    audit.keyId = approval.keyId;
    const { maxClockSkewSeconds: maxSkewSeconds, maxLifetimeSeconds } = allowlist.approvals;
    const membership = req.data.approval.rollout;
    const undo = membership?.undo === true;
    const { impact, previewDef } = membership ? rollbackOf(def, membership) : { impact: def.impact, previewDef: def };
    const verdict = checkApproval(approval, {
      host: host.name,
      hostKey: host.key,
      action: def.name,
      params,
      impact,
      clock: { now: clock.now, maxSkewSeconds, maxLifetimeSeconds, notBefore: clock.floor },
      approvers: approvers.keys,
      required: allowlist.approvals.required[impact],
    });
    if (!verdict.ok) {
      const stepped = clock.behindBy > 0 ? ` (this host's wall clock reads ${new Date(clock.wall * 1000).toISOString()}, ${clock.behindBy} s behind the latest time this helper has seen: approvals are judged by that later time, so a clock stepped back cannot revive one)` : "";
      throw new HelperRefusal(verdict.code, `${verdict.reason}${verdict.code === "EXPIRED" || verdict.code === "LIFETIME" ? stepped : ""}`);
    }
    audit.requester = verdict.statement.requester;
    if (verdict.keys.length > 1) audit.cosigners = verdict.keys.slice(1).map((k) => k.keyId);
    // The preview the approver read: its hash is signed (checked with the statement above).
    const approved = approvedPreview(previewDef, approval.previewJson, verdict.statement.previewHash);
    if (undo) {
      // A rollback undoes what this plan did here: the forward part must have run and succeeded.
      const forwardId = rolloutRequestId(membership!.rolloutId, membership!.index);
      const fwd = peekLedger(settings.stateDir, forwardId);
      const e = fwd.entry;
      if (!e || e.state !== "ENDED" || e.verdict !== "SUCCEEDED") {
        const seen = fwd.unreadable ? `its record cannot be read (${fwd.unreadable})` : !e ? "it has no record here" : e.state === "ENDED" ? `it ended ${e.verdict ?? "without a verdict"}` : `it is ${e.state}`;
        throw new HelperRefusal("HOST_CHANGED", `nothing to roll back: the plan's ${previewDef.name} (${forwardId}) has not succeeded on this host (${seen}); nothing ran`);
      }
      // …and it is THIS plan's part: same nonce (one per signed plan), action and parameters — not
      // another request that happens to carry the same id.
      if (e.nonce !== verdict.statement.nonce || e.action !== previewDef.name || canonicalJson(e.params) !== canonicalJson(params)) {
        throw new HelperRefusal("HOST_CHANGED", `nothing to roll back: this host's record of ${forwardId} is not this plan's ${previewDef.name} (${e.action} ${canonicalJson(e.params).slice(0, 200)}, another approval); nothing ran`);
      }
    }
    const nonce = undo ? undoNonce(verdict.statement.nonce) : verdict.statement.nonce;
    useNonce(settings.stateDir, { nonce, notAfter: verdict.statement.notAfter, requestId: verdict.statement.id }, { now: clock.now, maxSkewSeconds });
    // The host now, against what the approver read: a material fact, or the plan, that differs refuses.
    const deadline = Date.now() + def.timeoutMs;
    const current = await computePreview(def, params, { allowlist, deadline, owners: settings.owners });
    // What the approver read is the summary: it must be exactly the text its own facts render to
    // (this helper's catalog), so the facts compared below stand for what the human read. (After
    // the host's own preview, which refuses first what this host would never preview.)
    const problem = previewProblem(previewDef, params, approved);
    if (problem?.kind === "facts") throw new HelperRefusal("MALFORMED", `preview_json is not a valid preview of ${previewDef.name}: ${problem.reason}; nothing ran`);
    if (problem) throw new HelperRefusal("ALTERED", `the impact preview that was approved is not what its facts say: ${problem.reason}; nothing ran`);
    // A rollback's facts were never previewed (the host's state after the forward action): its
    // material facts are not compared, but its commands must be those the approver read (rendered
    // from the forward preview's facts), and its own pre-checks run.
    const changed = undo ? null : changedFact(def, approved.facts, current.facts);
    if (changed !== null) {
      throw new HelperRefusal("HOST_CHANGED", `the host changed since the preview that was approved: ${changed} was ${canonicalJson(approved.facts[changed] ?? null).slice(0, 300)}, is now ${canonicalJson(current.facts[changed] ?? null).slice(0, 300)}; nothing ran: propose the action again`);
    }
    // The request id (signed) names each transient step's unit in both, as the approver read it.
    const run = { requestId: verdict.statement.id };
    const plan = renderPlan(def, params, current.facts, run);
    let approvedLines: string[];
    try {
      approvedLines = renderPlan(def, params, approved.facts, run).map(commandLine);
    } catch (err) {
      throw new HelperRefusal("MALFORMED", `the plan of ${def.name} cannot be rendered from the approved preview: ${(err as Error).message}; nothing ran`, { cause: err });
    }
    const nowLines = plan.map(commandLine);
    const differs = nowLines.findIndex((l, i) => l !== approvedLines[i]);
    if (differs >= 0 || nowLines.length !== approvedLines.length) {
      throw new HelperRefusal("HOST_CHANGED", `the host changed since the preview that was approved: plan step ${differs >= 0 ? differs + 1 : nowLines.length + 1} would be ${JSON.stringify(nowLines[differs] ?? "(none)")}, the approver read ${JSON.stringify(approvedLines[differs >= 0 ? differs : nowLines.length] ?? "(none)")}; nothing ran: propose the action again`);
    }
    // On the host's own record before anything runs (refused, with nothing run, if it cannot be).
    const started = recordStart(settings.stateDir, settings.owners, {
      requestId: verdict.statement.id,
      action: def.name,
      params,
      requester: verdict.statement.requester,
      keyId: approval.keyId,
      nonce: verdict.statement.nonce,
    });
    const journal = async (record: Record<string, unknown>) => {
      if (mode === "sudo") await journalLine(JSON.stringify({ audit: "hostward-action", time: new Date().toISOString(), ...record }));
    };
    await journal({ event: "started", requestId: started.requestId, action: def.name, params, requester: started.requester, keyId: started.keyId, helperPid: process.pid });

    // Approved and recorded: from here on the action runs and ends with a result, never a refusal.
    const lines: string[] = [];
    const emit = (line: string, at: number = nowUnixMicros()) => {
      if (lines.length >= MAX_OUTPUT_LINES) return;
      lines.push(line);
      send({ type: "output", line, at });
    };
    // Told to stop while it runs (the operator agent's SIGTERM past the action's timeout, sudo
    // relays it): the running step is ended, a transient unit stopped (plan.run), and the end is
    // still recorded, instead of dying with the ledger open.
    const abort = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => {
      if (!abort.signal.aborted) emit(`the helper received ${signal}: ending the running step`);
      abort.abort();
    };
    const signals: NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP"];
    for (const s of signals) process.on(s, onSignal);
    let result: Omit<ActionResult, "output">;
    try {
      result = await runner(params, { allowlist, emit, deadline, facts: current.facts, plan: planOf(plan, { emit, deadline, signal: abort.signal }) });
    } catch (err) {
      // Started and on the ledger: whatever the runner threw (a refusal included), it ends as a
      // FAILED result, recorded — never a refusal, which would say that nothing ran.
      const what = err instanceof HelperRefusal ? `the action was refused after it started (${err.code}): ${err.message}` : `the helper failed: ${(err as Error).message}`;
      result = { before: null, after: null, verdict: "FAILED", reason: what.slice(0, 4000) };
    } finally {
      for (const s of signals) process.off(s, onSignal);
    }
    const full: ActionResult = { ...result, output: capOutput(lines) };
    recordEnd(settings.stateDir, started, { verdict: full.verdict, ...(full.reason !== undefined && { reason: full.reason }), before: full.before, after: full.after, output: lines });
    await journal({ event: "ended", requestId: started.requestId, action: def.name, verdict: full.verdict, ...(full.reason !== undefined && { reason: full.reason }) });
    send({ type: "result", spawns: spawnCount(), ...full });
    const exitCode = full.verdict === "SUCCEEDED" ? HELPER_EXIT.succeeded : HELPER_EXIT.failed;
    return finish({ event: "executed", exitCode, verdict: full.verdict, ...(full.reason !== undefined && { reason: full.reason }) });
  } catch (err) {
    if (err instanceof HelperRefusal) return refuse(err.code, err.message);
    return refuse("INTERNAL", `internal error: ${(err as Error).message}`);
  }
}
