// One reload, whoever asks for it (the reload_config tool, or SIGHUP to `hostward serve`): the
// files are loaded and cross-checked, the TLS files too, the outcome is audited, and only then is
// the new configuration swapped in. On any problem the running configuration stays.
import { stateDirOf, type Broker } from "../broker";
import type { CallerIdentity } from "../audit/records";
import type { BrokerConfig } from "./schema";
import type { ConfigChanges } from "./store";
import { checkTlsFiles } from "./tls-check";

export type ReloadResult =
  | { ok: true; config: BrokerConfig; changes: ConfigChanges; notes: string[] }
  | { ok: false; problems: string[]; audited: boolean; auditError?: string };

export async function reloadBroker(broker: Broker, by: { via: "tool" | "SIGHUP"; caller?: CallerIdentity; callId?: string }): Promise<ReloadResult> {
  const before = broker.config.current;
  const prepared = broker.config.prepare();
  const problems = prepared.ok ? checkTlsFiles(before.dir) : prepared.problems;
  const who = { callId: by.callId, caller: by.caller, tool: "reload_config", via: by.via };
  if (!prepared.ok || problems.length > 0) {
    try {
      await broker.audit.append({ event: "config.reload", ...who, outcome: "REFUSED", problems });
      return { ok: false, problems, audited: true };
    } catch (err) {
      return { ok: false, problems, audited: false, auditError: (err as Error).message };
    }
  }
  const notes: string[] = [];
  if (stateDirOf(prepared.config) !== stateDirOf(before) || prepared.config.settings.logFile !== before.settings.logFile) {
    notes.push("stateDir and logFile changes take effect when the broker restarts");
  }
  if (JSON.stringify(prepared.config.settings.state ?? null) !== JSON.stringify(before.settings.state ?? null)) {
    notes.push("a change of the state store (broker.yaml state) takes effect when the broker restarts: this broker keeps the store it started with");
  }
  try {
    await broker.audit.append({ event: "config.reload", ...who, outcome: "OK", digest: prepared.config.digest, changes: prepared.changes });
  } catch (err) {
    return { ok: false, problems: [`the reload could not be audited, so it was not applied: ${(err as Error).message}`], audited: false, auditError: (err as Error).message };
  }
  const changes = broker.config.commit(prepared.config);
  return { ok: true, config: prepared.config, changes, notes };
}
