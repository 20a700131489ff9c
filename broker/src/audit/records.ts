// What the broker's audit log records. Every event has a stable code (grep-able, documented), so a
// reader of the log never depends on message wording.
export const AUDIT_CODES = {
  "broker.start": "HW1000",
  "tool.call": "HW1001",
  "policy.decision": "HW1002",
  "tool.refused": "HW1003",
  "tool.result": "HW1004",
  "config.reload": "HW1005",
  /** A record cut short (crash, full disk) was found at the log's end, kept aside, and cut off. */
  "audit.recovered": "HW1006",
  "broker.stop": "HW1007",
  /** An MCP resource was read (or refused: outcome REFUSED / NOT_FOUND, with the reason). */
  "resource.read": "HW1008",
  /** A runbook (MCP prompt) was fetched with these arguments (or refused, naming the argument). */
  "prompt.get": "HW1009",
  /** A proposal's notice was delivered to the configured webhook (broker.yaml notify.webhook). */
  "notify.sent": "HW1010",
  /** …or could not be (the receiver's status, or why): the proposal stands either way. */
  "notify.failed": "HW1011",
  /** A file store was moved into PostgreSQL (`hostward state migrate`): the records and the head it moved. */
  "state.migrated": "HW1012",
  // Actions (propose → approve/reject → execute). HW11xx.
  "action.proposed": "HW1100",
  "action.approved": "HW1101",
  "action.rejected": "HW1102",
  "action.cancelled": "HW1103",
  "action.expired": "HW1104",
  /** Written (and fsync'd) before the operator agent is called; if it cannot be, nothing runs. */
  "action.execute": "HW1105",
  "action.result": "HW1106",
  /** An action tool or command refused something (wrong state, policy, expired, bad signature…). */
  "action.refused": "HW1107",
  "action.elicitation": "HW1108",
  /** The broker's state of an action was settled from the host's own record (its helper's ledger). */
  "action.reconciled": "HW1109",
  /** Another approver signed an APPROVED request's statement (hosts may require several keys). */
  "action.cosigned": "HW1110",
  // Roll-outs (propose → approve/reject → run batch by batch → end). HW12xx.
  "rollout.proposed": "HW1200",
  "rollout.approved": "HW1201",
  "rollout.rejected": "HW1202",
  "rollout.cancelled": "HW1203",
  "rollout.expired": "HW1204",
  /** Written (and fsync'd) before a batch's hosts are contacted; if it cannot be, the batch does not start. */
  "rollout.batch": "HW1205",
  /** A batch's outcome: each host's verdict and gates. */
  "rollout.batch.result": "HW1206",
  /** The roll-out ended: SUCCEEDED, HALTED (why, and the hosts left untouched) or CANCELLED. */
  "rollout.end": "HW1207",
  "rollout.refused": "HW1208",
  /** A roll-out whose broker stopped mid-batch was picked up by another: settled from the hosts' records. */
  "rollout.resumed": "HW1209",
  /** Another approver signed an APPROVED roll-out's statement (hosts may require several keys). */
  "rollout.cosigned": "HW1210",
} as const;

type AuditEvent = keyof typeof AUDIT_CODES;

/** Who made the call, as far as the broker can tell. */
export interface CallerIdentity {
  transport: "stdio" | "http";
  /** The MCP client's self-declared name and version (clientInfo). */
  client?: { name: string; version: string };
  /** HTTP only: the label of the shared bearer token that authenticated the request (a user token has none). */
  token?: string;
  /**
   * The person: over HTTP, the user whose token authenticated the request (users.jsonl); over
   * stdio, the OS user running the broker. Absent for the shared HTTP token (it names no one).
   */
  user?: string;
}

export interface AuditRecordInput {
  event: AuditEvent;
  /** Correlates the records of one tool call. */
  callId?: string;
  caller?: CallerIdentity;
  tool?: string;
  [field: string]: unknown;
}
