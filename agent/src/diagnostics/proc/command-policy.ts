// Which command line of a process the reader returns: redacted always (redact.ts), and for a login
// user's process (uid UID_MIN..UID_MAX of /etc/login.defs) only its program name unless the host
// allows more (agent.yaml processes.showLoginUserCommandLines). Services and root are what the
// diagnostics are for; the people logged in to the host keep their command lines to themselves.
import { readFileSync } from "node:fs";
import type { AgentConfig } from "../../config";
import { compilePatterns, type RedactionPolicy } from "../../redact";
import { readCommand } from "./processes";

export type CommandRedaction = "none" | "secrets" | "hidden";

export interface CommandPolicy {
  redaction: RedactionPolicy;
  showLoginUsers: boolean;
  loginUids: { min: number; max: number };
}

/** UID_MIN / UID_MAX of /etc/login.defs (useradd's range for login users), else 1000 / 60000. */
export function loginUidRange(text: string | null): { min: number; max: number } {
  const value = (key: string, def: number) => {
    const m = text === null ? null : new RegExp(`^\\s*${key}\\s+(\\d+)\\s*$`, "m").exec(text);
    return m ? Number(m[1]) : def;
  };
  return { min: value("UID_MIN", 1000), max: value("UID_MAX", 60000) };
}

let loginDefs: { min: number; max: number } | undefined;
function hostLoginUids(): { min: number; max: number } {
  if (!loginDefs) {
    let text: string | null;
    try {
      text = readFileSync("/etc/login.defs", "utf8").slice(0, 256 * 1024);
    } catch {
      text = null;
    }
    loginDefs = loginUidRange(text);
  }
  return loginDefs;
}

const cache = new WeakMap<object, CommandPolicy>();

export function commandPolicy(config: AgentConfig): CommandPolicy {
  const hit = cache.get(config.processes);
  if (hit) return hit;
  const policy: CommandPolicy = {
    redaction: { extra: compilePatterns(config.processes.redactPatterns) },
    showLoginUsers: config.processes.showLoginUserCommandLines,
    loginUids: hostLoginUids(),
  };
  cache.set(config.processes, policy);
  return policy;
}

/** The command line to return for a process, and what was done to it; null when the process is gone. */
export async function commandFor(
  pid: number,
  comm: string,
  uid: number,
  maxChars: number,
  policy: CommandPolicy,
): Promise<{ command: string; commandRedacted: CommandRedaction } | null> {
  const read = await readCommand(pid, comm, maxChars, policy.redaction);
  if (read === null) return null;
  const loginUser = uid >= policy.loginUids.min && uid <= policy.loginUids.max;
  // Hidden: only the kernel's process name (argv[0] is whatever the process wrote there).
  if (loginUser && !policy.showLoginUsers && !read.command.startsWith("[")) return { command: comm, commandRedacted: "hidden" };
  return { command: read.command, commandRedacted: read.redacted ? "secrets" : "none" };
}
