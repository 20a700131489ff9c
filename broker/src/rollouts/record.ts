// One roll-out as the broker persists it (<stateDir>/rollouts/<id>.json), and its state machine.
// Pure; no I/O.
//
//   PENDING ──► APPROVED ──► RUNNING ──► SUCCEEDED | HALTED
//      │            │           └──────► CANCELLED (cancel_rollout: before the next batch)
//      ├► REJECTED  ├► EXPIRED
//      ├► EXPIRED   └► CANCELLED
//      └► CANCELLED
//
// Each host of the plan has its own state: PENDING until its batch starts, RUNNING while it runs
// (recorded before any host of the batch is contacted), then SUCCEEDED, FAILED (the action
// failed), GATE_FAILED (a gate did not hold, and it was not rolled back or the rollback did not
// restore it), ROLLED_BACK (a gate did not hold; the inverse ran and the gates held again: the
// host is as it was, the change did not land — counted as failed), UNKNOWN (its outcome could not be settled: the roll-out halts), or UNTOUCHED
// (never reached: the roll-out stopped first).
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { IMPACTS, ROLLOUT_STATEMENT_VERSION } from "../../../proto/catalog/approval";
import { ROLLOUT_ID } from "../../../proto/catalog/rollout-plan";
import { KEY_FINGERPRINT } from "../../../shared/cert-names";
import { rolloutStrategy } from "./strategy";

const ROLLOUT_STATES = ["PENDING", "APPROVED", "REJECTED", "EXPIRED", "CANCELLED", "RUNNING", "SUCCEEDED", "HALTED"] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];

const HOST_STATES = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "GATE_FAILED", "ROLLED_BACK", "UNKNOWN", "UNTOUCHED"] as const;
export type HostState = (typeof HOST_STATES)[number];

const TRANSITIONS: Readonly<Record<RolloutState, readonly RolloutState[]>> = {
  PENDING: ["APPROVED", "REJECTED", "EXPIRED", "CANCELLED"],
  APPROVED: ["RUNNING", "EXPIRED", "CANCELLED"],
  // RUNNING → RUNNING: a batch's hosts change state; the roll-out goes on.
  RUNNING: ["RUNNING", "SUCCEEDED", "HALTED", "CANCELLED"],
  REJECTED: [],
  EXPIRED: [],
  CANCELLED: [],
  SUCCEEDED: [],
  HALTED: [],
};

