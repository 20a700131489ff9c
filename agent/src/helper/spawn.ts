// The helper's ONE spawner (test/agent/exec-guard.test.ts: only this module, the operator's
// actions/run-helper.ts and agent/src/exec.ts start processes under agent/). Rules for every
// command: a program from the one fixed table (shared/programs.ts), by absolute path; options chosen by code;
// values after "--" and never starting with "-"; a fixed environment; no stdin; a deadline
// (SIGKILL) and an output cap. Programs whose output is streamed run on a pseudo-terminal
// (node-pty) so they line-buffer and their output reaches the caller live, line by line; programs
// whose output is parsed (`pipes`) run on pipes, which are always read to their end.
//
// node-pty's JavaScript is bundled; its native pty.node is loaded from a fixed path: in sudo
// mode only /usr/lib/hostward/pty.node, root-owned and not writable by group or others (the
// package installs it there beside the agent bundles); in direct mode also the development
// checkout's node_modules copy.
import { spawn } from "node:child_process";
import { statSync } from "node:fs";
import { constants } from "node:os";
import Module from "node:module";
import { join } from "node:path";
import type * as NodePty from "node-pty";
import { CHILD_ENV } from "../child-env";
import { killProcessGroup } from "../process-group";
import { HelperRefusal } from "./exit-codes";
import type { HelperMode } from "./guard";
import { nowUnixMicros } from "./wire";
import { argvOf, type RenderedStep } from "../../../proto/catalog/define-action";
import { isFixedOption, isValue, PROGRAMS, type ProgramName } from "../../../shared/programs";

export type Program = ProgramName;

const PRODUCTION_PTY_NATIVE = "/usr/lib/hostward/pty.node";
const MAX_LINE = 4096;

let spawns = 0;
/** Processes started so far by this helper run (written to the audit line and the result). */
export function spawnCount(): number {
  return spawns;
}

export function programPath(program: Program): string | null {
  for (const candidate of PROGRAMS[program]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // next candidate
    }
  }
  return null;
}

function nativeCandidates(mode: HelperMode, bundleDir: string): string[] {
  if (mode === "sudo") return [PRODUCTION_PTY_NATIVE];
  return [join(bundleDir, "pty.node"), PRODUCTION_PTY_NATIVE, join(bundleDir, "..", "..", "node_modules", "node-pty", "build", "Release", "pty.node")];
}

let pty: typeof NodePty | undefined;

/**
 * Loads node-pty with its native addon from a trusted path. Called once, early (before any
 * approval is consumed), so a host without the addon refuses instead of failing half-way.
 */
export function loadPty(mode: HelperMode, bundleDir: string): void {
  if (pty) return;
  const owners = mode === "sudo" ? [0] : [0, process.geteuid?.() ?? 0];
  const found = nativeCandidates(mode, bundleDir).find((p) => {
    try {
      const st = statSync(p);
      return st.isFile() && owners.includes(st.uid) && (st.mode & 0o022) === 0;
    } catch {
      return false;
    }
  });
  if (!found) {
    throw new HelperRefusal("CONFIG", `node-pty's native addon is missing or not root's alone (looked for ${nativeCandidates(mode, bundleDir).join(", ")}); reinstall the package`);
  }
  // node-pty asks for "../build/Release//pty.node" relative to itself; inside a bundle that
  // resolves nowhere, so exactly that request is redirected to the file checked above.
  const mod = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const original = mod._resolveFilename;
  mod._resolveFilename = function resolve(request: string, ...rest: unknown[]): string {
    if (/^\.\.?\/build\/(?:Release|Debug)\/\/?pty\.node$/.test(request)) return found;
    return original.call(this, request, ...rest);
  };
  // A literal require so esbuild bundles node-pty's JavaScript; loaded only after the checks above.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a literal require, after the checks above, so esbuild bundles node-pty's JavaScript and the addon loads only from the checked path
  pty = require("node-pty") as typeof NodePty;
}

export interface SpawnResult {
  exitCode: number;
  signal: number | null;
  timedOut: boolean;
  /** Lines kept (the first maxLines); every line was also passed to onLine. */
  lines: string[];
  truncated: boolean;
  /** Ended by `SpawnOptions.signal` (the helper was told to stop), not by its deadline. */
  aborted?: boolean;
}

export interface SpawnOptions {
  timeoutMs: number;
  /** Each line, with when it was read off the pty (nowUnixMicros(): the chunk that completed it). */
  onLine(line: string, atUnixMicros: number): void;
  maxLines?: number;
  /**
   * Pipes instead of a pty, for output that is parsed rather than streamed (systemctl show, podman
   * inspect): a pipe is read to its end before "close", whereas node-pty on Linux can report the
   * exit with the last bytes of a short-lived program still unread (seen under load: an empty
   * `systemctl show`, so a loaded unit looked "not loaded"). stdout then stderr lines.
   */
  pipes?: boolean;
  /** Ends the program (its whole process group) as its deadline would, e.g. when the helper is told to stop. */
  signal?: AbortSignal;
}

