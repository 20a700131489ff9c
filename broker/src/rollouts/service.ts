// A roll-out's state changes, each audited in the hash chain BEFORE it is stored (if the record
// cannot be written, the change does not happen: no approval recorded, no batch started). Shared by
// the MCP tools (`hostward serve`) and the CLI (`hostward approve|reject`), which may run in
// different processes: the record's lock serialises them (state/record-files.ts).
import { join } from "node:path";
import { canonicalJson, canonicalRolloutStatement, newNonce, previewDigest, rolloutApprovalMessage, ROLLOUT_STATEMENT_VERSION, type Impact, type RolloutStatement } from "../../../proto/catalog/approval";
import type { ActionPreview } from "../../../proto/catalog/define-action";
import { findAction } from "../../../proto/catalog/actions/index";
import { previewProblem } from "../../../proto/catalog/preview-summary";
import { rolloutTree, strategyDigest, type RolloutEntry, type RolloutTree } from "../../../proto/catalog/rollout-plan";
import type { Approval } from "../../../proto/gen/hostward/v1/actions";
import { signCanonical, type Signer } from "../approval/signer";
import type { AuditRecordInput, CallerIdentity } from "../audit/records";
import type { AuditStore } from "../state/store";
import { RecordFiles } from "../state/record-files";
import { canMove, newRolloutId, ROLLOUT_RECORD_ID, RolloutRecordSchema, type HostState, type PlanHost, type RolloutRecord, type RolloutState } from "./record";
import { planBatches, type RolloutStrategy } from "./strategy";

export interface RolloutHostInput {
  host: string;
  hostIdentity: string;
  hostKey: string;
  preview: ActionPreview;
}

export interface RolloutProposal {
  target: string;
  /** The hosts the target resolved to, in inventory order; the plan keeps this order. */
  hosts: RolloutHostInput[];
  action: string;
  params: Record<string, unknown>;
  impact: Impact;
  strategy: RolloutStrategy;
  reason: string;
  requester: string;
  caller?: CallerIdentity;
  callId?: string;
}

export type RolloutOutcome = { ok: true; record: RolloutRecord } | { ok: false; reason: string; record?: RolloutRecord };

const nowSeconds = () => Math.floor(Date.now() / 1000);
/** A roll-out record holds every host's preview: at 10,000 hosts some tens of MB. */
const MAX_FILE_BYTES = 128 * 1024 * 1024;

function about(r: RolloutRecord): Record<string, unknown> {
  return { rolloutId: r.id, action: r.action, params: r.params, impact: r.impact, requester: r.requester, hosts: r.hosts.length };
}

/** Each host's entry of the plan (what its leaf hash covers). */
function entriesOf(r: Pick<RolloutRecord, "hosts">): RolloutEntry[] {
  return r.hosts.map((h) => ({ index: h.index, host: h.hostIdentity, hostKey: h.hostKey, previewHash: previewDigest(canonicalJson(h.preview)), batch: h.batch }));
}

/** The state a record moves to with `patch` applied, its history extended. */
function moved(r: RolloutRecord, to: RolloutState, by: string, patch: Partial<RolloutRecord> = {}): RolloutRecord {
  const at = new Date().toISOString();
  const history = r.state === to ? r.history : [...r.history, { state: to, at, by }].slice(-64);
  return { ...r, ...patch, state: to, updatedAt: at, history };
}

export class RolloutService {
  readonly files: RecordFiles<typeof RolloutRecordSchema>;
  #trees = new Map<string, RolloutTree>();

  constructor(
    stateDir: string,
    private readonly audit: AuditStore,
    /** Read on every proposal, so a reloaded broker.yaml applies to the next one. */
    private readonly ttlSeconds: () => number,
  ) {
    this.files = new RecordFiles({ dir: join(stateDir, "rollouts"), noun: "roll-out", id: ROLLOUT_RECORD_ID, schema: RolloutRecordSchema, maxFileBytes: MAX_FILE_BYTES, lockWaitMs: 5_000 });
  }

