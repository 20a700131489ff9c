// systemctl through exec.ts: --no-pager always, unit names after "--", a deadline and an output
// cap on every call, and "systemd is not running here" reported as FAILED_PRECONDITION.
import { existsSync } from "node:fs";
import { canonicalUnit } from "../../../proto/catalog/grammar";
import { run, type RunResult } from "../exec";
import { DiagnosticError, type DiagnosticContext } from "../diagnostics/context";
import { firstLine, toDiagnosticError } from "./exec-errors";
import { type ShowBlock, parseShow } from "./show";

const SYSTEMCTL_TIMEOUT_MS = 10_000;
const SYSTEMCTL_MAX_BYTES = 8 * 1024 * 1024;

/** sd_booted(): systemd creates this directory when it is PID 1. */
const SYSTEMD_RUNTIME_DIR = "/run/systemd/system";

// What systemctl prints when PID 1 is not systemd or its bus is unreachable.
const NOT_RUNNING = /has not been booted with systemd|Failed to connect to bus|System has not been booted|Host is down/;

function assertSystemdRunning(runtimeDir = SYSTEMD_RUNTIME_DIR): void {
  if (!existsSync(runtimeDir)) {
    throw new DiagnosticError(
      "FAILED_PRECONDITION",
      `systemd is not running on this host (${runtimeDir} does not exist: PID 1 is not systemd)`,
    );
  }
}

/** FAILED_PRECONDITION when systemctl's output says systemd is not PID 1 or its bus is down. */
export function notRunningError(result: Pick<RunResult, "exitCode" | "stderr">): DiagnosticError | null {
  if (result.exitCode === 0 || !NOT_RUNNING.test(result.stderr)) return null;
  return new DiagnosticError("FAILED_PRECONDITION", `systemd is not running on this host (${firstLine(result.stderr)})`);
}

/**
 * Runs `systemctl VERB --no-pager OPTIONS… -- VALUES…` and resolves with its output when it exits
 * 0; every other outcome is a DiagnosticError (FAILED_PRECONDITION when systemd is not running).
 */
export async function systemctl(
  verb: string,
  options: readonly string[],
  values: readonly string[],
  ctx: Pick<DiagnosticContext, "signal">,
): Promise<RunResult> {
  assertSystemdRunning();
  let result: RunResult;
  try {
    result = await run("systemctl", [verb, "--no-pager", ...options], values, {
      timeoutMs: SYSTEMCTL_TIMEOUT_MS,
      maxBytes: SYSTEMCTL_MAX_BYTES,
      signal: ctx.signal,
    });
  } catch (err) {
    throw toDiagnosticError(err);
  }
  return checkSystemctlResult(verb, result);
}

/** The result of a systemctl call that exited 0 and was not cut; a DiagnosticError otherwise. */
export function checkSystemctlResult(verb: string, result: RunResult): RunResult {
  const notRunning = notRunningError(result);
  if (notRunning) throw notRunning;
  if (result.exitCode !== 0) {
    // Never parse the (empty or partial) stdout of a failed call: a non-root user whose D-Bus
    // call failed would otherwise be told "no failed units".
    const msg = firstLine(result.stderr);
    if (/not valid|Invalid unit name/i.test(msg)) throw new DiagnosticError("INVALID_ARGUMENT", `unit: systemd refused the name (${msg})`);
    throw new DiagnosticError("UNAVAILABLE", `systemctl ${verb} failed (exit ${result.exitCode}): ${msg}`);
  }
  if (result.truncated) {
    throw new DiagnosticError("RESOURCE_EXHAUSTED", `systemctl ${verb} printed more than ${SYSTEMCTL_MAX_BYTES} bytes`);
  }
  return result;
}

/** `systemctl show` for units (already canonical), one block per unit in argument order. */
export async function showUnits(units: readonly string[], properties: readonly string[], ctx: Pick<DiagnosticContext, "signal">): Promise<ShowBlock[]> {
  const result = await systemctl("show", ["--timestamp=us+utc", `--property=${properties.join(",")}`], units, ctx);
  return parseShow(result.stdout);
}

/** The show block of one unit; NOT_FOUND when systemd does not know it. */
export async function showUnit(unit: string, properties: readonly string[], ctx: Pick<DiagnosticContext, "signal">): Promise<ShowBlock> {
  const canonical = canonicalUnit(unit);
  const [block] = await showUnits([canonical], properties, ctx);
  return requireKnown(block, canonical);
}

/** The block of a unit systemd knows; NOT_FOUND for LoadState=not-found. */
export function requireKnown(block: ShowBlock | undefined, canonical: string): ShowBlock {
  if (!block) throw new DiagnosticError("UNAVAILABLE", `systemctl show printed nothing for ${canonical}`);
  if (block.get("LoadState") === "not-found") {
    throw new DiagnosticError("NOT_FOUND", `unit ${canonical} is not known to systemd on this host (LoadState=not-found)`);
  }
  return block;
}
