// The approval workflow's state changes, each one audited in the hash chain BEFORE it is persisted:
// if the audit record cannot be written, the change does not happen (an approval is not recorded,
// an execution does not start). Shared by the MCP tools (`hostward serve`) and the CLI
// (`hostward approve|reject|actions`), which may run in different processes at the same time; the
// store's per-request lock serialises them.
import { canonicalJson, newNonce, STATEMENT_VERSION, type ApprovalStatement, type Impact } from "../../../proto/catalog/approval";
import type { AuditLog } from "../audit/log";
import type { AuditRecordInput, CallerIdentity } from "../audit/records";
import type { Signer } from "../approval/signer";
import { signStatement } from "../approval/signer";
import { findAction } from "../../../proto/catalog/actions/index";
import { isExpired, MAX_STAMPED_LINES, newActionId, type ActionRequest, type ActionState } from "./request";
import { ActionStore, type TransitionResult } from "./store";

export interface ProposalInput {
  host: string;
  hostIdentity: string;
  /** The host's operator certificate key, as the broker saw it in the TLS handshake. */
  hostKey: string;
  action: string;
  params: Record<string, unknown>;
  impact: Impact;
  reason: string;
  requester: string;
  caller?: CallerIdentity;
  callId?: string;
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
export function signedFieldsChanged(a: ActionRequest, b: ActionRequest): string | null {
  const fields = ["id", "host", "hostIdentity", "hostKey", "action", "impact", "requester", "expiresAt"] as const;
  for (const f of fields) if (a[f] !== b[f]) return f;
  if (canonicalJson(a.params) !== canonicalJson(b.params)) return "params";
  return null;
}

export class ActionService {
  constructor(
    readonly store: ActionStore,
    private readonly audit: AuditLog,
    /** Read on every proposal, so a reloaded broker.yaml applies to the next one. */
    private readonly ttlSeconds: () => number,
  ) {}

  #auditNow(record: AuditRecordInput): void {
    this.audit.append(record);
  }

  /** A refusal of an action operation, audited (best effort: a refusal changes nothing). */
  refuse(record: Omit<AuditRecordInput, "event">, reason: string, request?: ActionRequest): { ok: false; reason: string; request?: ActionRequest } {
    try {
      this.#auditNow({ event: "action.refused", ...record, ...(request ? about(request) : {}), reason });
    } catch {
      // The refusal stands whether or not it could be recorded.
    }
    return request ? { ok: false, reason, request } : { ok: false, reason };
  }