  /** A refusal, audited (best effort: a refusal changes nothing). */
  async refuse(record: Omit<AuditRecordInput, "event">, reason: string, r?: RolloutRecord): Promise<{ ok: false; reason: string; record?: RolloutRecord }> {
    try {
      await this.audit.append({ event: "rollout.refused", ...record, ...(r ? about(r) : {}), reason });
    } catch {
      // The refusal stands whether or not it could be recorded.
    }
    return r ? { ok: false, reason, record: r } : { ok: false, reason };
  }

  async propose(input: RolloutProposal): Promise<RolloutRecord> {
    const created = new Date();
    const batches = planBatches(input.hosts, input.strategy);
    const hosts: PlanHost[] = [];
    batches.forEach((batch, b) => {
      for (const h of batch) hosts.push({ index: hosts.length, host: h.host, hostIdentity: h.hostIdentity, hostKey: h.hostKey, batch: b, preview: h.preview, state: "PENDING" });
    });
    const tree = rolloutTree(entriesOf({ hosts }));
    const record: RolloutRecord = {
      v: 1,
      id: newRolloutId(),
      target: input.target,
      action: input.action,
      params: input.params,
      impact: input.impact,
      strategy: input.strategy,
      planRoot: tree.root,
      hosts,
      reason: input.reason,
      requester: input.requester,
      state: "PENDING",
      createdAt: created.toISOString(),
      updatedAt: created.toISOString(),
      expiresAt: Math.floor(created.getTime() / 1000) + this.ttlSeconds(),
      history: [{ state: "PENDING", at: created.toISOString(), by: input.requester }],
    };
    this.#trees.set(record.planRoot, tree);
    await this.audit.append({
      event: "rollout.proposed",
      callId: input.callId,
      caller: input.caller,
      ...about(record),
      target: input.target,
      batches: batches.map((b) => b.map((h) => h.host)),
      strategy: input.strategy,
      strategyHash: strategyDigest(input.strategy),
      planRoot: tree.root,
      reason: input.reason,
      expiresAt: new Date(record.expiresAt * 1000).toISOString(),
    });
    return this.files.create(record);
  }

  /** The record as it stands: a due PENDING/APPROVED roll-out becomes EXPIRED. */
  async get(id: string): Promise<RolloutRecord | undefined> {
    const r = await this.files.get(id);
    if (!r || !((r.state === "PENDING" || r.state === "APPROVED") && nowSeconds() >= r.expiresAt)) return r;
    const t = await this.files.update(
      id,
      (cur) => (cur.state === "PENDING" || cur.state === "APPROVED" ? { next: moved(cur, "EXPIRED", "broker (expiry)") } : { refuse: "moved on" }),
      async (next, cur) => {
        try {
          await this.audit.append({ event: "rollout.expired", ...about(next), was: cur.state });
        } catch {
          // Expiry is the safe direction: retried on the next read until it is recorded.
        }
      },
    );
    return t.ok ? t.record : (t.record ?? r);
  }

  /** Newest first; unreadable records are reported, not fatal. */
  async list(): Promise<{ rollouts: RolloutRecord[]; problems: string[] }> {
    const rollouts: RolloutRecord[] = [];
    const problems: string[] = [];
    for (const id of this.files.ids()) {
      try {
        const r = await this.get(id);
        if (r) rollouts.push(r);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    rollouts.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.id.localeCompare(b.id)));
    return { rollouts, problems };
  }

  /** The statement an approver signs for this roll-out (a fresh nonce, signed now). */
  statementFor(r: RolloutRecord): RolloutStatement {
    return {
      v: ROLLOUT_STATEMENT_VERSION,
      kind: "rollout",
      id: r.id,
      action: r.action,
      params: r.params,
      requester: r.requester,
      impact: r.impact,
      issuedAt: nowSeconds(),
      notAfter: r.expiresAt,
      nonce: newNonce(),
      planRoot: r.planRoot,
      planSize: r.hosts.length,
      strategyHash: strategyDigest(r.strategy),
    };
  }

