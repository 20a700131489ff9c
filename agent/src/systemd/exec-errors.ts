// Maps a failure of exec.run to the DiagnosticError a caller sees.
import { ExecError } from "../exec";
import { DiagnosticError } from "../diagnostics/context";

export function toDiagnosticError(err: unknown): Error {
  if (err instanceof DiagnosticError) return err;
  if (err instanceof ExecError) {
    switch (err.kind) {
      case "not-installed":
        return new DiagnosticError("FAILED_PRECONDITION", err.message);
      case "timeout":
        return new DiagnosticError("DEADLINE_EXCEEDED", err.message);
      case "refused":
        return new DiagnosticError("INVALID_ARGUMENT", err.message);
      case "spawn-failed":
        return new DiagnosticError("UNAVAILABLE", err.message);
    }
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** The first non-empty stderr line, bounded, for an error message. */
export function firstLine(stderr: string): string {
  const line = stderr.split("\n").find((l) => l.trim() !== "") ?? "";
  return line.length > 300 ? `${line.slice(0, 300)}…` : line.trim();
}
