// reload_config: re-reads hosts.yaml, policy.yaml and broker.yaml, and checks DIR/tls (config/reload.ts,
// shared with SIGHUP). All or nothing: on any problem the running configuration stays and the
// problems are returned. The new configuration is applied only once its audit record is written.
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { Broker } from "../../broker";
import { reloadBroker } from "../../config/reload";
import { validateOrRefuse } from "../host-call";
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
    usersAdded: z.array(z.string()).describe("users.jsonl: people added"),
    usersRemoved: z.array(z.string()).describe("users.jsonl: people removed (revoked)"),
  }),
  notes: z.array(z.string()),
});

export function registerReloadTool(registry: ToolRegistry, broker: Broker): void {
  registry.add({
    name: "reload_config",
    title: "Reload configuration",
    description:
      "Re-reads the broker's hosts.yaml, policy.yaml, broker.yaml and users.jsonl. All or nothing: if any file is invalid, the running configuration is kept and the problems are returned.",
    input: reloadInput,
    output: reloadOutput,
    // Not read-only: it changes what the broker will do next (but nothing on any host).
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async handler(rawArgs, call) {
      const callId = randomUUID();
      const valid = await validateOrRefuse(broker, "reload_config", reloadInput, rawArgs, call.caller, callId);
      if (!valid.ok) return valid.outcome;
      const r = await reloadBroker(broker, { via: "tool", caller: call.caller, callId });
      if (!r.ok) {
        if (!r.audited && r.auditError) return { error: `refused: the call could not be audited, so nothing was changed (${r.auditError})` };
        return { error: `configuration not reloaded; the running configuration is unchanged:\n${r.problems.map((p) => `  ${p}`).join("\n")}` };
      }
      return { structured: { hosts: r.config.hosts.length, rules: r.config.policy.rules.length, changes: r.changes, notes: r.notes } };
    },
  });
}
