// The helper's own record of every refusal and every execution: one JSON line on stderr, which
// the operator unit's journal keeps (the agent passes its own stderr to the helper unchanged).
// Parameters are recorded as given after validation (unit and container names, a delay); the
// signature is not, only the approving key's fingerprint.
export interface AuditRecord {
  event: "refused" | "executed" | "started" | "queried" | "previewed";
  mode: "sudo" | "direct";
  action?: string;
  params?: Record<string, unknown>;
  requestId?: string;
  requester?: string;
  keyId?: string;
  /** The other approver keys that signed the same statement (M-of-N approvals). */
  cosigners?: string[];
  code?: string;
  exitCode: number;
  verdict?: "SUCCEEDED" | "FAILED";
  reason?: string;
  warnings?: string[];
  /** Processes the helper started for this request (0 for every refusal). */
  spawns: number;
  sudoUser?: string;
  durationMs: number;
}

export function writeAudit(stderr: NodeJS.WritableStream, record: AuditRecord): void {
  stderr.write(`${JSON.stringify({ audit: "hostward-action", time: new Date().toISOString(), ...record })}\n`);
}
