// reload_config: re-reads hosts.yaml, policy.yaml and broker.yaml (and DIR/tls on next use). All or
// nothing: on any problem the running configuration stays and the problems are returned. The new
// configuration is applied only once its audit record is written.
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { Broker } from "../../broker";
import { stateDirOf } from "../../broker";
import { tryAudit, validateOrRefuse } from "../host-call";
import type { ToolRegistry } from "../registry";

const reloadInput = z.strictObject({});
const reloadOutput = z.object({
  hosts: z.number().int(),
  rules: z.number().int(),
  changes: z.object({
    added: z.array(z.string()),
    removed: z.array(z.string()),
    changed: z.array(z.string()),
    policyChanged: z.boolean(),
    settingsChanged: z.boolean(),
  }),
  notes: z.array(z.string()),
});

export function registerReloadTool(registry: ToolRegistry, broker: Broker): void {
  registry.add({
    name: "reload_config",
    title: "Reload configuration",
    description:
      "Re-reads the broker's hosts.yaml, policy.yaml and broker.yaml. All or nothing: if any file is invalid, the running configuration is kept and the problems are returned.",
    input: reloadInput,
    output: reloadOutput,
    // Not read-only: it changes what the broker will do next (but nothing on any host).
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async handler(rawArgs, call) {
      const callId = randomUUID();
      const valid = validateOrRefuse(broker, "reload_config", reloadInput, rawArgs, call.caller, callId);
      if (!valid.ok) return valid.outcome;
      const before = broker.config.current;
      const outcome = broker.config.prepare();
      if (!outcome.ok) {
        const failed = tryAudit(broker, { event: "config.reload", callId, caller: call.caller, tool: "reload_config", outcome: "REFUSED", problems: outcome.problems });
        return failed ?? { error: `configuration not reloaded; the running configuration is unchanged:\n${outcome.problems.map((p) => `  ${p}`).join("\n")}` };
      }
      const notes: string[] = [];
      if (stateDirOf(outcome.config) !== stateDirOf(before) || outcome.config.settings.logFile !== before.settings.logFile) {
        notes.push("stateDir and logFile changes take effect when the broker restarts");
      }
      const failed = tryAudit(broker, {
        event: "config.reload",
        callId,
        caller: call.caller,
        tool: "reload_config",
        outcome: "OK",
        digest: outcome.config.digest,
        changes: outcome.changes,
      });
      if (failed) return failed;
      broker.config.commit(outcome.config);
      return {
        structured: { hosts: outcome.config.hosts.length, rules: outcome.config.policy.rules.length, changes: outcome.changes, notes },
      };
    },
  });
}