  /**
   * Signs the roll-out statement and records APPROVED. `shown`: the record exactly as the approver
   * was shown it; refused if what is stored differs from it in anything the approval covers.
   */
  async approve(id: string, signer: Signer, by: { approver: string; callId?: string }, shown?: RolloutRecord): Promise<RolloutOutcome> {
    const current = await this.get(id);
    if (!current) return this.refuse({ op: "approve", rolloutId: id }, `no roll-out ${id}`);
    if (current.state !== "PENDING") return this.refuse({ op: "approve" }, `roll-out ${id} is ${current.state}; only a PENDING roll-out can be approved`, current);
    const base = shown ?? current;
    if (signedPart(base) !== signedPart(current)) return this.refuse({ op: "approve" }, `roll-out ${id} changed after it was shown; nothing was signed: review it again`, current);
    const def = findAction(base.action);
    if (!def) return this.refuse({ op: "approve" }, `this broker's catalog has no action ${base.action}`, current);
    const inconsistent = base.hosts.find((h) => previewProblem(def, base.params, h.preview) !== null);
    if (inconsistent) return this.refuse({ op: "approve" }, `roll-out ${id}: ${inconsistent.host}'s preview is not consistent (${previewProblem(def, base.params, inconsistent.preview)!.reason}); nothing was signed`, current);
    // The root is recomputed from the entries shown, never taken from the record's own field.
    if (rolloutTree(entriesOf(base)).root !== base.planRoot) return this.refuse({ op: "approve" }, `roll-out ${id}'s plan root does not match its hosts; nothing was signed`, current);
    const statement = this.statementFor(base);
    const { keyId, signature } = await signCanonical(canonicalRolloutStatement(statement), signer);
    const at = new Date().toISOString();
    const t = await this.files.update(
      id,
      (cur) => (cur.state !== "PENDING" ? { refuse: `roll-out ${id} is ${cur.state}` } : signedPart(cur) !== signedPart(base) ? { refuse: `roll-out ${id} changed while it was being signed` } : { next: moved(cur, "APPROVED", `${by.approver} (cli)`, { approval: { statement, keyId, signature, via: "cli", approver: by.approver, at } }) }),
      async (next) => {
        if (nowSeconds() >= next.expiresAt) throw new Error(`roll-out ${id} expired while it was being signed`);
        await this.audit.append({ event: "rollout.approved", callId: by.callId, ...about(next), approver: by.approver, keyId, keySource: signer.source, nonce: statement.nonce, planRoot: statement.planRoot, strategyHash: statement.strategyHash, notAfter: new Date(statement.notAfter * 1000).toISOString() });
      },
    );
    return t.ok ? { ok: true, record: t.record } : { ok: false, reason: t.reason, ...(t.record && { record: t.record }) };
  }

  async reject(id: string, reason: string, by: { who: string; callId?: string }): Promise<RolloutOutcome> {
    const t = await this.files.update(
      id,
      (cur) => (cur.state !== "PENDING" ? { refuse: `roll-out ${id} is ${cur.state}; only a PENDING roll-out can be rejected` } : { next: moved(cur, "REJECTED", `${by.who} (cli)`, { rejection: { reason, by: by.who, at: new Date().toISOString() } }) }),
      (next) => this.audit.append({ event: "rollout.rejected", callId: by.callId, ...about(next), by: by.who, reason }),
    );
    return t.ok ? { ok: true, record: t.record } : { ok: false, reason: t.reason, ...(t.record && { record: t.record }) };
  }

  /** PENDING/APPROVED: CANCELLED now. RUNNING: no batch starts after the one running (the runner ends it CANCELLED). */
  async cancel(id: string, reason: string, by: { who: string; caller?: CallerIdentity; callId?: string }): Promise<RolloutOutcome> {
    const at = new Date().toISOString();
    const t = await this.files.update(
      id,
      (cur) => {
        if (cur.state === "PENDING" || cur.state === "APPROVED") return { next: moved(cur, "CANCELLED", by.who, { cancellation: { reason, by: by.who, at } }) };
        if (cur.state === "RUNNING" && cur.execution) return { next: { ...cur, updatedAt: at, execution: { ...cur.execution, cancelRequested: { by: by.who, reason, at } } } };
        return { refuse: `roll-out ${id} is ${cur.state}; it cannot be cancelled` };
      },
      (next) => this.audit.append({ event: "rollout.cancelled", callId: by.callId, caller: by.caller, ...about(next), reason, ...(next.state === "RUNNING" && { before: `batch ${next.execution!.batch + 2}` }) }),
    );
    return t.ok ? { ok: true, record: t.record } : { ok: false, reason: t.reason, ...(t.record && { record: t.record }) };
  }

