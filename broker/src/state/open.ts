// Which store broker.yaml names: PostgreSQL (`state.postgres`) or, by default, files under the
// state directory.
import type { BrokerSettings } from "../config/schema";
import { openFileState } from "./files";
import { openPostgresState } from "./postgres/index";
import type { StateStore } from "./store";

export function openState(settings: BrokerSettings, stateDir: string, configDir: string, options: { warn?: (message: string) => void; applicationName?: string } = {}): StateStore {
  const lockWaitMs = settings.audit.lockWaitMs;
  if (settings.state?.postgres) return openPostgresState(settings.state.postgres, { lockWaitMs, ...options });
  return openFileState(stateDir, configDir, { lockWaitMs, ...(options.warn && { warn: options.warn }) });
}
