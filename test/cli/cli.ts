// Runs the built `hostward` CLI (dist/hostward.cjs, what ships) as a child process.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const CLI = join(import.meta.dirname, "..", "..", "dist", "hostward.cjs");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function hostward(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** True while `pid` runs; a zombie (exited, not yet reaped by its new parent) counts as gone. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) [ZX] /s.test(stat);
  } catch {
    return false;
  }
}
