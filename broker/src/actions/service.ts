// The approval workflow's state changes, each one audited in the hash chain BEFORE it is persisted:
// if the audit record cannot be written, the change does not happen (an approval is not recorded,
// an execution does not start). Shared by the MCP tools (`hostward serve`) and the CLI
// (`hostward approve|reject|actions`), which may run in different processes at the same time; the
// store's per-request lock serialises them.
import { canonicalJson, newNonce, previewDigest, STATEMENT_VERSION, type ApprovalStatement, type Impact } from "../../../proto/catalog/approval";
import type { ActionStateStore, AuditStore, TransitionResult } from "../state/store";
import type { AuditRecordInput, CallerIdentity } from "../audit/records";
import type { Signer } from "../approval/signer";
import { signStatement } from "../approval/signer";
import { findAction } from "../../../proto/catalog/actions/index";
import { actionResult, type ActionPreview } from "../../../proto/catalog/define-action";
import { previewProblem } from "../../../proto/catalog/preview-summary";
import { RESULT_LOCK_WAIT_MS } from "../audit/log";
import { ownerGone, processOwner } from "../rollouts/owner";
import type { HostRecord } from "./host-record";
import { isExpired, MAX_STAMPED_LINES, needsReconciliation, newActionId, type ActionRequest, type ActionState, type DecisionVia } from "./request";

export interface ProposalInput {
  host: string;
  hostIdentity: string;
  /** The host's operator certificate key, as the broker saw it in the TLS handshake. */
  hostKey: string;
  /** The host's impact preview (actions/preview.ts), shown to the approver and signed by hash. */
  preview: ActionPreview;
  action: string;
  params: Record<string, unknown>;
  impact: Impact;
  reason: string;
  requester: string;
  caller?: CallerIdentity;
  callId?: string;
  /** Distinct approver keys the host said it requires for this impact (its preview answer); absent: unknown. */
  approvalsRequired?: number;
}

export type Outcome = { ok: true; request: ActionRequest } | { ok: false; reason: string; request?: ActionRequest };

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Summary fields every action record carries. */
/** How long past an action's own timeout a RUNNING request may stay so before it is orphaned. */
const ORPHAN_GRACE_MS = 5 * 60_000;

function about(r: ActionRequest): Record<string, unknown> {
  return { actionId: r.id, host: r.host, action: r.action, params: r.params, impact: r.impact, requester: r.requester };
}

/** The fields an approval signs; the first that differs between two copies of a request, or null. */
function signedFieldsChanged(a: ActionRequest, b: ActionRequest): string | null {
  const fields = ["id", "host", "hostIdentity", "hostKey", "action", "impact", "requester", "expiresAt"] as const;
  for (const f of fields) if (a[f] !== b[f]) return f;
  if (canonicalJson(a.params) !== canonicalJson(b.params)) return "params";
  if (canonicalJson(a.preview ?? null) !== canonicalJson(b.preview ?? null)) return "preview";
  return null;
}

export class ActionService {
  constructor(
    readonly store: ActionStateStore,
    private readonly audit: AuditStore,
    /** Read on every proposal, so a reloaded broker.yaml applies to the next one. */
    private readonly ttlSeconds: () => number,
  ) {}

