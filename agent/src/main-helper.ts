// Entry point of the sudo helper (dist/agent/hostward-action.cjs, installed root-owned as
// /usr/libexec/hostward/hostward-action and allowed by exactly one sudoers line for
// hostward-operator). This version is the skeleton: it checks its invocation and refuses every
// one, saying why, with a distinct exit code (helper/guard.ts). The actions arrive in a later issue.
import { statSync } from "node:fs";
import { dirname } from "node:path";
import { decide, HELPER_EXIT, type Invocation } from "./helper/guard";

function selfFacts(path: string): Invocation["self"] {
  const file = statSync(path);
  const dir = statSync(dirname(path));
  return { path, uid: file.uid, mode: file.mode, dirUid: dir.uid, dirMode: dir.mode };
}

function main(): number {
  const invocation: Invocation = {
    args: process.argv.slice(2),
    execArgv: process.execArgv,
    env: { ...process.env },
    euid: process.geteuid?.() ?? -1,
    uid: process.getuid?.() ?? -1,
    self: selfFacts(__filename),
  };
  const refusal = decide(invocation);
  process.stderr.write(`hostward-action: ${refusal.message}\n`);
  return refusal.exitCode;
}

try {
  process.exitCode = main();
} catch (err) {
  process.stderr.write(`hostward-action: refused: ${(err as Error).message}\n`);
  process.exitCode = HELPER_EXIT.noPermission;
}
