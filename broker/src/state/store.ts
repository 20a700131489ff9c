// The seam between the broker and where its state lives: the audit chain and the action requests.
// Tools, the CLI and the action workflow see only these interfaces; the file store (files.ts) is
// the embedded default, and a shared store (PostgreSQL, for team mode) can stand beside it without
// touching them. Each implementation states the guarantees it gives (ARCHITECTURE.md, "State").
import type { ActionRequest, ActionState } from "../actions/request";
import type { AuditRecordInput } from "../audit/records";
import type { RolloutRecord } from "../rollouts/record";

/** A written record set; `durable` settles once it is durable (rejects if it cannot be made so). */
export interface Written {
  durable: Promise<void>;
}

/**
 * The audit chain. Every append is all or nothing, in one total order with no fork; a failure is
 * an AuditError (AuditBusyError when the store stayed busy for the whole bounded wait — nothing
 * was written).
 */
export interface AuditStore {
  /** Where the chain lives, for messages and logs (a path, a URL without credentials). */
  readonly location: string;
  /** Written and durable before it resolves. */
  append(...records: AuditRecordInput[]): Promise<void>;
  /** append() with its own bound on waiting for the store. */
  appendWaiting(waitMs: number, ...records: AuditRecordInput[]): Promise<void>;
  /** Written before it resolves; durable once `durable` settles (group commit). */
  appendDeferred(...records: AuditRecordInput[]): Promise<Written>;
  /** Like appendDeferred, but its durability may wait a few ms to share a flush. */
  appendLazy(...records: AuditRecordInput[]): Promise<Written>;
  /** appendLazy with its own bound on waiting for the store. */
  appendLazyWaiting(waitMs: number, ...records: AuditRecordInput[]): Promise<Written>;
  /** Makes pending records durable and anchors the chain; never throws. */
  close(): Promise<void>;
  /**
   * The last `n` records, oldest first, each checked against its own hash (a line that fails is
   * reported in `problems`, not returned). Bounded: reads at most the chain's last `maxBytes`.
   */
  tail(n: number, maxBytes: number): Promise<{ records: Record<string, unknown>[]; problems: string[] }>;
}

export type TransitionResult = { ok: true; request: ActionRequest } | { ok: false; reason: string; request?: ActionRequest };

export interface TransitionOptions {
  from: readonly ActionState[];
  by: string;
  patch?: (r: ActionRequest) => Partial<ActionRequest>;
  /** Runs after the checks, before the change is stored; if it throws, nothing changes. */
  before?: (r: ActionRequest) => void | Promise<void>;
  now?: Date;
  /** Allows the moves only reconciliation with the host's record makes (actions/request.ts). */
  reconcile?: boolean;
  /** Checked under the lock on the current record: a reason refuses the transition (nothing changes). */
  guard?: (current: ActionRequest) => string | undefined;
}

/**
 * Action requests. A transition is a checked compare-and-set: whatever the number of brokers, one
 * request moves from one state to the next once (APPROVED → RUNNING happens once, so an approval
 * is executed at most once by the brokers sharing the store).
 */
export interface ActionStateStore {
  readonly location: string;
  create(request: ActionRequest): Promise<ActionRequest>;
  get(id: string): Promise<ActionRequest | undefined>;
  /** Newest first; unreadable records are reported, not fatal. */
  list(): Promise<{ requests: ActionRequest[]; problems: string[] }>;
  transition(id: string, to: ActionState, options: TransitionOptions): Promise<TransitionResult>;
}

/** One action request or roll-out record changed (created, moved state, settled). */
export type StateChange = { kind: "action"; id: string } | { kind: "rollout"; id: string };

/**
 * Change notices, for MCP clients subscribed to pending actions. A notice says only "look again":
 * readers re-read the store, so a lost or coalesced notice delays an update and cannot make it
 * wrong. Changes made by other processes (`hostward approve` in a terminal, another broker) are
 * seen too.
 */
export interface StateWatch {
  /** Returns the unsubscribe function; the watch runs while someone listens. */
  watch(listener: (change: StateChange) => void): () => void;
}

export type RecordUpdate<R> = { ok: true; record: R } | { ok: false; reason: string; record?: R };

/**
 * Roll-out records. Each holds the plan's entries and each host's state; the plan's previews (one
 * canonical JSON line per host, never changed) are stored with it when it is created, and each
 * host's result once, when the host ends. `update` is a checked read-check-write: one change at a
 * time per record, whatever the number of brokers.
 */
export interface RolloutRecordStore {
  readonly location: string;
  /** Stores the previews first, then the record: a record never names a plan whose previews are missing. */
  create(record: RolloutRecord, previews: readonly string[]): Promise<RolloutRecord>;
  get(id: string): Promise<RolloutRecord | undefined>;
  /**
   * `change` sees the current record and returns the next one (validated before it is stored) or a
   * refusal; `before(next, current)` runs after that and before the write — if it throws (the audit
   * record cannot be written), nothing changes.
   */
  update(
    id: string,
    change: (current: RolloutRecord) => { next: RolloutRecord } | { refuse: string },
    before?: (next: RolloutRecord, current: RolloutRecord) => void | Promise<void>,
  ): Promise<RecordUpdate<RolloutRecord>>;
  /** Ids of the stored records (at most `max`), unordered. */
  ids(max?: number): Promise<string[]>;
  /** A token that changes whenever the record is written; undefined: no such record. */
  version(id: string): Promise<string | undefined>;
  /** The previews stored with the record, one line per host (throws, naming where, if unreadable). */
  previews(id: string): Promise<string[]>;
  /** Stores one host's result (JSON text, at most 1 MiB; written once). */
  saveResult(id: string, index: number, json: string): Promise<void>;
  /** Hosts' results by index; missing or unreadable ones are left out. */
  results(id: string, indices: readonly number[]): Promise<Map<number, string>>;
}

export interface StateStore {
  /** "files" (the embedded default) or "postgres". */
  kind: "files" | "postgres";
  audit: AuditStore;
  actions: ActionStateStore;
  rollouts: RolloutRecordStore;
  changes: StateWatch;
  /** Ends connections and watches (the file store: nothing). Never throws. */
  close(): Promise<void>;
}
