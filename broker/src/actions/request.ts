// One action request as the broker persists it (<stateDir>/actions/<id>.json), and its state
// machine. Pure; no I/O.
//
//   PENDING ──► APPROVED ──► RUNNING ──► SUCCEEDED | FAILED
//      │            │
//      ├► REJECTED  ├► EXPIRED
//      ├► EXPIRED   └► CANCELLED
//      └► CANCELLED
//
// Every other move is refused. Terminal states never change again, so an approval is used at most
// once by this broker (the host's nonce store enforces the same thing on its side).
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { IMPACTS, STATEMENT_VERSION } from "../../../proto/catalog/approval";
import { actionPreview } from "../../../proto/catalog/define-action";
import { KEY_FINGERPRINT } from "../../../shared/cert-names";
import { rolloutOwner } from "../rollouts/record";

export const ACTION_STATES = ["PENDING", "APPROVED", "REJECTED", "EXPIRED", "CANCELLED", "RUNNING", "SUCCEEDED", "FAILED"] as const;
export type ActionState = (typeof ACTION_STATES)[number];

/**
 * Where a human decided: `hostward approve|reject` on a terminal ("cli"), the MCP client's dialog
 * ("elicitation", the broker's low-impact key signs), the local page `hostward approvals` serves
 * to the approver's browser ("web", the approver's key signs in that command's process), or the
 * MCP Apps approval view in the client ("app", the dialog key signs, within the dialog's ceiling).
 */
const DECISION_VIAS = ["cli", "elicitation", "web", "app"] as const;
export type DecisionVia = (typeof DECISION_VIAS)[number];

const TRANSITIONS: Readonly<Record<ActionState, readonly ActionState[]>> = {
  PENDING: ["APPROVED", "REJECTED", "EXPIRED", "CANCELLED"],
  // APPROVED → APPROVED: another approver adds a signature over the same statement (M-of-N).
  APPROVED: ["APPROVED", "RUNNING", "EXPIRED", "CANCELLED"],
  RUNNING: ["SUCCEEDED", "FAILED"],
  REJECTED: [],
  EXPIRED: [],
  CANCELLED: [],
  SUCCEEDED: [],
  FAILED: [],
};

/**
 * Moves only reconciliation may make, from the host's own record (its helper's ledger): a request
 * whose outcome the broker lost (FAILED with an uncertain error — a RUNNING request of a dead
 * broker becomes that first) takes the outcome the host recorded, once (needsReconciliation).
 */
const RECONCILE_TRANSITIONS: Readonly<Partial<Record<ActionState, readonly ActionState[]>>> = {
  FAILED: ["SUCCEEDED", "FAILED"],
};

export function canTransition(from: ActionState, to: ActionState, reconcile = false): boolean {
  return TRANSITIONS[from].includes(to) || (reconcile && (RECONCILE_TRANSITIONS[from]?.includes(to) ?? false));
}

