// A roll-out's state changes, each audited in the hash chain BEFORE it is stored (if the record
// cannot be written, the change does not happen: no approval recorded, no batch started). Shared by
// the MCP tools (`hostward serve`) and the CLI (`hostward approve|reject`), which may run in
// different processes: the record's lock serialises them (state/record-files.ts).
import { canonicalJson, canonicalRolloutStatement, newNonce, previewDigest, rolloutApprovalMessage, ROLLOUT_STATEMENT_VERSION, type Impact, type RolloutStatement } from "../../../proto/catalog/approval";
import { actionPreview, type ActionPreview } from "../../../proto/catalog/define-action";
import { findAction } from "../../../proto/catalog/actions/index";
import { previewProblem } from "../../../proto/catalog/preview-summary";
import { rolloutTree, strategyDigest, type RolloutEntry, type RolloutTree } from "../../../proto/catalog/rollout-plan";
import type { Approval } from "../../../proto/gen/hostward/v1/actions";
import { signCanonical, type Signer } from "../approval/signer";
import type { AuditRecordInput, CallerIdentity } from "../audit/records";
import type { AuditStore, RolloutRecordStore } from "../state/store";
import { LEASE_MS, ownerGone, processOwner, RENEW_MS } from "./owner";
import { canMove, newRolloutId, type HostState, type PlanHost, type RolloutOwner, type RolloutRecord, type RolloutState } from "./record";
import { planBatches, type RolloutStrategy } from "./strategy";

export interface RolloutHostInput {
  host: string;
  hostIdentity: string;
  hostKey: string;
  preview: ActionPreview;
  /** Distinct approver keys this host said it requires for the impact (its preview's answer). */
  approvalsRequired?: number;
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

/** The most approver keys any host of the plan requires (each host counts its own anyway). */
function approvalsRequiredOf(hosts: readonly RolloutHostInput[]): number | undefined {
  const counts = hosts.map((h) => h.approvalsRequired).filter((n): n is number => n !== undefined);
  return counts.length === 0 ? undefined : Math.max(...counts);
}
/**
 * The record holds each host's entry and state (~400 bytes a host: ~4 MB at 10,000), rewritten as
 * batches start and end; the previews (up to 32 KiB each) are written once beside it
 * (`<id>.previews.jsonl`, one line per host, hashed into the plan) and each host's result once, when
 * it ends (`<id>.results/<index>.json`), so a batch rewrites only the small part.
 */
const MAX_RESULT_BYTES = 1024 * 1024;

function about(r: RolloutRecord): Record<string, unknown> {
  return { rolloutId: r.id, action: r.action, params: r.params, impact: r.impact, requester: r.requester, hosts: r.hosts.length };
}

/** Each host's entry of the plan (what its leaf hash covers). */
function entriesOf(r: Pick<RolloutRecord, "hosts">): RolloutEntry[] {
  return r.hosts.map((h) => ({ index: h.index, host: h.hostIdentity, hostKey: h.hostKey, previewHash: h.previewHash, batch: h.batch }));
}

/** What one host's part needs that the record does not hold: its preview, from the previews file. */
interface Plan {
  tree: RolloutTree;
  entries: RolloutEntry[];
  previews: ActionPreview[];
}

/** The state a record moves to with `patch` applied, its history extended. */
function moved(r: RolloutRecord, to: RolloutState, by: string, patch: Partial<RolloutRecord> = {}): RolloutRecord {
  const at = new Date().toISOString();
  const history = r.state === to ? r.history : [...r.history, { state: to, at, by }].slice(-64);
  return { ...r, ...patch, state: to, updatedAt: at, history };
}

export class RolloutService {
  /** Where the records live (state/store.ts RolloutRecordStore: files, or PostgreSQL). */
  readonly files: RolloutRecordStore;
  /** By plan root: the tree, the entries and the previews of a plan (immutable once proposed). */
  #plans = new Map<string, Plan>();

  /** Who this service runs roll-outs as (this process, unless a test plays two brokers in one). */
  readonly owner: RolloutOwner;
  readonly leaseMs: number;
  readonly renewMs: number;
  /** Where what could not be audited is said (the broker's log; stderr for the CLI). */
  private readonly warn: (message: string) => void;

