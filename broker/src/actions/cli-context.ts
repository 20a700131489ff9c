// What `hostward approve|reject|actions` need: the broker's state directory (from DIR/broker.yaml,
// no inventory or policy needed) with its request store and audit log, and who is at the keyboard.
import { readdirSync, readFileSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";
import { parseApproverLine } from "../../../proto/catalog/approval";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { openState } from "../state/open";
import type { AuditStore, StateStore } from "../state/store";
import { loadBrokerSettings } from "../config/load";
import { configFiles, defaultConfigDir, defaultStateDir } from "../paths";
import { RolloutService } from "../rollouts/service";
import { ROLLOUT_RECORD_ID } from "../rollouts/record";
import { ACTION_ID } from "./request";
import { ActionService } from "./service";

export function openActions(configDir: string | undefined): { service: ActionService; rollouts: RolloutService; audit: AuditStore; state: StateStore; stateDir: string; configDir: string } {
  const dir = configDir ?? defaultConfigDir();
  const settings = loadBrokerSettings(dir);
  const stateDir = settings.stateDir ?? defaultStateDir();
  const state = openState(settings, stateDir, dir, { applicationName: "hostward-cli" });
  const ttl = () => settings.approvalTtlSeconds;
  return { service: new ActionService(state.actions, state.audit, ttl), rollouts: new RolloutService(state.rollouts, state.audit, ttl), audit: state.audit, state, stateDir, configDir: dir };
}

/**
 * The person a signing key belongs to, as its approver line says (identity="NAME", the name the
 * hosts' four-eyes check compares with the requester): the lines in DIR/pki/approvers/*.approver
 * (what `hostward pki approver-key --identity` writes and the hosts install). Undefined when no
 * line there names the key or the line names no one; an unreadable line is skipped.
 */
export function approverIdentity(configDir: string | undefined, keyId: string): string | undefined {
  const dir = join(configFiles(configDir ?? defaultConfigDir()).pkiDir, "approvers");
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(".approver")).sort();
  } catch {
    return undefined;
  }
  for (const name of names.slice(0, 1000)) {
    let text: string;
    try {
      text = readFileSync(join(dir, name), "utf8").slice(0, 64 * 1024);
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      if (line.trim() === "" || line.startsWith("#")) continue;
      try {
        const key = parseApproverLine(line.trim());
        if (key.keyId === keyId) return key.identity;
      } catch {
        // not an approver line
      }
    }
  }
  return undefined;
}

/** "alice@laptop": the local account running the command (recorded with the key that signed). */
export function localIdentity(): string {
  let user = "unknown";
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (a container's arbitrary uid): keep "unknown".
  }
  return `${user}@${hostname()}`;
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * `hostward <command> ID [options]`: parses strictly, answers --help, and checks there is exactly
 * one action id. Returns the exit code to stop with (usage printed), or the id and the options.
 */
export function parseIdCommand<O extends Options>(
  command: string,
  argv: string[],
  options: O,
  usage: string,
): { exit: number } | { id: string; values: ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>["values"] } {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true as const, strict: true as const });
  } catch (err) {
    process.stderr.write(`hostward ${command}: ${(err as Error).message}\n\n${usage}`);
    return { exit: 2 };
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(usage);
    return { exit: 0 };
  }
  const [id, ...extra] = parsed.positionals;
  if (id === undefined || extra.length > 0 || !(ACTION_ID.test(id) || ROLLOUT_RECORD_ID.test(id))) {
    process.stderr.write(`hostward ${command}: give exactly one action id (act-…) or roll-out id (ro-…)\n\n${usage}`);
    return { exit: 2 };
  }
  return { id, values: parsed.values };
}
