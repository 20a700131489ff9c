// Runs one program with an argv array (never a shell), a deadline and captured output. Every
// host-side command of the e2e suite (nspawn, nsenter, ip, dpkg-deb, rpm, tar, debootstrap) goes
// through here, so a hung command fails the test with its argv instead of hanging the suite.
import { spawn } from "node:child_process";

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Kill (SIGKILL) after this many ms; default 60 s. */
  timeoutMs?: number;
  /** Written to the program's stdin, which is then closed. */
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Output beyond this is dropped (the suite never needs more; a runaway command cannot eat memory). */
const MAX_OUTPUT = 32 * 1024 * 1024;

export const CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export function run(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? { PATH: CLEAN_PATH, LANG: "C.UTF-8" },
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (c: Buffer) => {
      if (stdout.length < MAX_OUTPUT) stdout += c.toString("utf8");
    });
    child.stderr?.on("data", (c: Buffer) => {
      if (stderr.length < MAX_OUTPUT) stderr += c.toString("utf8");
    });
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${command}: ${err.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (signal === "SIGKILL" && code === null) stderr += `\n(killed after ${timeoutMs} ms)`;
      resolve({ code, signal, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export function describeRun(command: string, args: readonly string[], r: RunResult): string {
  return `${command} ${args.join(" ")} → exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}`;
}

/** Like run(), but throws (with argv, exit code and both outputs) unless the exit code is 0. */
export async function runOk(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(command, args, opts);
  if (r.code !== 0) throw new Error(describeRun(command, args, r));
  return r;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ""}`);
    }
    await sleep(intervalMs);
  }
}
