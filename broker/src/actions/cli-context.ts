// What `hostward approve|reject|actions` need: the broker's state directory (from DIR/broker.yaml,
// no inventory or policy needed) with its request store and audit log, and who is at the keyboard.
import { hostname, userInfo } from "node:os";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { openState } from "../state/open";
import type { AuditStore, StateStore } from "../state/store";
import { loadBrokerSettings } from "../config/load";
import { defaultConfigDir, defaultStateDir } from "../paths";
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