/** Runs `program options… -- values…` on a pty; resolves when it exits or its deadline kills it. */
export function spawnProgram(program: Program, options: readonly string[], values: readonly string[], opts: SpawnOptions): Promise<SpawnResult> {
  for (const o of options) if (!isFixedOption(o)) return Promise.reject(new Error(`refused option ${JSON.stringify(o)}`));
  for (const v of values) if (!isValue(v)) return Promise.reject(new Error(`refused value ${JSON.stringify(v.slice(0, 64))}`));
  return spawnArgv(program, values.length > 0 ? [...options, "--", ...values] : [...options], {}, opts);
}

/**
 * Runs one step of an action's rendered plan (define-action.ts renderPlan): its argv is checked
 * again level by level (argvOf), its program and the one a transient step wraps must be installed
 * at the path the plan shows.
 */
export function spawnStep(step: RenderedStep, opts: SpawnOptions): Promise<SpawnResult> {
  let argv: string[];
  try {
    argv = argvOf(step);
  } catch (err) {
    return Promise.reject(err as Error);
  }
  for (const [program, path] of [[step.program, step.path], ...(step.inner ? [[step.inner.program, step.inner.path] as const] : [])] as const) {
    if (programPath(program) !== path) return Promise.reject(new Error(`${program} is not at ${path} on this host`));
  }
  return spawnArgv(step.program, argv, step.inner ? {} : (step.env ?? {}), opts);
}

function spawnArgv(program: Program, argv: string[], env: Readonly<Record<string, string>>, opts: SpawnOptions): Promise<SpawnResult> {
  const path = programPath(program);
  if (path === null) return Promise.reject(new Error(`${program} is not installed on this host`));
  if (!pty) return Promise.reject(new Error("loadPty() was not called"));
  for (const k of Object.keys(env)) if (!/^[A-Z][A-Z0-9_]{0,63}$/.test(k)) return Promise.reject(new Error(`refused variable ${JSON.stringify(k)}`));
  const childEnv = { ...CHILD_ENV, ...env };
  const maxLines = opts.maxLines ?? 2000;
  spawns += 1;
  if (opts.pipes) return spawnOnPipes(path, argv, childEnv, maxLines, opts);
  const term = pty.spawn(path, argv, { name: "dumb", cols: 200, rows: 50, cwd: "/", env: childEnv });
  return new Promise((resolve) => {
    const lines: string[] = [];
    let truncated = false;
    let partial = "";
    let timedOut = false;
    const emit = (raw: string, at: number) => {
      const line = raw.replace(/\r$/, "").slice(0, MAX_LINE);
      if (lines.length < maxLines) {
        lines.push(line);
        opts.onLine(line, at);
      } else truncated = true;
    };
    const data = term.onData((chunk) => {
      // Stamped as the chunk arrives: every line it completes was read off the pty now.
      const at = nowUnixMicros();
      partial += chunk;
      const parts = partial.split("\n");
      partial = parts.pop() ?? "";
      for (const p of parts) emit(p, at);
      if (partial.length > MAX_LINE) {
        emit(partial, at);
        partial = "";
      }
    });
    // node-pty makes the program a session (and process group) leader: the deadline ends the group.
    const timer = setTimeout(() => {
      timedOut = true;
      killProcessGroup(term.pid);
    }, opts.timeoutMs);
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      killProcessGroup(term.pid);
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    term.onExit(({ exitCode, signal }) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      // Give the last chunk a turn of the event loop: node-pty can report the exit first.
      setImmediate(() => {
        data.dispose();
        if (partial.replace(/\r$/, "") !== "") emit(partial, nowUnixMicros());
        resolve({ exitCode, signal: signal ?? null, timedOut, lines, truncated, ...(aborted && { aborted }) });
      });
    });
  });
}

function spawnOnPipes(path: string, argv: string[], env: Record<string, string>, maxLines: number, opts: SpawnOptions): Promise<SpawnResult> {
  return new Promise((resolve) => {
    // Its own process group, so the deadline ends every process it started (process-group.ts).
    const child = spawn(path, argv, { cwd: "/", env, stdio: ["ignore", "pipe", "pipe"], shell: false, windowsHide: true, detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let bytes = 0;
    const cap = maxLines * MAX_LINE;
    const keep = (into: Buffer[]) => (chunk: Buffer) => {
      if (bytes >= cap) return;
      bytes += chunk.length;
      into.push(chunk);
    };
    child.stdout.on("data", keep(out));
    child.stderr.on("data", keep(err));
    let timedOut = false;
    const end = () => {
      killProcessGroup(child.pid);
      child.stdout.destroy();
      child.stderr.destroy();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      end();
    }, opts.timeoutMs);
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      end();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    let done = false;
    const finish = (exitCode: number, signal: number | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      const at = nowUnixMicros();
      const text = [Buffer.concat(out).toString("utf8"), Buffer.concat(err).toString("utf8")].filter((t) => t !== "").join("\n");
      const all = text === "" ? [] : text.replace(/\n$/, "").split("\n").map((l) => l.replace(/\r$/, "").slice(0, MAX_LINE));
      const lines = all.slice(0, maxLines);
      for (const l of lines) opts.onLine(l, at);
      resolve({ exitCode, signal, timedOut, lines, truncated: all.length > maxLines || bytes >= cap, ...(aborted && { aborted }) });
    };
    child.on("error", () => finish(127, null));
    // "close": the process has exited AND both pipes are read to their end.
    child.on("close", (code, signal) => finish(code ?? 128, signal ? (constants.signals[signal] ?? 9) : null));
  });
}