  constructor(
    store: RolloutRecordStore,
    private readonly audit: AuditStore,
    /** Read on every proposal, so a reloaded broker.yaml applies to the next one. */
    private readonly ttlSeconds: () => number,
    options: { owner?: RolloutOwner; leaseMs?: number; renewMs?: number; warn?: (message: string) => void } = {},
  ) {
    this.warn = options.warn ?? ((message) => process.stderr.write(`hostward: ${message}\n`));
    this.owner = options.owner ?? processOwner();
    this.leaseMs = options.leaseMs ?? LEASE_MS;
    this.renewMs = options.renewMs ?? RENEW_MS;
    this.files = store;
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
    const previews: ActionPreview[] = [];
    batches.forEach((batch, b) => {
      for (const h of batch) {
        hosts.push({ index: hosts.length, host: h.host, hostIdentity: h.hostIdentity, hostKey: h.hostKey, batch: b, previewHash: previewDigest(canonicalJson(h.preview)), state: "PENDING" });
        previews.push(h.preview);
      }
    });
    const entries = entriesOf({ hosts });
    const tree = rolloutTree(entries);
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
      ...(approvalsRequiredOf(input.hosts) !== undefined && { approvalsRequired: approvalsRequiredOf(input.hosts) }),
      state: "PENDING",
      createdAt: created.toISOString(),
      updatedAt: created.toISOString(),
      expiresAt: Math.floor(created.getTime() / 1000) + this.ttlSeconds(),
      history: [{ state: "PENDING", at: created.toISOString(), by: input.requester }],
    };
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
    // The store writes the previews first: a record never names a plan whose previews are missing.
    const stored = await this.files.create(record, previews.map((p) => canonicalJson(p)));
    this.#plans.set(record.planRoot, { tree, entries, previews });
    return stored;
  }

