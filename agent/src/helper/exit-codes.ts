// The helper's exit codes: one per class of refusal, so the operator agent, a test or an
// administrator reading the journal can tell them apart without parsing text. 0 and 1 mean the
// action ran (verdict SUCCEEDED / FAILED); 64–78 follow sysexits.h; 80–89 are approval refusals.

export const HELPER_EXIT = {
  succeeded: 0,
  failed: 1,
  /** Arguments on the command line, or direct mode without its settings. */
  usage: 64,
  /** stdin is not one JSON request, is too large, or an action/parameter is invalid. */
  badRequest: 65,
  /** The unit, container or reboot is not on the host's allowlist. */
  notAllowlisted: 66,
  unavailable: 69,
  internal: 70,
  /** The environment, the caller or the helper's own file is not as sudo sets it up. */
  noPermission: 77,
  /** Root-owned configuration missing or unsafe (no valid approver, unreadable allowlist, host identity). */
  config: 78,
  noApproval: 80,
  malformedApproval: 81,
  unknownKey: 82,
  badSignature: 83,
  expired: 84,
  otherHost: 85,
  otherAction: 86,
  altered: 87,
  impactTooHigh: 88,
  replayed: 89,
  /** The host's clock and the approver's disagree by more than the host allows (approvals.maxClockSkewSeconds). */
  clockSkew: 90,
  /** The approval is valid for longer than the host allows (approvals.maxLifetimeSeconds). */
  lifetime: 91,
  /** Signed before the helper's record of used approvals began (its state was created or reset after it). */
  stale: 92,
  /** A material fact of the host differs from the preview the approver saw (the action, or its plan, would not be what was approved). */
  hostChanged: 93,
  /** Fewer distinct approver keys signed than this host requires for the impact (approvals.required). */
  tooFewApprovals: 94,
  /** A signing key belongs to the person who requested the action (four eyes). */
  selfApproval: 95,
} as const;

/** Refusal codes as they appear in the audit line and on stdout. */
export type RefusalCode =
  | "USAGE"
  | "ENVIRONMENT"
  | "BAD_REQUEST"
  | "NOT_ALLOWLISTED"
  | "CONFIG"
  | "NO_APPROVAL"
  | "MALFORMED"
  | "UNKNOWN_KEY"
  | "BAD_SIGNATURE"
  | "EXPIRED"
  | "OTHER_HOST"
  | "OTHER_ACTION"
  | "ALTERED"
  | "IMPACT_TOO_HIGH"
  | "REPLAYED"
  | "CLOCK_SKEW"
  | "LIFETIME"
  | "STALE"
  | "HOST_CHANGED"
  | "TOO_FEW_APPROVALS"
  | "SELF_APPROVAL"
  | "INTERNAL";

export const REFUSAL_EXIT: Readonly<Record<RefusalCode, number>> = {
  USAGE: HELPER_EXIT.usage,
  ENVIRONMENT: HELPER_EXIT.noPermission,
  BAD_REQUEST: HELPER_EXIT.badRequest,
  NOT_ALLOWLISTED: HELPER_EXIT.notAllowlisted,
  CONFIG: HELPER_EXIT.config,
  NO_APPROVAL: HELPER_EXIT.noApproval,
  MALFORMED: HELPER_EXIT.malformedApproval,
  UNKNOWN_KEY: HELPER_EXIT.unknownKey,
  BAD_SIGNATURE: HELPER_EXIT.badSignature,
  EXPIRED: HELPER_EXIT.expired,
  OTHER_HOST: HELPER_EXIT.otherHost,
  OTHER_ACTION: HELPER_EXIT.otherAction,
  ALTERED: HELPER_EXIT.altered,
  IMPACT_TOO_HIGH: HELPER_EXIT.impactTooHigh,
  REPLAYED: HELPER_EXIT.replayed,
  CLOCK_SKEW: HELPER_EXIT.clockSkew,
  LIFETIME: HELPER_EXIT.lifetime,
  STALE: HELPER_EXIT.stale,
  HOST_CHANGED: HELPER_EXIT.hostChanged,
  TOO_FEW_APPROVALS: HELPER_EXIT.tooFewApprovals,
  SELF_APPROVAL: HELPER_EXIT.selfApproval,
  INTERNAL: HELPER_EXIT.internal,
};

/** A refusal raised anywhere in the helper; main turns it into the audit line, stdout line and exit code. */
export class HelperRefusal extends Error {
  constructor(
    readonly code: RefusalCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "HelperRefusal";
  }
}
