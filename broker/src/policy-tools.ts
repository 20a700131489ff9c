// The vocabulary policy.yaml may use: every tool that reaches a host, with its group. That is the
// whole diagnostic catalog plus ping_hosts (counted in group "health"). Broker-local tools
// (list_hosts, describe_host, plan, reload_config) read only the broker's own configuration and
// are not subject to per-host policy.
import type { DiagnosticGroup } from "../../proto/catalog/define";
import { diagnostics } from "../../proto/catalog/diagnostics/index";

export const GROUPS: readonly DiagnosticGroup[] = ["system", "services", "network", "logs", "health"];

/** Fleet tools that contact hosts, with the group they count in for `group:NAME` rules. */
export const HOST_FLEET_TOOLS: ReadonlyArray<{ name: string; group: DiagnosticGroup }> = [{ name: "ping_hosts", group: "health" }];

export interface PolicyTool {
  name: string;
  group: DiagnosticGroup;
}

export function policyTools(): ReadonlyMap<string, PolicyTool> {
  const map = new Map<string, PolicyTool>();
  for (const d of diagnostics) map.set(d.name, { name: d.name, group: d.group });
  for (const t of HOST_FLEET_TOOLS) map.set(t.name, t);
  return map;
}