export function canMove(from: RolloutState, to: RolloutState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** "ro-" + 10 lowercase hex: a ledger id prefix on every host (`ro-…-<index>`), a file name here. */
export const ROLLOUT_RECORD_ID = /^ro-[0-9a-f]{10}$/;
export const rolloutId = z.string().regex(ROLLOUT_RECORD_ID, { message: 'must be a roll-out id such as "ro-3f9c2a1b7d" (see get_rollout)' });

export function newRolloutId(): string {
  const id = `ro-${randomBytes(5).toString("hex")}`;
  if (!ROLLOUT_ID.test(id)) throw new Error(`internal: ${id} is not a roll-out id the hosts accept`);
  return id;
}

const isoTime = z.string().max(40);
const shortText = z.string().max(2000);
const digest = z.string().regex(KEY_FINGERPRINT);
const hostError = z.strictObject({ code: z.string().max(64), message: z.string().max(4000) });

const gateOutcome = z.strictObject({
  diagnostic: z.string().max(64),
  ok: z.boolean(),
  conditions: z.array(z.strictObject({ text: z.string().max(300), ok: z.boolean(), seen: z.unknown() })).max(8),
  error: hostError.optional(),
});
export type GateOutcome = z.output<typeof gateOutcome>;

const hostRun = z.strictObject({
  startedAt: isoTime,
  endedAt: isoTime.optional(),
  verdict: z.enum(["SUCCEEDED", "FAILED"]).optional(),
  /** The action's result (before/after, output) is in `<id>.results/<index>.json`, written when the host ends. */
  hasResult: z.boolean().optional(),
  error: hostError.optional(),
  /** Settled from the host's own record (its helper's ledger) after this broker lost the outcome. */
  reconciled: z.enum(["NOT_STARTED", "INTERRUPTED", "ENDED"]).optional(),
});

/** A host's rollback (the plan's inverse action, request `<rollout>-<index>-undo`) and its gates after it. */
const hostRollback = z.strictObject({
  run: hostRun,
  gates: z.array(gateOutcome).max(4).optional(),
});

const planHost = z.strictObject({
  index: z.number().int().nonnegative(),
  /** Inventory name. */
  host: z.string().max(63),
  /** Certificate name: what the plan's entry binds and the helper checks. */
  hostIdentity: z.string().max(253),
  hostKey: digest,
  batch: z.number().int().nonnegative(),
  /** The hash of the host's preview (its entry of the plan covers it); the preview itself is in `<id>.previews.json`. */
  previewHash: digest,
  state: z.enum(HOST_STATES),
  run: hostRun.optional(),
  gates: z.array(gateOutcome).max(4).optional(),
  rollback: hostRollback.optional(),
});
export type PlanHost = z.output<typeof planHost>;

/** A broker process, as rollouts/owner.ts names it (also an action execution's: actions/request.ts). */
export const rolloutOwner = z.strictObject({
  token: z.string().regex(/^[0-9a-f]{32}$/),
  bootId: z.string().max(64).optional(),
  pidNamespace: z.string().max(64).optional(),
  /** The process's start time in clock ticks since boot (/proc/<pid>/stat field 22). */
  startTime: z.string().max(32).optional(),
});
export type RolloutOwner = z.output<typeof rolloutOwner>;

const rolloutStatementSchema = z.strictObject({
  v: z.literal(ROLLOUT_STATEMENT_VERSION),
  kind: z.literal("rollout"),
  id: z.string().max(40),
  action: z.string().max(64),
  params: z.record(z.string(), z.unknown()),
  requester: z.string().max(300),
  impact: z.enum(IMPACTS),
  issuedAt: z.number().int(),
  notAfter: z.number().int(),
  nonce: z.string().regex(/^[0-9a-f]{32}$/),
  planRoot: digest,
  planSize: z.number().int().positive(),
  strategyHash: digest,
  rollback: z.string().max(64).optional(),
});

export const RolloutRecordSchema = z.strictObject({
  v: z.literal(1),
  id: rolloutId,
  /** The target as the caller wrote it (host list, tag:…, *); `hosts` is what it resolved to. */
  target: z.string().max(2000),
  action: z.string().max(64),
  params: z.record(z.string(), z.unknown()),
  impact: z.enum(IMPACTS),
  strategy: rolloutStrategy,
  /** "sha256:<hex>" of the plan's Merkle root (proto/catalog/rollout-plan.ts): what the approval signs. */
  planRoot: digest,
  hosts: z.array(planHost).min(1).max(10_000),
  reason: shortText,
  requester: z.string().max(300),
  state: z.enum(ROLLOUT_STATES),
  createdAt: isoTime,
  updatedAt: isoTime,
  /** Unix seconds: a PENDING or APPROVED roll-out past it is EXPIRED; the approval's notAfter. */
  expiresAt: z.number().int(),
  approval: z
    .strictObject({
      statement: rolloutStatementSchema,
      keyId: z.string().max(200),
      /** The SSHSIG armored signature over the canonical roll-out statement. */
      signature: z.string().max(4096),
      /** `hostward approve` ("cli") or the page `hostward approvals` serves ("web"); the approver's key signs either way. */
      via: z.enum(["cli", "web"]),
      approver: shortText,
      at: isoTime,
      /** Further approvers' signatures over the same roll-out statement (hosts may require several keys). */
      cosignatures: z
        .array(z.strictObject({ keyId: z.string().max(200), signature: z.string().max(4096), via: z.enum(["cli", "web"]), approver: shortText, at: isoTime }))
        .max(8)
        .optional(),
    })
    .optional(),
  /** The most distinct approver keys any host of the plan requires (their preview answers); execute_rollout waits for it. */
  approvalsRequired: z.number().int().min(1).max(9).optional(),
  /** `via`: absent on records written before the page existed (those were all "cli"). */
  rejection: z.strictObject({ reason: shortText, by: shortText, via: z.enum(["cli", "web"]).optional(), at: isoTime }).optional(),
  cancellation: z.strictObject({ reason: shortText, by: shortText, at: isoTime }).optional(),
  execution: z
    .strictObject({
      startedAt: isoTime,
      endedAt: isoTime.optional(),
      /** The broker process running it (for people; ownership is `owner` and `leaseUntil`). */
      pid: z.number().int(),
      /**
       * Who runs it: a token drawn by that broker process, and what proves on this machine that the
       * process is gone (boot id, PID namespace, start time: a reused pid or another namespace's pid
       * proves nothing). Another broker takes a RUNNING roll-out over only when that proof holds or
       * the lease has lapsed.
       */
      owner: rolloutOwner,
      /** Unix ms: the owner renews it while it runs (engine.ts); past it, the roll-out may be taken over. */
      leaseUntil: z.number().int(),
      /** When the last batch ended (a resumed roll-out still waits out the pause after it). */
      lastBatchEndedAt: isoTime.optional(),
      callId: z.string().max(64),
      /** The batch running, or the last one that ran. */
      batch: z.number().int().nonnegative(),
      failures: z.number().int().nonnegative(),
      /** Set when cancel_rollout asked to stop: no batch starts after it. */
      cancelRequested: z.strictObject({ by: shortText, reason: shortText, at: isoTime }).optional(),
      halt: z.strictObject({ reason: z.string().max(4000), at: isoTime }).optional(),
      resumes: z.number().int().nonnegative().default(0),
    })
    .optional(),
  history: z.array(z.strictObject({ state: z.enum(ROLLOUT_STATES), at: isoTime, by: shortText })).max(64),
});
export type RolloutRecord = z.output<typeof RolloutRecordSchema>;

/** The number of batches of a plan (batches are numbered 0..n−1; hosts are in batch order). */
export function batchCount(r: Pick<RolloutRecord, "hosts">): number {
  return Math.max(...r.hosts.map((h) => h.batch)) + 1;
}
