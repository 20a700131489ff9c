// podman through exec.ts (the parsers of its output: podman-parse.ts).
// Note: podman shows the containers of the user it runs as; the reader agent's user sees its
// own (rootless) containers only.
import { run, type RunResult } from "../exec";
import { DiagnosticError, type DiagnosticContext } from "../diagnostics/context";
import { firstLine, toDiagnosticError } from "./exec-errors";

const PODMAN_TIMEOUT_MS = 15_000;
const PODMAN_MAX_BYTES = 8 * 1024 * 1024;
export const MAX_CONTAINERS = 500;

export async function podman(options: readonly string[], values: readonly string[], ctx: Pick<DiagnosticContext, "signal">): Promise<RunResult> {
  try {
    const result = await run("podman", options, values, { timeoutMs: PODMAN_TIMEOUT_MS, maxBytes: PODMAN_MAX_BYTES, signal: ctx.signal });
    if (result.truncated) throw new DiagnosticError("RESOURCE_EXHAUSTED", `podman printed more than ${PODMAN_MAX_BYTES} bytes`);
    return result;
  } catch (err) {
    throw toDiagnosticError(err);
  }
}

/** Maps a failed `podman container inspect` to NOT_FOUND or UNAVAILABLE. */
export function inspectFailure(name: string, result: RunResult): DiagnosticError {
  const msg = firstLine(result.stderr);
  if (/no such (container|object)/i.test(msg)) return new DiagnosticError("NOT_FOUND", `container ${JSON.stringify(name)} does not exist on this host`);
  return new DiagnosticError("UNAVAILABLE", `podman container inspect failed (exit ${result.exitCode}): ${msg}`);
}