  /** Records a new PENDING request (audited first; nothing is stored if the record cannot be written). */
  propose(input: ProposalInput): ActionRequest {
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
      reason: input.reason,
      requester: input.requester,
      state: "PENDING",
      createdAt: created.toISOString(),
      updatedAt: created.toISOString(),
      expiresAt: Math.floor(created.getTime() / 1000) + this.ttlSeconds(),
      history: [{ state: "PENDING", at: created.toISOString(), by: input.requester }],
    };
    this.#auditNow({
      event: "action.proposed",
      callId: input.callId,
      caller: input.caller,
      ...about(request),
      reason: input.reason,
      expiresAt: new Date(request.expiresAt * 1000).toISOString(),
    });
    return this.store.create(request);
  }

  /**
   * The request as it stands now: a due PENDING/APPROVED request becomes EXPIRED, and a RUNNING one
   * whose broker is gone becomes FAILED (see #isOrphaned).
   */
  get(id: string): ActionRequest | undefined {
    const r = this.store.get(id);
    return r && this.#settle(r, nowSeconds());
  }

  list(filter: { state?: ActionState; host?: string } = {}): { requests: ActionRequest[]; problems: string[] } {
    const { requests, problems } = this.store.list();
    const now = nowSeconds();
    const fresh = requests.map((r) => this.#settle(r, now));
    return { requests: fresh.filter((r) => (!filter.state || r.state === filter.state) && (!filter.host || r.host === filter.host)), problems };
  }

  #settle(r: ActionRequest, now: number): ActionRequest {
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
    if (r.execution.pid === process.pid) return false;
    try {
      process.kill(r.execution.pid, 0);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "ESRCH";
    }
  }

  #orphan(r: ActionRequest): ActionRequest {
    const message = `the broker that was running it (pid ${r.execution?.pid}) stopped before the result came back; whether the action ran on ${r.host} is unknown: check the host (journalctl -u hostward-operator)`;
    let result: TransitionResult;
    try {
      result = this.store.transition(r.id, "FAILED", {
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

  #expire(r: ActionRequest): ActionRequest {
    const result = this.store.transition(r.id, "EXPIRED", {
      from: ["PENDING", "APPROVED"],
      by: "broker (expiry)",
      before: (next) => {
        try {
          this.#auditNow({ event: "action.expired", ...about(next), expiredAt: new Date(r.expiresAt * 1000).toISOString(), was: r.state });
        } catch {
          // Expiry is the safe direction: the request is treated as expired whether or not the
          // record could be written (it is retried on the next read until it is).
        }
      },
    });
    if (result.ok) return result.request;
    // Someone else moved it first (approved/expired in another process): show what is there now.
    return result.request ?? { ...r, state: "EXPIRED" };
  }

  /** The statement an approver signs for this request (a fresh nonce each time, signed now). */
  statementFor(r: ActionRequest & { hostKey: string }): ApprovalStatement {
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
    };
  }

  /** Signs the request's statement with `signer` and records APPROVED (audited first). */
  /**
   * `shown`: the request exactly as the approver was shown it (`hostward approve`, the dialog). The
   * statement is built from it, and the approval is refused if the stored request's signed fields
   * differ from it by the time it is recorded: a human signs what they read, never a re-read copy.
   */
  async approve(id: string, signer: Signer, by: { via: "cli" | "elicitation"; approver: string; callId?: string }, shown?: ActionRequest): Promise<Outcome> {
    const current = this.get(id);
    if (!current) return this.refuse({ op: "approve", actionId: id, via: by.via }, `no action request ${id}`);
    if (current.state !== "PENDING") return this.refuse({ op: "approve", via: by.via }, `action ${id} is ${current.state}; only a PENDING request can be approved`, current);
    const base = shown ?? current;
    const changed = signedFieldsChanged(base, current);
    if (changed) return this.refuse({ op: "approve", via: by.via }, `action ${id} changed after it was shown (${changed}); nothing was signed: review it again`, current);
    if (!base.hostKey) return this.refuse({ op: "approve", via: by.via }, `action ${id} was proposed without the host's key (before approvals bound it); propose it again`, current);
    const statement = this.statementFor({ ...base, hostKey: base.hostKey });
    const { keyId, signature } = await signStatement(statement, signer);
    const at = new Date().toISOString();
    const result = this.store.transition(id, "APPROVED", {
      from: ["PENDING"],
      by: `${by.approver} (${by.via})`,
      patch: () => ({ approval: { statement, keyId, signature, via: by.via, approver: by.approver, at } }),
      before: (next) => {
        if (nowSeconds() >= next.expiresAt) throw new Error(`action ${id} expired while it was being signed`);
        const moved = signedFieldsChanged(base, next);
        if (moved) throw new Error(`action ${id} changed while it was being signed (${moved})`);
        this.#auditNow({ event: "action.approved", callId: by.callId, ...about(next), via: by.via, approver: by.approver, keyId, keySource: signer.source, nonce: statement.nonce, notAfter: new Date(statement.notAfter * 1000).toISOString() });
      },
    });
    return result;
  }

  reject(id: string, reason: string, by: { via: "cli" | "elicitation"; who: string; callId?: string }): TransitionResult {
    const current = this.get(id);
    if (current && current.state !== "PENDING") return this.refuse({ op: "reject", via: by.via }, `action ${id} is ${current.state}; only a PENDING request can be rejected`, current);
    return this.store.transition(id, "REJECTED", {
      from: ["PENDING"],
      by: `${by.who} (${by.via})`,
      patch: () => ({ rejection: { reason, by: by.who, via: by.via, at: new Date().toISOString() } }),
      before: (next) => this.#auditNow({ event: "action.rejected", callId: by.callId, ...about(next), via: by.via, by: by.who, reason }),
    });
  }

  cancel(id: string, reason: string, by: { who: string; caller?: CallerIdentity; callId?: string }): TransitionResult {
    const current = this.get(id);
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
  startExecution(id: string, callId: string, caller: CallerIdentity): TransitionResult {
    const current = this.get(id);
    if (!current) return { ok: false, reason: `no action request ${id}` };
    if (current.state !== "APPROVED") return { ok: false, reason: `action ${id} is ${current.state}; only an APPROVED request can be executed`, request: current };
    return this.store.transition(id, "RUNNING", {
      from: ["APPROVED"],
      by: "broker (execute_action)",
      patch: () => ({ execution: { startedAt: new Date().toISOString(), pid: process.pid, callId } }),
      before: (next) => {
        if (nowSeconds() > next.expiresAt) throw new Error(`action ${id}'s approval expired`);
        this.#auditNow({ event: "action.execute", callId, caller, ...about(next), keyId: next.approval?.keyId, nonce: next.approval?.statement.nonce });
      },
    });
  }

  /** RUNNING → SUCCEEDED | FAILED with the outcome; returns whether the result record was written. */
  finishExecution(
    id: string,
    outcome: { verdict: "SUCCEEDED" | "FAILED"; result?: unknown; error?: { code: string; message: string }; durationMs: number; outputAtUnixMicros?: number[] },
  ): { request?: ActionRequest; audited: boolean } {
    let audited = true;
    const result = this.store.transition(id, outcome.verdict, {
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
      before: (next) => {
        try {
          const res = outcome.result as { verdict?: unknown; reason?: unknown } | undefined;
          this.#auditNow({
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
}
