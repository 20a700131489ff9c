// Entry point of the root helper (dist/agent/hostward-action.cjs, installed root-owned as
// /usr/libexec/hostward/hostward-action and allowed by exactly one sudoers line for
// hostward-operator, with no arguments). The request arrives as JSON on stdin; replies are JSON
// lines on stdout; the helper's own audit record is one JSON line on stderr (the journal keeps
// it). See helper/run.ts for the order of the checks and helper/exit-codes.ts for exit codes.
import { statSync } from "node:fs";
import { dirname } from "node:path";
import { HELPER_EXIT } from "./helper/exit-codes";
import type { Invocation } from "./helper/guard";
import { runHelper } from "./helper/run";

function selfFacts(path: string): Invocation["self"] {
  const file = statSync(path);
  const dir = statSync(dirname(path));
  return { path, uid: file.uid, mode: file.mode, dirUid: dir.uid, dirMode: dir.mode };
}

async function main(): Promise<number> {
  const invocation: Invocation = {
    args: process.argv.slice(2),
    execArgv: process.execArgv,
    env: { ...process.env },
    euid: process.geteuid?.() ?? -1,
    uid: process.getuid?.() ?? -1,
    self: selfFacts(__filename),
  };
  return runHelper({ invocation, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, bundleDir: dirname(__filename) });
}

main().then(
  (code) => {
    process.exitCode = code;
    // stdin may still be open (a caller that never closes it): do not wait for it.
    process.stdin.destroy();
  },
  (err: unknown) => {
    process.stderr.write(`hostward-action: refused: ${(err as Error).message}\n`);
    process.exitCode = HELPER_EXIT.noPermission;
    process.stdin.destroy();
  },
);
