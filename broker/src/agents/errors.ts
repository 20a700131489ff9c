// Typed failures of one host in a call. Every failure a caller sees carries a stable code: the gRPC
// status name when the agent (or the transport) answered with one, or a broker code.
import { status, type ServiceError } from "@grpc/grpc-js";

type GrpcCode = Exclude<keyof typeof status, number>;

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

function grpcCodeName(code: number): GrpcCode {
  const name = (status as unknown as Record<number, string>)[code];
  return (name ?? "UNKNOWN") as GrpcCode;
}

/** grpc-js appends "Resolution note: …" to connection errors, often with nothing after it. */
export function withoutLibraryNoise(details: string): string {
  return details.replace(/\s*Resolution note:\s*$/, "").replace(/^No connection established\. Last error: (?:Error: )?/, "no connection: ");
}

/** The agent's certificate as the TLS layer judged it, in the operator's words (undefined: not a certificate problem). */
function agentCertificateProblem(details: string, host: string): string | undefined {
  const renew = `renew it on the workstation (hostward pki issue-agent ${host} --out DIR) and on the host (sudo hostward-agent enroll DIR)`;
  if (/certificate has expired|CERT_HAS_EXPIRED/i.test(details)) return `${host}'s agent certificate has expired; ${renew}`;
  if (/certificate is not yet valid|CERT_NOT_YET_VALID/i.test(details)) return `${host}'s agent certificate is not valid yet (the host's or this machine's clock is off?)`;
  return undefined;
}

/**
 * Maps a grpc-js error to a HostCallError, keeping the agent's own message. `clientCertProblem`:
 * why the broker's own client certificate is unusable, if it is (the agent then drops the
 * handshake without saying why, so the broker says it instead of "unreachable").
 */
export function fromServiceError(err: ServiceError, host: string, clientCertProblem?: string): HostCallError {
  const code = grpcCodeName(err.code);
  const details = withoutLibraryNoise(err.details || err.message);
  switch (code) {
    case "UNAVAILABLE": {
      const agentCert = agentCertificateProblem(details, host);
      if (agentCert) return new HostCallError("UNAUTHENTICATED", agentCert);
      if (clientCertProblem) return new HostCallError("UNAUTHENTICATED", `${host} refused the connection: ${clientCertProblem}`);
      return new HostCallError(code, `${host} is unreachable: ${details}`);
    }
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
