// The operator agent's ONE spawner (test/agent/exec-guard.test.ts): it starts the root helper and
// nothing else. In sudo mode exactly `/usr/bin/sudo -n -- /usr/libexec/hostward/hostward-action`
// (no argument after the helper: the sudoers line allows none); in direct mode (local fleets)
// `node <bundle>` with the helper's directories in HOSTWARD_* variables. The request goes to the
// helper's stdin as one JSON object; its stdout is JSON lines (output…, then result or refused);
// its stderr (the helper's own audit line) is copied to the agent's stderr, which the journal keeps.
//
// Pipes, not a pseudo-terminal, on this hop: a pty would echo the request back into the reply
// stream, merge the audit line into it and cut canonical-mode input at 4095 bytes. The pty that
// makes programs line-buffer sits one hop further, between the helper and the programs it runs
// (helper/spawn.ts).
import { spawn } from "node:child_process";
import { actionPreview, actionResult, type ActionPreview, type ActionResult } from "../../../proto/catalog/define-action";
import { describeIssues } from "../../../shared/zod-issues";
import { SUDO_HELPER, type HelperConfig } from "../config";
import type { RefusalCode } from "../helper/exit-codes";
import { EXPECTED_PATHS } from "../helper/guard";
import type { LedgerEntry, VoidedEntry } from "../helper/ledger";
import type { HelperLine, HelperQuery, HelperRequest } from "../helper/wire";

interface HelperCommand {
  file: string;
  args: string[];
  env: Record<string, string>;
}

/** The exact command for a helper configuration (exported for tests and `hostward-agent check`). */
function helperCommand(config: HelperConfig): HelperCommand {
  // sudo's env_reset replaces this anyway; the helper refuses any PATH but secure_path's.
  const env: Record<string, string> = { PATH: EXPECTED_PATHS[0] ?? "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" };
  if (config.mode === "sudo") return { file: SUDO_HELPER.sudo, args: ["-n", "--", SUDO_HELPER.helper], env };
  return {
    file: config.node ?? process.execPath,
    args: [config.path],
    env: {
      ...env,
      HOSTWARD_HELPER_MODE: "direct",
      HOSTWARD_APPROVERS_DIR: config.approversDir,
      HOSTWARD_STATE_DIR: config.stateDir,
      HOSTWARD_ACTIONS_FILE: config.actionsFile,
      HOSTWARD_AGENT_CERT: config.agentCert,
    },
  };
}

export type HelperOutcome =
  | { kind: "result"; result: ActionResult; spawns: number }
  | { kind: "refused"; code: RefusalCode; exitCode: number; reason: string }
  /** The answer to a preview query (HelperQuery), validated against the catalog's preview schema. */
  | { kind: "preview"; preview: ActionPreview; approvalsRequired?: number }
  /** The answer to a ledger query (HelperQuery). */
  | { kind: "ledger"; entry: LedgerEntry | VoidedEntry | null; running?: boolean; unreadable?: string }
  /** The helper ended without a result or refusal line (sudo refused, a crash, the deadline). */
  | { kind: "failed"; detail: string };

export interface RunHelperOptions {
  /** Each output line, with the helper's stamp (µs since the Unix epoch; 0 if it gave none). */
  onOutput(line: string, atUnixMicros: number): void;
  /** Past this the helper is sent SIGTERM, then SIGKILL 5 s later. */
  timeoutMs: number;
  /** Where the helper's stderr lines go (default: this process's stderr). */
  stderr?: NodeJS.WritableStream;
}

const MAX_LINE_BYTES = 512 * 1024;
const MAX_STDOUT_BYTES = 8 * 1024 * 1024;
const KEEP_STDERR_LINES = 5;

