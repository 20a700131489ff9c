// What passes between the operator agent and the helper, both ways. Requests: one JSON object on
// the helper's stdin. Replies: JSON lines on its stdout — {"type":"output","line","at"} while the action runs,
// then exactly one {"type":"result"} (it ran) or {"type":"refused"} (nothing ran). The helper
// trusts nothing in a request: this schema is only the first of its checks.
import { z } from "zod";
import type { ActionPreview, ActionResult } from "../../../proto/catalog/define-action";
import type { Approval } from "../../../proto/gen/hostward/v1/actions";
import type { RefusalCode } from "./exit-codes";
import type { LedgerEntry, VoidedEntry } from "./ledger";

/** The largest request the helper reads. */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** The largest impact preview, as canonical JSON. */
const MAX_PREVIEW_BYTES = 32 * 1024;

export const WireApproval = z.strictObject({
  requestId: z.string().max(128),
  host: z.string().max(253),
  action: z.string().max(64),
  parametersJson: z.string().max(16 * 1024),
  requester: z.string().max(256),
  notAfterUnix: z.number().int().nonnegative(),
  nonce: z.string().max(64),
  keyId: z.string().max(128),
  /** The armored SSHSIG text, base64-encoded (as proto JSON encodes bytes). */
  signature: z.string().max(8192).regex(/^[A-Za-z0-9+/]*={0,2}$/, "signature is not base64"),
  /** More approvers' signatures over the same statement (base64 like `signature`). */
  cosignatures: z
    .array(z.strictObject({ keyId: z.string().max(80), signature: z.string().max(8192).regex(/^[A-Za-z0-9+/]*={0,2}$/, "signature is not base64") }))
    .max(8)
    .default([]),
  issuedAtUnix: z.number().int().nonnegative(),
  hostKey: z.string().max(80),
  previewHash: z.string().max(80),
  /** Canonical JSON of the impact preview the approver read (its hash is signed). */
  previewJson: z.string().max(MAX_PREVIEW_BYTES),
  /** This host's entry of a signed roll-out (proto/catalog/rollout-plan.ts); absent for a single-host approval. */
  rollout: z
    .strictObject({
      rolloutId: z.string().max(100),
      planRoot: z.string().max(80),
      planSize: z.number().int().nonnegative(),
      index: z.number().int().nonnegative(),
      batch: z.number().int().nonnegative(),
      proof: z.array(z.string().max(80)).max(14),
      strategyHash: z.string().max(80),
      /** The plan's signed rollback action ("" if none); on an undo part, the approval's action is it and `forwardAction` the plan's. */
      rollbackAction: z.string().max(64).default(""),
      undo: z.boolean().default(false),
      forwardAction: z.string().max(64).default(""),
    })
    .optional(),
});

export const HelperRequest = z.strictObject({
  action: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, "action is not an action name"),
  params: z.record(z.string(), z.unknown()),
  approval: WireApproval.nullable().optional(),
});
export type HelperRequest = z.output<typeof HelperRequest>;

/**
 * A read-only question to the helper: its ledger's record of one request (ledger.ts), or what an
 * action would touch on this host (preview.ts), computed before anyone approves it.
 */
export const HelperQuery = z.discriminatedUnion("query", [
  z.strictObject({ query: z.literal("ledger"), requestId: z.string().max(128) }),
  z.strictObject({ query: z.literal("preview"), action: HelperRequest.shape.action, params: HelperRequest.shape.params }),
]);
export type HelperQuery = z.output<typeof HelperQuery>;

export function approvalToWire(a: Approval): z.output<typeof WireApproval> {
  const { rollout, cosignatures, ...rest } = a;
  return {
    ...rest,
    signature: Buffer.from(a.signature).toString("base64"),
    cosignatures: (cosignatures ?? []).map((c) => ({ keyId: c.keyId, signature: Buffer.from(c.signature).toString("base64") })),
    ...(rollout && { rollout }),
  };
}

export function approvalFromWire(a: z.output<typeof WireApproval>): Approval {
  return { ...a, signature: Buffer.from(a.signature, "base64"), rollout: a.rollout, cosignatures: a.cosignatures.map((c) => ({ keyId: c.keyId, signature: Buffer.from(c.signature, "base64") })) };
}

/**
 * The wall clock in microseconds since the Unix epoch, at sub-millisecond resolution
 * (Date.now() has whole milliseconds): the stamp on each output line (ActionEvent.at_unix_micros).
 */
export function nowUnixMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

export type HelperLine =
  /** `at`: when the helper had the line (read off the program's pty, or wrote it), nowUnixMicros(). */
  | { type: "output"; line: string; at: number }
  | ({ type: "result"; spawns: number } & ActionResult)
  | { type: "refused"; code: RefusalCode; exitCode: number; reason: string; spawns: number }
  /** The answer to a ledger query: the host's record (null: the helper never started it here). */
  | { type: "ledger"; entry: LedgerEntry | VoidedEntry | null; running?: boolean; unreadable?: string }
  /** The answer to a preview query. */
  | { type: "preview"; preview: ActionPreview; approvalsRequired?: number };
