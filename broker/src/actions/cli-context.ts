// What `hostward approve|reject|actions` need: the broker's state directory (from DIR/broker.yaml,
// no inventory or policy needed) with its request store and audit log, and who is at the keyboard.
import { hostname, userInfo } from "node:os";
import { join } from "node:path";
import { AuditLog } from "../audit/log";
import { AUDIT_FILE } from "../broker";
import { loadBrokerSettings } from "../config/load";
import { defaultConfigDir, defaultStateDir } from "../paths";
import { ActionService } from "./service";
import { ActionStore } from "./store";

export function openActions(configDir: string | undefined): { service: ActionService; stateDir: string; configDir: string } {
  const dir = configDir ?? defaultConfigDir();
  const settings = loadBrokerSettings(dir);
  const stateDir = settings.stateDir ?? defaultStateDir();
  const audit = new AuditLog(join(stateDir, AUDIT_FILE)).open();
  return { service: new ActionService(new ActionStore(stateDir), audit, () => settings.approvalTtlSeconds), stateDir, configDir: dir };
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
