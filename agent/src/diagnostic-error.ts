// A diagnostic's failure that the caller should see as-is (mapped to a gRPC status by the server).
// Its own module so the root helper, which reuses the agent's parsers (podman-parse.ts,
// safe-file.ts), bundles no diagnostic code.
export class DiagnosticError extends Error {
  constructor(
    readonly code: "NOT_FOUND" | "FAILED_PRECONDITION" | "INVALID_ARGUMENT" | "PERMISSION_DENIED" | "UNAVAILABLE" | "DEADLINE_EXCEEDED" | "RESOURCE_EXHAUSTED",
    message: string,
  ) {
    super(message);
    this.name = "DiagnosticError";
  }
}

