// The vocabulary policy.yaml may use: every tool that reaches a host, with its group. That is the
// whole diagnostic catalog plus ping_hosts (counted in group "health"), and every catalog action
// (group "actions": a rule allowing an action lets the model PROPOSE it on that host; running it
// still needs a human's signed approval). Broker-local tools (list_hosts, describe_host, plan,
// reload_config, get_action, list_actions, cancel_action) read only the broker's own state and are
// not subject to per-host policy.
import type { DiagnosticGroup } from "../../proto/catalog/define";
import { actions } from "../../proto/catalog/actions/index";
import { diagnostics } from "../../proto/catalog/diagnostics/index";

export type PolicyGroup = DiagnosticGroup | "actions";

export const GROUPS: readonly PolicyGroup[] = ["system", "services", "network", "logs", "health", "actions"];

/** Fleet tools that contact hosts, with the group they count in for `group:NAME` rules. */
const HOST_FLEET_TOOLS: ReadonlyArray<{ name: string; group: DiagnosticGroup }> = [{ name: "ping_hosts", group: "health" }];

export interface PolicyTool {
  name: string;
  group: PolicyGroup;
}

export function policyTools(): ReadonlyMap<string, PolicyTool> {
  const map = new Map<string, PolicyTool>();
  for (const d of diagnostics) map.set(d.name, { name: d.name, group: d.group });
  for (const t of HOST_FLEET_TOOLS) map.set(t.name, t);
  for (const a of actions) map.set(a.name, { name: a.name, group: "actions" });
  return map;
}
