// Every failure leaves the agent as a typed gRPC status. Client faults get a client-fault code
// with a message that says what to change; anything unexpected is INTERNAL with a generic
// message, its detail going to the log only (never a client-fault code for a server fault).
import * as grpc from "@grpc/grpc-js";
import { ExecError } from "../exec";

/** A failure with the status the caller should see; `logDetail` is for the log only. */
export class RpcError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
    readonly logDetail?: string,
  ) {
    super(message);
    this.name = "RpcError";
  }
}

export interface StatusReply {
  code: grpc.status;
  details: string;
  /** What the log line records as the error (more than the caller sees for INTERNAL). */
  logDetail: string;
}

const EXEC_STATUS: Record<ExecError["kind"], grpc.status | null> = {
  "not-installed": grpc.status.FAILED_PRECONDITION,
  timeout: grpc.status.DEADLINE_EXCEEDED,
  refused: grpc.status.INVALID_ARGUMENT,
  // A program that exists but cannot start is the host's fault, not the caller's.
  "spawn-failed": null,
};

export const INTERNAL_MESSAGE = "internal error in the agent; the agent's log has the details";

export function toStatus(err: unknown): StatusReply {
  if (err instanceof RpcError) return { code: err.code, details: err.message, logDetail: err.logDetail ?? err.message };
  if (err instanceof ExecError) {
    const code = EXEC_STATUS[err.kind];
    // A refused argv value is echoed to the caller (it sent it) but never written to the log.
    if (code !== null) return { code, details: err.message, logDetail: err.kind === "refused" ? "exec.ts refused an argv value (not logged)" : err.message };
  }
  const detail = err instanceof Error ? `${err.name}: ${err.message}${err.stack ? `\n${err.stack}` : ""}` : String(err);
  return { code: grpc.status.INTERNAL, details: INTERNAL_MESSAGE, logDetail: detail };
}

/** The error object grpc-js's unary callback takes. */
export function toServiceError(reply: StatusReply): Partial<grpc.ServiceError> {
  return { code: reply.code, details: reply.details, metadata: new grpc.Metadata() };
}
