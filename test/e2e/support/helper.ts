// The root helper called the way the operator agent calls it, but by hand inside a container:
// `runuser -u hostward-operator -- sudo -n -- /usr/libexec/hostward/hostward-action` with the
// request as JSON on stdin. What it prints is parsed back: stdout JSON lines (output…, then one
// result or refused), and its own audit JSON line on stderr.
import type { ActionResult } from "../../../proto/catalog/define-action";
import type { HelperRequest } from "../../../agent/src/helper/wire";
import type { Container } from "./container";
import type { RunResult } from "./run";

export const HELPER = "/usr/libexec/hostward/hostward-action";

export interface HelperAudit {
  audit: "hostward-action";
  event: "refused" | "executed";
  mode: string;
  action?: string;
  code?: string;
  exitCode: number;
  verdict?: string;
  spawns: number;
  sudoUser?: string;
  requestId?: string;
  keyId?: string;
}

export interface HelperRun {
  code: number | null;
  outputs: string[];
  result?: ActionResult & { spawns: number };
  refused?: { code: string; exitCode: number; reason: string; spawns: number };
  /** The helper's audit lines on stderr (exactly one when the helper itself ran). */
  audits: HelperAudit[];
  /** Whether every stdout line was output* then one result/refused, in that order. */
  ordered: boolean;
  raw: RunResult;
}

export function parseHelperRun(raw: RunResult): HelperRun {
  const out: HelperRun = { code: raw.code, outputs: [], audits: [], ordered: true, raw };
  let ended = false;
  for (const line of raw.stdout.split("\n")) {
    if (line.trim() === "") continue;
    const msg = JSON.parse(line) as { type: string; line?: string } & Record<string, unknown>;
    if (ended) out.ordered = false;
    if (msg.type === "output") out.outputs.push(String(msg.line));
    else if (msg.type === "result") {
      out.result = msg as unknown as HelperRun["result"];
      ended = true;
    } else if (msg.type === "refused") {
      out.refused = msg as unknown as HelperRun["refused"];
      ended = true;
    }
  }
  for (const line of raw.stderr.split("\n")) {
    if (line.startsWith('{"audit":"hostward-action"')) out.audits.push(JSON.parse(line) as HelperAudit);
  }
  return out;
}

export interface AsOperatorOptions {
  /** Arguments after the helper path (the sudoers line allows none). */
  extraArgs?: string[];
  /** sudo options before "--" (e.g. "LD_PRELOAD=/x": sudo's VAR=value form). */
  sudoArgs?: string[];
  /** Variables set in the caller's environment before sudo (`env NAME=VALUE … sudo …`). */
  callerEnv?: Record<string, string>;
}

/** runuser -u hostward-operator -- [env …] sudo -n [sudoArgs] -- HELPER [extraArgs], request on stdin. */
export async function helperAsOperator(c: Container, request: HelperRequest | string, opts: AsOperatorOptions = {}): Promise<HelperRun> {
  const env = Object.entries(opts.callerEnv ?? {}).map(([k, v]) => `${k}=${v}`);
  const argv = [
    "runuser",
    "-u",
    "hostward-operator",
    "--",
    ...(env.length ? ["env", ...env] : []),
    "sudo",
    "-n",
    ...(opts.sudoArgs ?? []),
    "--",
    HELPER,
    ...(opts.extraArgs ?? []),
  ];
  const input = typeof request === "string" ? request : `${JSON.stringify(request)}\n`;
  return parseHelperRun(await c.exec(argv, { input, timeoutMs: 150_000 }));
}