  /** One host's part of the approved plan: the statement, its entry and its audit path. */
  partFor(r: RolloutRecord, index: number): Approval {
    const approval = r.approval;
    if (!approval) throw new Error(`roll-out ${r.id} is not approved`);
    let tree = this.#trees.get(r.planRoot);
    if (!tree) {
      tree = rolloutTree(entriesOf(r));
      if (tree.root !== r.planRoot) throw new Error(`roll-out ${r.id}'s stored hosts no longer hash to its plan root`);
      this.#trees.set(r.planRoot, tree);
    }
    const entry = entriesOf(r)[index]!;
    return rolloutApprovalMessage(approval.statement, entry, tree.proofs[index]!, approval.keyId, approval.signature, canonicalJson(r.hosts[index]!.preview));
  }

  /**
   * APPROVED → RUNNING (this process runs it), or a RUNNING roll-out whose broker is gone is taken
   * over (resumed): refused while its process lives. The record is written, and audited, first.
   */
  async begin(id: string, callId: string, caller?: CallerIdentity): Promise<RolloutOutcome & { resumed?: boolean }> {
    let resumed = false;
    const t = await this.files.update(
      id,
      (cur) => {
        if (cur.state === "APPROVED") {
          if (nowSeconds() >= cur.expiresAt) return { refuse: `roll-out ${id}'s approval expired` };
          return { next: moved(cur, "RUNNING", "broker (execute_rollout)", { execution: { startedAt: new Date().toISOString(), pid: process.pid, callId, batch: 0, failures: 0, resumes: 0 } }) };
        }
        if (cur.state === "RUNNING" && cur.execution) {
          if (cur.execution.pid === process.pid || processAlive(cur.execution.pid)) return { refuse: `roll-out ${id} is running in broker process ${cur.execution.pid}` };
          resumed = true;
          return { next: { ...cur, updatedAt: new Date().toISOString(), execution: { ...cur.execution, pid: process.pid, callId, resumes: cur.execution.resumes + 1 } } };
        }
        return { refuse: `roll-out ${id} is ${cur.state}; only an APPROVED roll-out can be executed` };
      },
      (next, cur) =>
        this.audit.append(
          resumed
            ? { event: "rollout.resumed", callId, caller, ...about(next), previousPid: cur.execution?.pid, batch: next.execution!.batch }
            : { event: "rollout.batch", callId, caller, ...about(next), batch: 0, phase: "start", keyId: next.approval?.keyId, nonce: next.approval?.statement.nonce },
        ),
    );
    return t.ok ? { ok: true, record: t.record, resumed } : { ok: false, reason: t.reason, ...(t.record && { record: t.record }) };
  }

  /**
   * The hosts of batch `b` become RUNNING (audited and stored before any of them is contacted).
   * null: cancel_rollout was recorded since the last look (checked under the lock), nothing started.
   */
  async startBatch(id: string, b: number, callId: string): Promise<RolloutRecord | null> {
    let cancelled = false;
    const t = await this.files.update(
      id,
      (cur) => {
        if (cur.state !== "RUNNING" || !cur.execution || cur.execution.pid !== process.pid) return { refuse: `roll-out ${id} is not running in this process` };
        if (cur.execution.cancelRequested) {
          cancelled = true;
          return { refuse: "cancelled" };
        }
        const hosts = cur.hosts.map((h) => (h.batch === b && h.state === "PENDING" ? { ...h, state: "RUNNING" as HostState, run: { startedAt: new Date().toISOString() } } : h));
        return { next: { ...cur, updatedAt: new Date().toISOString(), hosts, execution: { ...cur.execution, batch: b } } };
      },
      (next) => this.audit.append({ event: "rollout.batch", callId, ...about(next), batch: b, phase: "start", hostsInBatch: next.hosts.filter((h) => h.batch === b).map((h) => h.host) }),
    );
    if (cancelled) return null;
    if (!t.ok) throw new Error(t.reason);
    return t.record;
  }

