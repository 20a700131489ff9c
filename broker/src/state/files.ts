// The embedded default store: files under the broker's state directory (the audit chain as JSON
// lines under a kernel lock, one JSON file per action request), the chain's anchor key and signed
// head in the configuration directory.
import { join } from "node:path";
import { ActionStore } from "../actions/store";
import { anchorFilesIn, AuditLog } from "../audit/log";
import { RolloutFiles } from "./rollout-files";
import type { StateStore } from "./store";
import { watchStateFiles } from "./watch-files";

export const AUDIT_FILE = "audit.jsonl";

export function openFileState(
  stateDir: string,
  configDir: string,
  options: { lockWaitMs?: number; warn?: (message: string) => void } = {},
): StateStore & { audit: AuditLog; actions: ActionStore; rollouts: RolloutFiles } {
  const audit = new AuditLog(join(stateDir, AUDIT_FILE), { anchor: anchorFilesIn(configDir), ...(options.lockWaitMs !== undefined && { lockWaitMs: options.lockWaitMs }) }).open();
  return { kind: "files", audit, actions: new ActionStore(stateDir), rollouts: new RolloutFiles(stateDir), changes: watchStateFiles(stateDir, options.warn), close: async () => undefined };
}