/** Error codes after which the broker cannot know what ran: the host's record settles them. */
export const UNCERTAIN_CODES: ReadonlySet<string> = new Set(["OUTCOME_UNKNOWN", "UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "UNKNOWN", "INTERNAL", "MALFORMED_REPLY", "ABORTED"]);

/** Whether `r`'s outcome is still to be settled from its host's record. */
export function needsReconciliation(r: ActionRequest): boolean {
  if (!r.execution || r.execution.reconciliation) return false;
  if (r.state === "FAILED") return UNCERTAIN_CODES.has(r.execution.error?.code ?? "");
  return false;
}

export function isTerminal(state: ActionState): boolean {
  return TRANSITIONS[state].length === 0;
}

/** "act-" + 12 lowercase hex: safe as a file name on every platform, short enough to type. */
export const ACTION_ID = /^act-[0-9a-f]{12}$/;
export const actionId = z.string().regex(ACTION_ID, { message: 'must be an action id such as "act-3f9c2a1b7d4e" (see list_actions)' });

export function newActionId(): string {
  return `act-${randomBytes(6).toString("hex")}`;
}

const impact = z.enum(IMPACTS);
/** Output lines whose host stamps a record keeps (the broker relays at most 5,000 + 1 lines). */
export const MAX_STAMPED_LINES = 5_001;
const isoTime = z.string().max(40);
const shortText = z.string().max(2000);

const hostKey = z.string().regex(KEY_FINGERPRINT);

const statementSchema = z.strictObject({
  v: z.literal(STATEMENT_VERSION),
  id: z.string().max(64),
  host: z.string().max(253),
  hostKey,
  action: z.string().max(64),
  params: z.record(z.string(), z.unknown()),
  requester: z.string().max(300),
  impact,
  issuedAt: z.number().int(),
  notAfter: z.number().int(),
  nonce: z.string().regex(/^[0-9a-f]{32}$/),
  previewHash: hostKey,
});

export const ActionRequestSchema = z.strictObject({
  v: z.literal(1),
  id: actionId,
  /** The inventory name the request was made for. */
  host: z.string().max(63),
  /** The host's certificate name (certName): what the approval statement binds and the helper checks. */
  hostIdentity: z.string().max(253),
  /**
   * The key of the host's operator certificate when the request was proposed ("sha256:<hex>" of its
   * SubjectPublicKeyInfo, seen in the TLS handshake): the approval binds it, so the host refuses
   * the approval once it has been re-enrolled with another key. Absent on requests stored before
   * it existed; those cannot be approved.
   */
  hostKey: hostKey.optional(),
  /** Distinct approver keys the host requires for this impact (its answer at proposal); execute waits for that many signatures. */
  approvalsRequired: z.number().int().min(1).max(9).optional(),
  action: z.string().max(64),
  params: z.record(z.string(), z.unknown()),
  impact,
  /**
   * What the host said the action would touch (its preview, computed when it was proposed): shown
   * to the approver, its hash signed into the approval. Absent on requests stored before previews;
   * those cannot be approved.
   */
  preview: actionPreview.optional(),
  /** The requester's stated reason (model-provided text, shown as such, never trusted). */
  reason: shortText,
  requester: z.string().max(300),
  state: z.enum(ACTION_STATES),
  createdAt: isoTime,
  updatedAt: isoTime,
  /** Unix seconds; a PENDING or APPROVED request past it is EXPIRED; the approval's notAfter. */
  expiresAt: z.number().int(),
  approval: z
    .strictObject({
      statement: statementSchema,
      keyId: z.string().max(200),
      /** The SSHSIG armored signature over the canonical statement. */
      signature: z.string().max(4096),
      via: z.enum(DECISION_VIAS),
      approver: shortText,
      at: isoTime,
      /** Further approvers' signatures over the same statement (a host may require several keys). */
      cosignatures: z
        .array(z.strictObject({ keyId: z.string().max(200), signature: z.string().max(4096), via: z.enum(DECISION_VIAS), approver: shortText, at: isoTime }))
        .max(8)
        .optional(),
    })
    .optional(),
  rejection: z.strictObject({ reason: shortText, by: shortText, via: z.enum(DECISION_VIAS), at: isoTime }).optional(),
  cancellation: z.strictObject({ reason: shortText, by: shortText, at: isoTime }).optional(),
  execution: z
    .strictObject({
      startedAt: isoTime,
      endedAt: isoTime.optional(),
      pid: z.number().int(),
      /**
       * The broker process running it (rollouts/owner.ts): with brokers on several machines (a
       * shared store), a pid is proof of nothing on another machine or in another PID namespace.
       */
      owner: rolloutOwner.optional(),
      callId: z.string().max(64),
      durationMs: z.number().optional(),
      verdict: z.enum(["SUCCEEDED", "FAILED"]).optional(),
      result: z.unknown().optional(),
      error: z.strictObject({ code: z.string().max(64), message: z.string().max(4000) }).optional(),
      /**
       * When the host's helper had each relayed output line (ActionEvent.at_unix_micros, µs since
       * the Unix epoch on the host's clock; 0 = not stamped): entry i is progress notification i + 1.
       */
      outputAtUnixMicros: z.array(z.number().int().nonnegative()).max(MAX_STAMPED_LINES).optional(),
      /** Set once the outcome was settled from the host's own record (its helper's ledger). */
      reconciliation: z
        .strictObject({
          at: isoTime,
          /** What the host's record said: never started, started and interrupted, or ended. */
          host: z.enum(["NOT_STARTED", "INTERRUPTED", "ENDED"]),
          hostStartedAt: isoTime.optional(),
          hostEndedAt: isoTime.optional(),
          /** What the broker had recorded before. */
          previous: z.strictObject({ state: z.enum(ACTION_STATES), error: z.strictObject({ code: z.string().max(64), message: z.string().max(4000) }).optional() }),
        })
        .optional(),
    })
    .optional(),
  history: z.array(z.strictObject({ state: z.enum(ACTION_STATES), at: isoTime, by: shortText })).max(32),
});

export type ActionRequest = z.output<typeof ActionRequestSchema>;

/** Due to expire: waiting (PENDING or APPROVED) past its expiry. */
export function isExpired(request: Pick<ActionRequest, "state" | "expiresAt">, nowSeconds: number): boolean {
  return (request.state === "PENDING" || request.state === "APPROVED") && nowSeconds >= request.expiresAt;
}

/** Re-exported: the one escaping of human-facing text lives in shared/printable.ts. */
export { printable } from "../../../shared/printable";