  /** Stores the outcome of batch `b`'s hosts (`results` by index) and the failures counted so far. */
  async endBatch(id: string, b: number, results: ReadonlyMap<number, Pick<PlanHost, "state" | "run" | "gates">>, failures: number, callId: string): Promise<RolloutRecord> {
    const t = await this.files.update(
      id,
      (cur) => {
        // Only the process running it: a broker that was taken over must not overwrite the new one's record.
        if (cur.state !== "RUNNING" || !cur.execution || cur.execution.pid !== process.pid) return { refuse: `roll-out ${id} is not running in this process` };
        const hosts = cur.hosts.map((h) => {
          const got = results.get(h.index);
          return got ? { ...h, ...got } : h;
        });
        return { next: { ...cur, updatedAt: new Date().toISOString(), hosts, execution: { ...cur.execution, failures } } };
      },
      async (next) => {
        try {
          await this.audit.appendWaiting(30_000, {
            event: "rollout.batch.result",
            callId,
            ...about(next),
            batch: b,
            failures,
            results: next.hosts.filter((h) => h.batch === b).map((h) => ({ host: h.host, state: h.state, ...(h.run?.error && { error: h.run.error.code }), ...(h.gates && { gates: h.gates.map((g) => g.ok) }) })),
          });
        } catch {
          // The batch has run: its outcome is stored even if the record could not be written.
        }
      },
    );
    if (!t.ok) throw new Error(t.reason);
    return t.record;
  }

  /** The end: SUCCEEDED, HALTED (why) or CANCELLED; hosts never reached are UNTOUCHED. */
  async end(id: string, to: "SUCCEEDED" | "HALTED" | "CANCELLED", reason: string | undefined, callId: string): Promise<RolloutRecord> {
    const at = new Date().toISOString();
    const t = await this.files.update(
      id,
      (cur) => {
        if (cur.state !== "RUNNING" || !cur.execution || !canMove(cur.state, to)) return { refuse: `roll-out ${id} is ${cur.state}` };
        if (cur.execution.pid !== process.pid) return { refuse: `roll-out ${id} is running in broker process ${cur.execution.pid}, not this one` };
        const hosts = cur.hosts.map((h) => (h.state === "PENDING" ? { ...h, state: "UNTOUCHED" as HostState } : h));
        const cancellation = to === "CANCELLED" && cur.execution.cancelRequested ? { cancellation: { reason: cur.execution.cancelRequested.reason, by: cur.execution.cancelRequested.by, at: cur.execution.cancelRequested.at } } : {};
        return { next: moved(cur, to, "broker (execute_rollout)", { hosts, ...cancellation, execution: { ...cur.execution, endedAt: at, ...(reason !== undefined && { halt: { reason: reason.slice(0, 4000), at } }) } }) };
      },
      async (next) => {
        try {
          await this.audit.appendWaiting(30_000, { event: "rollout.end", callId, ...about(next), state: to, ...(reason && { reason }), counts: countStates(next), untouched: next.hosts.filter((h) => h.state === "UNTOUCHED").map((h) => h.host).slice(0, 200) });
        } catch {
          // Stored even if it could not be recorded: the roll-out is over either way.
        }
      },
    );
    if (!t.ok) throw new Error(t.reason);
    return t.record;
  }
}

/** Hosts per state. */
export function countStates(r: Pick<RolloutRecord, "hosts">): Partial<Record<HostState, number>> {
  const out: Partial<Record<HostState, number>> = {};
  for (const h of r.hosts) out[h.state] = (out[h.state] ?? 0) + 1;
  return out;
}

/** What an approval covers, as one string: a change to any of it after it was shown refuses the approval. */
function signedPart(r: RolloutRecord): string {
  return canonicalJson({ id: r.id, action: r.action, params: r.params, impact: r.impact, requester: r.requester, expiresAt: r.expiresAt, strategy: r.strategy, planRoot: r.planRoot, hosts: entriesOf(r) });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== "ESRCH";
  }
}