  #auditNow(record: AuditRecordInput): Promise<void> {
    return this.audit.append(record);
  }

  /** A record of something that already happened (an action's result, a reconciliation): waits longer. */
  #auditAfterTheFact(record: AuditRecordInput): Promise<void> {
    return this.audit.appendWaiting(RESULT_LOCK_WAIT_MS, record);
  }

  /** A refusal of an action operation, audited (best effort: a refusal changes nothing). */
  async refuse(record: Omit<AuditRecordInput, "event">, reason: string, request?: ActionRequest): Promise<{ ok: false; reason: string; request?: ActionRequest }> {
    try {
      await this.#auditNow({ event: "action.refused", ...record, ...(request ? about(request) : {}), reason });
    } catch {
      // The refusal stands whether or not it could be recorded.
    }
    return request ? { ok: false, reason, request } : { ok: false, reason };
  }

  /**
   * Records a new PENDING request (audited first; nothing is stored if the record cannot be written).
   * Throws, recording nothing, for an action this catalog lacks or a preview whose summary is not
   * what its facts say (actions/preview.ts refuses such a host reply before this).
   */
  async propose(input: ProposalInput): Promise<ActionRequest> {
    const def = findAction(input.action);
    if (!def) throw new Error(`this broker's catalog has no action ${input.action}`);
    const problem = previewProblem(def, input.params, input.preview);
    if (problem) throw new Error(`the host's impact preview is refused: ${problem.reason}`);
    const created = new Date();
    const request: ActionRequest = {
      v: 1,
      id: newActionId(),
      host: input.host,
      hostIdentity: input.hostIdentity,
      hostKey: input.hostKey,
      action: input.action,
      params: input.params,
      impact: input.impact,
      preview: input.preview,
      ...(input.approvalsRequired !== undefined && { approvalsRequired: input.approvalsRequired }),
      reason: input.reason,
      requester: input.requester,
      state: "PENDING",
      createdAt: created.toISOString(),
      updatedAt: created.toISOString(),
      expiresAt: Math.floor(created.getTime() / 1000) + this.ttlSeconds(),
      history: [{ state: "PENDING", at: created.toISOString(), by: input.requester }],
    };
    await this.#auditNow({
      event: "action.proposed",
      callId: input.callId,
      caller: input.caller,
      ...about(request),
      reason: input.reason,
      expiresAt: new Date(request.expiresAt * 1000).toISOString(),
      previewHash: previewDigest(canonicalJson(input.preview)),
      preview: input.preview.summary,
    });
    return this.store.create(request);
  }

  /**
   * The request as it stands now: a due PENDING/APPROVED request becomes EXPIRED, and a RUNNING one
   * whose broker is gone becomes FAILED (see #isOrphaned).
   */
  async get(id: string): Promise<ActionRequest | undefined> {
    const r = await this.store.get(id);
    return r && this.#settle(r, nowSeconds());
  }

  async list(filter: { state?: ActionState; host?: string } = {}): Promise<{ requests: ActionRequest[]; problems: string[] }> {
    const { requests, problems } = await this.store.list();
    const now = nowSeconds();
    const fresh: ActionRequest[] = [];
    for (const r of requests) fresh.push(await this.#settle(r, now));
    return { requests: fresh.filter((r) => (!filter.state || r.state === filter.state) && (!filter.host || r.host === filter.host)), problems };
  }

  async #settle(r: ActionRequest, now: number): Promise<ActionRequest> {
    if (isExpired(r, now)) return this.#expire(r);
    if (this.#isOrphaned(r)) return this.#orphan(r);
    return r;
  }

  /**
   * A RUNNING request can only be finished by the broker process that started it. If that process
   * is gone (it crashed mid-action), or the action has been running far longer than its timeout,
   * nothing will ever finish it: it becomes FAILED with an unknown outcome, so nobody waits on it.
   * A reused pid keeps it RUNNING until the time bound: the safe direction.
   */
  #isOrphaned(r: ActionRequest): boolean {
    if (r.state !== "RUNNING" || !r.execution) return false;
    const limitMs = (findAction(r.action)?.timeoutMs ?? 600_000) + ORPHAN_GRACE_MS;
    if (Date.now() - Date.parse(r.execution.startedAt) > limitMs) return true;
    // Judged by what proves it here (same boot, same PID namespace, that pid free or another
    // process); a broker on another machine sharing the store is waited for until the time bound.
    if (r.execution.owner) return ownerGone(r.execution.owner, r.execution.pid);
    if (r.execution.pid === process.pid) return false;
    try {
      process.kill(r.execution.pid, 0);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "ESRCH";
    }
  }

  async #orphan(r: ActionRequest): Promise<ActionRequest> {
    const message = `the broker that was running it (pid ${r.execution?.pid}) stopped before the result came back; whether the action ran on ${r.host} is unknown: check the host (journalctl -u hostward-operator)`;
    let result: TransitionResult;
    try {
      result = await this.store.transition(r.id, "FAILED", {
        from: ["RUNNING"],
        by: "broker (recovery)",
        patch: (cur) => ({ execution: { ...cur.execution!, endedAt: new Date().toISOString(), verdict: "FAILED" as const, error: { code: "OUTCOME_UNKNOWN", message } } }),
        before: (next) => this.#auditNow({ event: "action.result", callId: next.execution?.callId, ...about(next), verdict: "FAILED", error: { code: "OUTCOME_UNKNOWN", message } }),
      });
    } catch {
      // No audit record, no change: it stays RUNNING and is settled on a later read.
      return r;
    }
    return result.ok ? result.request : (result.request ?? r);
  }

  async #expire(r: ActionRequest): Promise<ActionRequest> {
    let result: TransitionResult;
    try {
      result = await this.#expireTransition(r);
    } catch {
      // Busy in another process: it is expired whatever this read says; the next read retries.
      return { ...r, state: "EXPIRED" };
    }
    if (result.ok) return result.request;
    // Someone else moved it first (approved/expired in another process): show what is there now.
    return result.request ?? { ...r, state: "EXPIRED" };
  }

  #expireTransition(r: ActionRequest): Promise<TransitionResult> {
    return this.store.transition(r.id, "EXPIRED", {
      from: ["PENDING", "APPROVED"],
      by: "broker (expiry)",
      before: async (next) => {
        try {
          await this.#auditNow({ event: "action.expired", ...about(next), expiredAt: new Date(r.expiresAt * 1000).toISOString(), was: r.state });
        } catch {
          // Expiry is the safe direction: the request is treated as expired whether or not the
          // record could be written (it is retried on the next read until it is).
        }
      },
    });
  }

  /** The statement an approver signs for this request (a fresh nonce each time, signed now). */
  statementFor(r: ActionRequest & { hostKey: string; preview: ActionPreview }): ApprovalStatement {
    return {
      v: STATEMENT_VERSION,
      id: r.id,
      host: r.hostIdentity,
      hostKey: r.hostKey,
      action: r.action,
      params: r.params,
      requester: r.requester,
      impact: r.impact,
      issuedAt: nowSeconds(),
      notAfter: r.expiresAt,
      nonce: newNonce(),
      previewHash: previewDigest(canonicalJson(r.preview)),
    };
  }

  /** Signs the request's statement with `signer` and records APPROVED (audited first). */
  /**
   * `shown`: the request exactly as the approver was shown it (`hostward approve`, the dialog). The
   * statement is built from it, and the approval is refused if the stored request's signed fields
   * differ from it by the time it is recorded: a human signs what they read, never a re-read copy.
   */
  async approve(id: string, signer: Signer, by: { via: DecisionVia; approver: string; callId?: string }, shown?: ActionRequest): Promise<Outcome> {
    const current = await this.get(id);
    if (!current) return this.refuse({ op: "approve", actionId: id, via: by.via }, `no action request ${id}`);
    if (current.state !== "PENDING") return this.refuse({ op: "approve", via: by.via }, `action ${id} is ${current.state}; only a PENDING request can be approved`, current);
    const base = shown ?? current;
    const changed = signedFieldsChanged(base, current);
    if (changed) return this.refuse({ op: "approve", via: by.via }, `action ${id} changed after it was shown (${changed}); nothing was signed: review it again`, current);
    if (!base.hostKey) return this.refuse({ op: "approve", via: by.via }, `action ${id} was proposed without the host's key (before approvals bound it); propose it again`, current);
    if (!base.preview) return this.refuse({ op: "approve", via: by.via }, `action ${id} was proposed without the host's impact preview (before approvals signed it); propose it again`, current);
    // The approver read the summary the catalog renders from the facts (describe.ts): a stored
    // summary that says anything else would be signed (by hash) for text nobody was shown.
    const def = findAction(base.action);
    const problem = def ? previewProblem(def, base.params, base.preview) : { reason: `this broker's catalog has no action ${base.action}` };
    if (problem) return this.refuse({ op: "approve", via: by.via }, `action ${id} cannot be approved: the host's impact preview is refused (${problem.reason}); nothing was signed: propose it again`, current);
    const statement = this.statementFor({ ...base, hostKey: base.hostKey, preview: base.preview });
    const { keyId, signature } = await signStatement(statement, signer);
    const at = new Date().toISOString();
    const result = await this.store.transition(id, "APPROVED", {
      from: ["PENDING"],
      by: `${by.approver} (${by.via})`,
      patch: () => ({ approval: { statement, keyId, signature, via: by.via, approver: by.approver, at } }),
      before: async (next) => {
        if (nowSeconds() >= next.expiresAt) throw new Error(`action ${id} expired while it was being signed`);
        const moved = signedFieldsChanged(base, next);
        if (moved) throw new Error(`action ${id} changed while it was being signed (${moved})`);
        await this.#auditNow({ event: "action.approved", callId: by.callId, ...about(next), via: by.via, approver: by.approver, keyId, keySource: signer.source, nonce: statement.nonce, notAfter: new Date(statement.notAfter * 1000).toISOString() });
      },
    });
    return result;
  }

  /**
   * Adds `signer`'s signature to an APPROVED request: over the very statement already signed (a
   * host may require several distinct approver keys for an impact: actions.yaml approvals.required).
   * A key signs once; the request must still be as `shown` and not expired.
   */
  async cosign(id: string, signer: Signer, by: { via: DecisionVia; approver: string; callId?: string }, shown?: ActionRequest): Promise<Outcome> {
    const current = await this.get(id);
    if (!current) return this.refuse({ op: "cosign", actionId: id, via: by.via }, `no action request ${id}`);
    if (current.state !== "APPROVED" || !current.approval) return this.refuse({ op: "cosign", via: by.via }, `action ${id} is ${current.state}; only an APPROVED request takes another signature`, current);
    const changed = shown && signedFieldsChanged(shown, current);
    if (changed) return this.refuse({ op: "cosign", via: by.via }, `action ${id} changed after it was shown (${changed}); nothing was signed: review it again`, current);
    const { statement } = current.approval;
    const { keyId, signature } = await signStatement(statement, signer);
    const signedBy = [current.approval.keyId, ...(current.approval.cosignatures ?? []).map((c) => c.keyId)];
    if (signedBy.includes(keyId)) return this.refuse({ op: "cosign", via: by.via }, `action ${id} is already signed by the key ${keyId}: each approver key signs once; another approver adds the next signature`, current);
    if (signedBy.length >= 9) return this.refuse({ op: "cosign", via: by.via }, `action ${id} already carries ${signedBy.length} signatures, the most an approval can`, current);
    const at = new Date().toISOString();
    return this.store.transition(id, "APPROVED", {
      from: ["APPROVED"],
      by: `${by.approver} (${by.via}, signature ${signedBy.length + 1})`,
      patch: (r) => ({ approval: { ...r.approval!, cosignatures: [...(r.approval!.cosignatures ?? []), { keyId, signature, via: by.via, approver: by.approver, at }] } }),
      guard: (r) => (canonicalJson(r.approval?.statement ?? null) !== canonicalJson(statement) ? `action ${id}'s approval changed while it was being signed` : nowSeconds() >= r.expiresAt ? `action ${id} expired while it was being signed` : undefined),
      before: (next) => this.#auditNow({ event: "action.cosigned", callId: by.callId, ...about(next), via: by.via, approver: by.approver, keyId, keySource: signer.source, signatures: signedBy.length + 1 }),
    });
  }

  async reject(id: string, reason: string, by: { via: DecisionVia; who: string; callId?: string }): Promise<TransitionResult> {
    const current = await this.get(id);
    if (current && current.state !== "PENDING") return this.refuse({ op: "reject", via: by.via }, `action ${id} is ${current.state}; only a PENDING request can be rejected`, current);
    return this.store.transition(id, "REJECTED", {
      from: ["PENDING"],
      by: `${by.who} (${by.via})`,
      patch: () => ({ rejection: { reason, by: by.who, via: by.via, at: new Date().toISOString() } }),
      before: (next) => this.#auditNow({ event: "action.rejected", callId: by.callId, ...about(next), via: by.via, by: by.who, reason }),
    });
  }

  async cancel(id: string, reason: string, by: { who: string; caller?: CallerIdentity; callId?: string }): Promise<TransitionResult> {
    const current = await this.get(id);
    if (current && current.state !== "PENDING" && current.state !== "APPROVED") {
      return this.refuse({ op: "cancel", callId: by.callId, caller: by.caller }, `action ${id} is ${current.state}; only a PENDING or APPROVED request can be cancelled`, current);
    }
    return this.store.transition(id, "CANCELLED", {
      from: ["PENDING", "APPROVED"],
      by: by.who,
      patch: () => ({ cancellation: { reason, by: by.who, at: new Date().toISOString() } }),
      before: (next) => this.#auditNow({ event: "action.cancelled", callId: by.callId, caller: by.caller, ...about(next), reason }),
    });
  }

  /** APPROVED → RUNNING, once; the execute record is written and fsync'd first or nothing starts. */
  async startExecution(id: string, callId: string, caller: CallerIdentity): Promise<TransitionResult> {
    const current = await this.get(id);
    if (!current) return { ok: false, reason: `no action request ${id}` };
    if (current.state !== "APPROVED") return { ok: false, reason: `action ${id} is ${current.state}; only an APPROVED request can be executed`, request: current };
    return this.store.transition(id, "RUNNING", {
      from: ["APPROVED"],
      by: "broker (execute_action)",
      patch: () => ({ execution: { startedAt: new Date().toISOString(), pid: process.pid, owner: processOwner(), callId } }),
      before: async (next) => {
        if (nowSeconds() > next.expiresAt) throw new Error(`action ${id}'s approval expired`);
        await this.#auditNow({ event: "action.execute", callId, caller, ...about(next), keyId: next.approval?.keyId, nonce: next.approval?.statement.nonce });
      },
    });
  }

  /** RUNNING → SUCCEEDED | FAILED with the outcome; returns whether the result record was written. */
  async finishExecution(
    id: string,
    outcome: { verdict: "SUCCEEDED" | "FAILED"; result?: unknown; error?: { code: string; message: string }; durationMs: number; outputAtUnixMicros?: number[] },
  ): Promise<{ request?: ActionRequest; audited: boolean }> {
    let audited = true;
    const result = await this.store.transition(id, outcome.verdict, {
      from: ["RUNNING"],
      by: "broker (execute_action)",
      patch: (r) => ({
        execution: {
          ...r.execution!,
          endedAt: new Date().toISOString(),
          durationMs: outcome.durationMs,
          verdict: outcome.verdict,
          ...(outcome.result !== undefined && { result: outcome.result }),
          ...(outcome.error && { error: { code: outcome.error.code.slice(0, 64), message: outcome.error.message.slice(0, 4000) } }),
          ...(outcome.outputAtUnixMicros && outcome.outputAtUnixMicros.length > 0 && { outputAtUnixMicros: outcome.outputAtUnixMicros.slice(0, MAX_STAMPED_LINES) }),
        },
      }),
      before: async (next) => {
        try {
          const res = outcome.result as { verdict?: unknown; reason?: unknown } | undefined;
          await this.#auditAfterTheFact({
            event: "action.result",
            callId: next.execution?.callId,
            ...about(next),
            verdict: outcome.verdict,
            durationMs: outcome.durationMs,
            ...(res?.reason !== undefined && { reason: res.reason }),
            ...(outcome.error && { error: outcome.error }),
          });
        } catch {
          // The action has already run: its outcome is stored even if the record could not be written.
          audited = false;
        }
      },
    });
    return { request: result.ok ? result.request : result.request, audited };
  }

  /**
   * Settles a request whose outcome this broker lost (needsReconciliation) from its host's own
   * record: never started (nothing ran), started but interrupted (outcome unknown, but it did
   * start), or ended with the host's verdict. Audited (action.reconciled) before it is stored. A
   * record of a helper still running changes nothing yet.
   */
  async reconcile(id: string, record: HostRecord): Promise<{ request?: ActionRequest; changed: boolean; note?: string }> {
    const current = await this.store.get(id);
    if (!current || !needsReconciliation(current)) return { ...(current && { request: current }), changed: false };
    const e = record.entry;
    const unchanged = (note: string) => ({ request: current, changed: false, note });
    if (record.unreadable) return unchanged(`${current.host}'s record of it cannot be read: ${record.unreadable}`);
    // An old agent, or a host that answers without voiding: "no record" alone could still change.
    if (!e) return unchanged(`${current.host} has no record of it yet`);
    if (e.state === "STARTED" && record.running) return unchanged(`still running on ${current.host} (started ${e.startedAt})`);
    // The host's ledger is shared by every broker that reaches it: settle only from the record of
    // this request's own approval.
    const statement = current.approval?.statement;
    if (e.state !== "VOIDED" && (e.action !== current.action || (statement && e.nonce !== undefined && e.nonce !== statement.nonce))) {
      return unchanged(`${current.host}'s record for ${id} is of another approval (${e.action}); not settled from it`);
    }
    let to: "SUCCEEDED" | "FAILED";
    let hostSaid: "NOT_STARTED" | "INTERRUPTED" | "ENDED";
    let error: { code: string; message: string } | undefined;
    let result: unknown;
    if (e.state === "VOIDED") {
      to = "FAILED";
      hostSaid = "NOT_STARTED";
      error = { code: "NOT_STARTED", message: `${current.host} has no record of starting this request: its helper never started it, so nothing ran there (and the host now refuses it for good)` };
    } else if (e.state === "STARTED" || !e.verdict) {
      to = "FAILED";
      hostSaid = "INTERRUPTED";
      error = {
        code: "INTERRUPTED",
        message: `started on ${current.host} at ${e.startedAt}, but the host's helper stopped before it finished (the operator agent was killed or restarted?): it did start; its outcome is unknown — check the target's state on the host`,
      };
    } else {
      to = e.verdict;
      hostSaid = "ENDED";
      const checked = actionResult.safeParse({ before: e.before ?? null, after: e.after ?? null, verdict: e.verdict, output: (e.output ?? []).join("\n").slice(0, 64 * 1024), ...(e.reason !== undefined && { reason: e.reason }) });
      if (checked.success) result = checked.data;
      if (to === "FAILED") error = { code: "ACTION_FAILED", message: (e.reason ?? "the action failed on the host").slice(0, 4000) };
    }
    const at = new Date().toISOString();
    const t = await this.store.transition(id, to, {
      from: ["FAILED"],
      reconcile: true,
      // Another broker may have settled it since it was read: once only, decided under the lock.
      guard: (cur) => (needsReconciliation(cur) ? undefined : `action ${id} was settled already`),
      by: "broker (reconciliation with the host's record)",
      patch: (cur) => {
        const { error: previousError, ...rest } = cur.execution!;
        return {
          execution: {
            ...rest,
            verdict: to,
            ...(e.endedAt && { endedAt: e.endedAt }),
            ...(result !== undefined && { result }),
            ...(error && { error }),
            reconciliation: { at, host: hostSaid, ...(e.startedAt && { hostStartedAt: e.startedAt }), ...(e.endedAt && { hostEndedAt: e.endedAt }), previous: { state: cur.state, ...(previousError && { error: previousError }) } },
          },
        };
      },
      before: (next) =>
        this.#auditAfterTheFact({
          event: "action.reconciled",
          callId: next.execution?.callId,
          ...about(next),
          was: { state: current.state, error: current.execution?.error },
          host: hostSaid,
          verdict: to,
          ...(e.startedAt && { hostStartedAt: e.startedAt }),
          ...(e.endedAt && { hostEndedAt: e.endedAt }),
          ...(error && { error }),
        }),
    });
    return t.ok ? { request: t.request, changed: true } : { ...(t.request && { request: t.request }), changed: false, note: t.reason };
  }
}