  #mine(owner: RolloutOwner): boolean {
    return owner.token === this.owner.token;
  }

  /**
   * The plan of `r`: its tree and each host's preview, read once from the previews file and checked
   * against the entries the record holds (a preview that does not hash to its entry is refused).
   */
  async plan(r: Pick<RolloutRecord, "id" | "hosts" | "planRoot">): Promise<Plan> {
    const known = this.#plans.get(r.planRoot);
    if (known) return known;
    const entries = entriesOf(r);
    const tree = rolloutTree(entries);
    if (tree.root !== r.planRoot) throw new Error(`roll-out ${r.id}'s stored hosts no longer hash to its plan root`);
    const file = `roll-out ${r.id}'s previews (${this.files.location})`;
    const lines = await this.files.previews(r.id);
    if (lines.length !== r.hosts.length) throw new Error(`${file} holds ${lines.length} preview(s) for ${r.hosts.length} host(s)`);
    const previews = lines.map((line, i) => {
      let preview: ActionPreview;
      try {
        preview = actionPreview.parse(JSON.parse(line));
      } catch (err) {
        throw new Error(`${file}, host ${i + 1}: not a preview (${(err as Error).message.slice(0, 200)})`, { cause: err });
      }
      if (previewDigest(canonicalJson(preview)) !== r.hosts[i]!.previewHash) throw new Error(`${file}, host ${i + 1} (${r.hosts[i]!.host}): the preview does not hash to its entry of the plan`);
      return preview;
    });
    const plan = { tree, entries, previews };
    this.#plans.set(r.planRoot, plan);
    return plan;
  }

  /** Stores one host's action result (written once, when the host ends; the record says `hasResult`). */
  async saveResult(r: Pick<RolloutRecord, "id">, index: number, result: unknown): Promise<boolean> {
    const text = JSON.stringify(result);
    if (Buffer.byteLength(text) > MAX_RESULT_BYTES) return false;
    await this.files.saveResult(r.id, index, text);
    return true;
  }

  /** Hosts' action results, by index (missing or unreadable ones are left out). */
  async results(r: Pick<RolloutRecord, "id">, indices: readonly number[]): Promise<Map<number, unknown>> {
    const out = new Map<number, unknown>();
    for (const [i, text] of await this.files.results(r.id, indices)) {
      try {
        out.set(i, JSON.parse(text));
      } catch {
        // Cut by a crash (results are not fsync'd): shown without it.
      }
    }
    return out;
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
    for (const id of await this.files.ids()) {
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
      ...(r.strategy.rollback && { rollback: inverseOf(r.action) }),
    };
  }

  /**
   * Signs the roll-out statement and records APPROVED. `shown`: the record exactly as the approver
   * was shown it; refused if what is stored differs from it in anything the approval covers.
   */
  async approve(id: string, signer: Signer, by: { approver: string; identity?: string; via?: "cli" | "web"; callId?: string }, shown?: RolloutRecord): Promise<RolloutOutcome> {
    const via = by.via ?? "cli";
    const current = await this.get(id);
    if (!current) return this.refuse({ op: "approve", rolloutId: id }, `no roll-out ${id}`);
    if (current.state !== "PENDING") return this.refuse({ op: "approve" }, `roll-out ${id} is ${current.state}; only a PENDING roll-out can be approved`, current);
    const base = shown ?? current;
    if (signedPart(base) !== signedPart(current)) return this.refuse({ op: "approve" }, `roll-out ${id} changed after it was shown; nothing was signed: review it again`, current);
    const def = findAction(base.action);
    if (!def) return this.refuse({ op: "approve" }, `this broker's catalog has no action ${base.action}`, current);
    // The root is recomputed from the entries shown, never taken from the record's own field, and
    // each preview shown is checked against its entry (plan() refuses one that does not hash to it).
    if (rolloutTree(entriesOf(base)).root !== base.planRoot) return this.refuse({ op: "approve" }, `roll-out ${id}'s plan root does not match its hosts; nothing was signed`, current);
    let previews: ActionPreview[];
    try {
      previews = (await this.plan(base)).previews;
    } catch (err) {
      return this.refuse({ op: "approve" }, `roll-out ${id}: ${(err as Error).message}; nothing was signed`, current);
    }
    const bad = previews.findIndex((p) => previewProblem(def, base.params, p) !== null);
    if (bad >= 0) return this.refuse({ op: "approve" }, `roll-out ${id}: ${base.hosts[bad]!.host}'s preview is not consistent (${previewProblem(def, base.params, previews[bad]!)!.reason}); nothing was signed`, current);
    const statement = this.statementFor(base);
    const { keyId, signature } = await signCanonical(canonicalRolloutStatement(statement), signer);
    const at = new Date().toISOString();
    const t = await this.files.update(
      id,
      (cur) => (cur.state !== "PENDING" ? { refuse: `roll-out ${id} is ${cur.state}` } : signedPart(cur) !== signedPart(base) ? { refuse: `roll-out ${id} changed while it was being signed` } : { next: moved(cur, "APPROVED", `${by.approver} (${via})`, { approval: { statement, keyId, signature, via, approver: by.approver, at } }) }),
      async (next) => {
        if (nowSeconds() >= next.expiresAt) throw new Error(`roll-out ${id} expired while it was being signed`);
        await this.audit.append({ event: "rollout.approved", callId: by.callId, ...about(next), via, approver: by.approver, ...(by.identity !== undefined && { approverIdentity: by.identity }), keyId, keySource: signer.source, nonce: statement.nonce, planRoot: statement.planRoot, strategyHash: statement.strategyHash, notAfter: new Date(statement.notAfter * 1000).toISOString() });
      },
    );
    return t.ok ? { ok: true, record: t.record } : { ok: false, reason: t.reason, ...(t.record && { record: t.record }) };
  }

  /**
   * Adds `signer`'s signature to an APPROVED (not yet running) roll-out, over the very statement
   * already signed: hosts may require several distinct approver keys for the action's impact
   * (actions.yaml approvals.required; HIGH: 2 by default). A key signs once.
   */
  async cosign(id: string, signer: Signer, by: { approver: string; identity?: string; via?: "cli" | "web"; callId?: string }, shown?: RolloutRecord): Promise<RolloutOutcome> {
    const current = await this.get(id);
    if (!current) return this.refuse({ op: "cosign", rolloutId: id }, `no roll-out ${id}`);
    if (current.state !== "APPROVED" || !current.approval) return this.refuse({ op: "cosign" }, `roll-out ${id} is ${current.state}; only an APPROVED roll-out that has not started takes another signature`, current);
    if (shown && signedPart(shown) !== signedPart(current)) return this.refuse({ op: "cosign" }, `roll-out ${id} changed after it was shown; nothing was signed: review it again`, current);
    const { statement } = current.approval;
    const { keyId, signature } = await signCanonical(canonicalRolloutStatement(statement), signer);
    const signedBy = [current.approval.keyId, ...(current.approval.cosignatures ?? []).map((c) => c.keyId)];
    if (signedBy.includes(keyId)) return this.refuse({ op: "cosign" }, `roll-out ${id} is already signed by the key ${keyId}: each approver key signs once; another approver adds the next signature`, current);
    if (signedBy.length >= 9) return this.refuse({ op: "cosign" }, `roll-out ${id} already carries ${signedBy.length} signatures, the most an approval can`, current);
    const at = new Date().toISOString();
    const t = await this.files.update(
      id,
      (cur) =>
        cur.state !== "APPROVED" || !cur.approval || canonicalJson(cur.approval.statement) !== canonicalJson(statement)
          ? { refuse: `roll-out ${id} is ${cur.state}, or its approval changed while it was being signed` }
          : { next: { ...cur, approval: { ...cur.approval, cosignatures: [...(cur.approval.cosignatures ?? []), { keyId, signature, via: by.via ?? "cli", approver: by.approver, at }] } } },
      async (next) => {
        if (nowSeconds() >= next.expiresAt) throw new Error(`roll-out ${id} expired while it was being signed`);
        await this.audit.append({ event: "rollout.cosigned", callId: by.callId, ...about(next), via: by.via ?? "cli", approver: by.approver, ...(by.identity !== undefined && { approverIdentity: by.identity }), keyId, keySource: signer.source, signatures: signedBy.length + 1 });
      },
    );
    return t.ok ? { ok: true, record: t.record } : { ok: false, reason: t.reason, ...(t.record && { record: t.record }) };
  }

  async reject(id: string, reason: string, by: { who: string; via?: "cli" | "web"; callId?: string }): Promise<RolloutOutcome> {
    const via = by.via ?? "cli";
    const t = await this.files.update(
      id,
      (cur) => (cur.state !== "PENDING" ? { refuse: `roll-out ${id} is ${cur.state}; only a PENDING roll-out can be rejected` } : { next: moved(cur, "REJECTED", `${by.who} (${via})`, { rejection: { reason, by: by.who, via, at: new Date().toISOString() } }) }),
      (next) => this.audit.append({ event: "rollout.rejected", callId: by.callId, ...about(next), via, by: by.who, reason }),
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
  async partFor(r: RolloutRecord, index: number, undo = false): Promise<Approval> {
    const approval = r.approval;
    if (!approval) throw new Error(`roll-out ${r.id} is not approved`);
    const { tree, entries, previews } = await this.plan(r);
    return rolloutApprovalMessage(approval.statement, entries[index]!, tree.proofs[index]!, approval.keyId, approval.signature, canonicalJson(previews[index]!), undo, approval.cosignatures ?? []);
  }

  /** The running broker's lease, renewed; false when another broker took the roll-out over (or it ended). */
  async renew(id: string): Promise<boolean> {
    const t = await this.files.update(id, (cur) =>
      cur.state === "RUNNING" && cur.execution && this.#mine(cur.execution.owner) ? { next: { ...cur, execution: { ...cur.execution, leaseUntil: Date.now() + this.leaseMs } } } : { refuse: "not ours" },
    );
    return t.ok;
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
          return { next: moved(cur, "RUNNING", "broker (execute_rollout)", { execution: { startedAt: new Date().toISOString(), pid: process.pid, owner: this.owner, leaseUntil: Date.now() + this.leaseMs, callId, batch: 0, failures: 0, resumes: 0 } }) };
        }
        if (cur.state === "RUNNING" && cur.execution) {
          const ex = cur.execution;
          if (this.#mine(ex.owner)) return { refuse: `roll-out ${id} is already running in this broker process` };
          if (!ownerGone(ex.owner, ex.pid, this.owner) && Date.now() < ex.leaseUntil) {
            return { refuse: `roll-out ${id} is running in broker process ${ex.pid} (its lease runs until ${new Date(ex.leaseUntil).toISOString()}; a broker that stopped is taken over after it)` };
          }
          resumed = true;
          return { next: { ...cur, updatedAt: new Date().toISOString(), execution: { ...ex, pid: process.pid, owner: this.owner, leaseUntil: Date.now() + this.leaseMs, callId, resumes: ex.resumes + 1 } } };
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
   * "cancelled": cancel_rollout was recorded since the last look (checked under the lock); "lost":
   * another broker took it over. Either way nothing started.
   */
  async startBatch(id: string, b: number, callId: string): Promise<RolloutRecord | "cancelled" | "lost"> {
    let cancelled = false;
    let lost = false;
    const t = await this.files.update(
      id,
      (cur) => {
        if (cur.state !== "RUNNING" || !cur.execution || !this.#mine(cur.execution.owner)) {
          lost = true;
          return { refuse: `roll-out ${id} is not running in this process` };
        }
        if (cur.execution.cancelRequested) {
          cancelled = true;
          return { refuse: "cancelled" };
        }
        const hosts = cur.hosts.map((h) => (h.batch === b && h.state === "PENDING" ? { ...h, state: "RUNNING" as HostState, run: { startedAt: new Date().toISOString() } } : h));
        return { next: { ...cur, updatedAt: new Date().toISOString(), hosts, execution: { ...cur.execution, batch: b, leaseUntil: Date.now() + this.leaseMs } } };
      },
      (next) => this.audit.append({ event: "rollout.batch", callId, ...about(next), batch: b, phase: "start", hostsInBatch: next.hosts.filter((h) => h.batch === b).map((h) => h.host) }),
    );
    if (cancelled) return "cancelled";
    if (lost) return "lost";
    if (!t.ok) throw new Error(t.reason);
    return t.record;
  }

  /**
   * Stores the outcome of batch `b`'s hosts (`results` by index) and the failures counted so far.
   * null: another broker took the roll-out over; nothing was written (its record is the truth now).
   */
  async endBatch(id: string, b: number, results: ReadonlyMap<number, Pick<PlanHost, "state" | "run" | "gates">>, failures: number, callId: string): Promise<RolloutRecord | null> {
    let lost = false;
    const t = await this.files.update(
      id,
      (cur) => {
        // Only the process running it: a broker that was taken over must not overwrite the new one's record.
        if (cur.state !== "RUNNING" || !cur.execution || !this.#mine(cur.execution.owner)) {
          lost = true;
          return { refuse: `roll-out ${id} is not running in this process` };
        }
        const hosts = cur.hosts.map((h) => {
          const got = results.get(h.index);
          return got ? { ...h, ...got } : h;
        });
        const at = new Date().toISOString();
        return { next: { ...cur, updatedAt: at, hosts, execution: { ...cur.execution, failures, lastBatchEndedAt: at, leaseUntil: Date.now() + this.leaseMs } } };
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
        } catch (err) {
          // The batch has run: its outcome is stored even if the record could not be written; said in the broker's log.
          this.warn(`roll-out ${id}: the audit record of batch ${b + 1}'s result could not be written (${(err as Error).message}); the roll-out's own record has it`);
        }
      },
    );
    if (lost) return null;
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
        if (!this.#mine(cur.execution.owner)) return { refuse: `roll-out ${id} is running in broker process ${cur.execution.pid}, not this one` };
        const hosts = cur.hosts.map((h) => (h.state === "PENDING" ? { ...h, state: "UNTOUCHED" as HostState } : h));
        const cancellation = to === "CANCELLED" && cur.execution.cancelRequested ? { cancellation: { reason: cur.execution.cancelRequested.reason, by: cur.execution.cancelRequested.by, at: cur.execution.cancelRequested.at } } : {};
        return { next: moved(cur, to, "broker (execute_rollout)", { hosts, ...cancellation, execution: { ...cur.execution, endedAt: at, ...(reason !== undefined && { halt: { reason: reason.slice(0, 4000), at } }) } }) };
      },
      async (next) => {
        try {
          await this.audit.appendWaiting(30_000, { event: "rollout.end", callId, ...about(next), state: to, ...(reason && { reason }), counts: countStates(next), untouched: next.hosts.filter((h) => h.state === "UNTOUCHED").map((h) => h.host).slice(0, 200) });
        } catch (err) {
          // Stored even if it could not be recorded: the roll-out is over either way; said in the broker's log.
          this.warn(`roll-out ${id}: the audit record of its end (${to}) could not be written (${(err as Error).message}); the roll-out's own record has it`);
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

/** The catalog's inverse of `action` (a plan that rolls back names it in its statement). */
function inverseOf(action: string): string {
  const inverse = findAction(action)?.inverse;
  if (!inverse) throw new Error(`${action} has no inverse action: a roll-out of it cannot roll back`);
  return inverse;
}

/** What an approval covers, as one string: a change to any of it after it was shown refuses the approval. */
function signedPart(r: RolloutRecord): string {
  return canonicalJson({ id: r.id, action: r.action, params: r.params, impact: r.impact, requester: r.requester, expiresAt: r.expiresAt, strategy: r.strategy, planRoot: r.planRoot, hosts: entriesOf(r) });
}

