// The only module of the agent that starts processes (a test greps for child_process imports).
// Rules it enforces for every command:
// - the program is one of the fixed table (shared/programs.ts, the reader's subset below), resolved
//   to an absolute path once; never a shell;
// - options are literal flags chosen by code; caller-derived values go after "--" and may not
//   start with "-" or contain NUL/newline (the one argument rule, shared/programs.ts buildArgv);
// - a fixed environment (LANG=C.UTF-8, no pager, no colours), stdin closed;
// - a deadline (SIGKILL when it passes) and an output cap (the rest is dropped and flagged).
import { spawn } from "node:child_process";
import { killProcessGroup } from "./process-group";
import { accessSync, constants } from "node:fs";
import { AsyncLocalStorage } from "node:async_hooks";
import { CHILD_ENV } from "./child-env";
import { buildArgv as checkArgv, PROGRAMS, type ProgramName } from "../../shared/programs";

/** The programs the reader role runs (a subset of the one table, shared/programs.ts). */
export type Program = Extract<ProgramName, "systemctl" | "journalctl" | "timedatectl" | "podman" | "ping">;


const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;

export class ExecError extends Error {
  constructor(
    message: string,
    readonly kind: "not-installed" | "refused" | "timeout" | "spawn-failed",
  ) {
    super(message);
    this.name = "ExecError";
  }
}

export interface RunOptions {
  timeoutMs?: number;
  maxBytes?: number;
  signal?: AbortSignal;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  truncated: boolean;
  durationMs: number;
}

/** Per-RPC accounting: how many processes a call started (logged; asserted by tests). */
export interface ExecScope {
  spawns: number;
}
export const execScope = new AsyncLocalStorage<ExecScope>();

const resolved = new Map<Program, string | null>();

/** The absolute path of a program, or null when it is not installed on this host. */
function programPath(program: Program): string | null {
  if (!resolved.has(program)) {
    let found: string | null = null;
    for (const candidate of PROGRAMS[program]) {
      try {
        accessSync(candidate, constants.X_OK);
        found = candidate;
        break;
      } catch {
        // try the next candidate
      }
    }
    resolved.set(program, found);
  }
  return resolved.get(program) ?? null;
}

/** Checks argv construction rules (shared/programs.ts); exported for tests. Throws ExecError("refused"). */
function buildArgv(options: readonly string[], values: readonly string[]): string[] {
  try {
    return checkArgv(options, values);
  } catch (err) {
    throw new ExecError((err as Error).message, "refused");
  }
}

/**
 * Runs `program options… -- values…` and resolves with its output (whatever its exit code).
 * Rejects with ExecError when the program is missing, the argv is refused, or the deadline passes.
 */
export function run(
  program: Program,
  options: readonly string[],
  values: readonly string[] = [],
  opts: RunOptions = {},
): Promise<RunResult> {
  const path = programPath(program);
  if (path === null) {
    return Promise.reject(new ExecError(`${program} is not installed on this host`, "not-installed"));
  }
  let argv: string[];
  try {
    argv = buildArgv(options, values);
  } catch (err) {
    return Promise.reject(err);
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const scope = execScope.getStore();
  if (scope) scope.spawns += 1;
  const started = performance.now();

  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(path, argv, {
      env: { ...CHILD_ENV },
      stdio: ["ignore", "pipe", "pipe"],
      shell: false,
      windowsHide: true,
      cwd: "/",
      // Its own process group, so the deadline ends every process it started (process-group.ts).
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let truncated = false;
    let timedOut = false;

    // The whole group, even when the program itself has exited and a child of it still holds the
    // pipes; then stop reading them, so "close" comes now whatever is left.
    const kill = () => {
      killProcessGroup(child.pid);
      child.stdout.destroy();
      child.stderr.destroy();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    const onAbort = () => {
      timedOut = true;
      kill();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });

    child.stdout.on("data", (chunk: Buffer) => {
      if (outBytes >= maxBytes) {
        truncated = true;
        return;
      }
      const room = maxBytes - outBytes;
      if (chunk.length > room) {
        truncated = true;
        chunk = chunk.subarray(0, room);
      }
      outBytes += chunk.length;
      out.push(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      if (errBytes < 64 * 1024) {
        err.push(chunk.subarray(0, 64 * 1024 - errBytes));
        errBytes += chunk.length;
      }
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      reject(new ExecError(`${program} could not be started: ${e.message}`, "spawn-failed"));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      if (timedOut) {
        reject(new ExecError(`${program} did not finish within ${timeoutMs} ms`, "timeout"));
        return;
      }
      resolve({
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        exitCode: code,
        truncated,
        durationMs: performance.now() - started,
      });
    });
  });
}