/** Runs the helper once for `request`; resolves when it has exited. Never rejects for a helper failure. */
export function runHelper(config: HelperConfig, request: HelperRequest | HelperQuery, opts: RunHelperOptions): Promise<HelperOutcome> {
  const cmd = helperCommand(config);
  const errOut = opts.stderr ?? process.stderr;
  return new Promise((resolve) => {
    const child = spawn(cmd.file, cmd.args, { env: cmd.env, stdio: ["pipe", "pipe", "pipe"], cwd: "/", shell: false, windowsHide: true });
    let outcome: HelperOutcome | undefined;
    let problem: string | undefined;
    let pending = "";
    let stdoutBytes = 0;
    const lastStderr: string[] = [];

    const onLine = (text: string) => {
      if (text.trim() === "" || outcome) return;
      let line: HelperLine;
      try {
        line = JSON.parse(text) as HelperLine;
      } catch {
        problem = `the helper printed a line that is not JSON: ${JSON.stringify(text.slice(0, 200))}`;
        return;
      }
      if (line.type === "output" && typeof line.line === "string") opts.onOutput(line.line, Number.isSafeInteger(line.at) && line.at > 0 ? line.at : 0);
      else if (line.type === "ledger")
        outcome = { kind: "ledger", entry: line.entry ?? null, ...(typeof line.running === "boolean" && { running: line.running }), ...(typeof line.unreadable === "string" && { unreadable: line.unreadable.slice(0, 500) }) };
      else if (line.type === "preview") {
        const checked = actionPreview.safeParse(line.preview);
        const n = line.approvalsRequired;
        if (checked.success) outcome = { kind: "preview", preview: checked.data, ...(Number.isSafeInteger(n) && n! >= 1 && n! <= 9 && { approvalsRequired: n }) };
        else problem = "the helper's preview does not match the catalog's preview schema";
      } else if (line.type === "refused") outcome = { kind: "refused", code: line.code, exitCode: line.exitCode, reason: String(line.reason).slice(0, 4096) };
      else if (line.type === "result") {
        const { type: _t, spawns, ...rest } = line;
        const checked = actionResult.safeParse(rest);
        if (checked.success) outcome = { kind: "result", result: checked.data, spawns: Number(spawns) || 0 };
        else problem = `the helper's result does not match the catalog's result schema: ${describeIssues(checked.error)}`;
      }
    };

    child.stdout.on("data", (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > MAX_STDOUT_BYTES) {
        problem = `the helper printed more than ${MAX_STDOUT_BYTES} bytes`;
        child.kill("SIGTERM");
        return;
      }
      pending += chunk.toString("utf8");
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        onLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
      if (pending.length > MAX_LINE_BYTES) {
        problem = `the helper printed a line longer than ${MAX_LINE_BYTES} bytes`;
        pending = "";
      }
    });
    let errPending = "";
    child.stderr.on("data", (chunk: Buffer) => {
      errOut.write(chunk);
      errPending = (errPending + chunk.toString("utf8")).slice(-16 * 1024);
      const lines = errPending.split("\n");
      errPending = lines.pop() ?? "";
      for (const l of lines) if (l.trim() !== "") lastStderr.push(l.slice(0, 500));
      lastStderr.splice(0, Math.max(0, lastStderr.length - KEEP_STDERR_LINES));
    });

    let killTimer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => {
      problem = `the helper did not finish within ${opts.timeoutMs} ms`;
      child.kill("SIGTERM");
      killTimer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    }, opts.timeoutMs);

    child.on("error", (err) => {
      problem = `the helper could not be started (${cmd.file}): ${err.message}`;
    });
    child.on("close", (code, signal) => {
      clearTimeout(deadline);
      if (killTimer) clearTimeout(killTimer);
      if (pending !== "") onLine(pending);
      if (outcome) {
        resolve(outcome);
        return;
      }
      const how = signal ? `was killed by ${signal}` : `exited with ${code}`;
      const said = lastStderr.filter((l) => !l.startsWith('{"audit"')).join(" | ");
      resolve({ kind: "failed", detail: `${problem ?? `the helper ${how} without a result`}${said ? ` (stderr: ${said})` : ""}` });
    });

    child.stdin.on("error", () => {
      // The helper may refuse and exit before reading its stdin (EPIPE): its stdout says why.
    });
    child.stdin.end(`${JSON.stringify(request)}\n`);
  });
}
