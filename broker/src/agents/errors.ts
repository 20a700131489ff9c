// Typed failures of one host in a call. Every failure a caller sees carries a stable code: the gRPC
// status name when the agent (or the transport) answered with one, or a broker code.
import { status, type ServiceError } from "@grpc/grpc-js";

export type GrpcCode = Exclude<keyof typeof status, number>;

export type HostErrorCode =
  | GrpcCode
  /** The agent answered, but its reply was not what the catalog says (never passed through). */
  | "MALFORMED_REPLY"
  /** The broker's own TLS files (DIR/tls) are missing or unreadable. */
  | "TLS_CONFIG"
  /** Policy does not allow this tool on this host; nothing was sent. */
  | "POLICY_DENIED"
  /** The result did not fit in maxOutputBytes even after trimming. */
  | "OUTPUT_TOO_LARGE";

export interface HostError {
  code: HostErrorCode;
  message: string;
}

export class HostCallError extends Error implements HostError {
  override name = "HostCallError";
  constructor(
    readonly code: HostErrorCode,
    message: string,
  ) {
    super(message);
  }

  toJSON(): HostError {
    return { code: this.code, message: this.message };
  }
}

export function grpcCodeName(code: number): GrpcCode {
  const name = (status as unknown as Record<number, string>)[code];
  return (name ?? "UNKNOWN") as GrpcCode;
}

/** Maps a grpc-js error to a HostCallError, keeping the agent's own message. */
export function fromServiceError(err: ServiceError, host: string): HostCallError {
  const code = grpcCodeName(err.code);
  const details = err.details || err.message;
  switch (code) {
    case "UNAVAILABLE":
      return new HostCallError(code, `${host} is unreachable: ${details}`);
    case "DEADLINE_EXCEEDED":
      return new HostCallError(code, `${host} did not answer in time: ${details}`);
    default:
      return new HostCallError(code, details);
  }
}

export function toHostError(err: unknown): HostError {
  if (err instanceof HostCallError) return err.toJSON();
  return { code: "INTERNAL", message: err instanceof Error ? err.message : String(err) };
}
