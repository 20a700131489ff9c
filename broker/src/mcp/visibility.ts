// Which hosts a caller may see through resources, prompts and completion: those on which policy
// allows at least one diagnostic (a host the caller may not diagnose is not listed, not completed,
// and its resource is refused naming the reason). Computed once per configuration (policy and
// inventory change only on a reload, which makes a new configuration object).
import type { BrokerConfig, HostEntry } from "../config/schema";
import { decide } from "../policy";
import { policyTools } from "../policy-tools";

const cache = new WeakMap<BrokerConfig, ReadonlySet<string>>();

function diagnosable(config: BrokerConfig): ReadonlySet<string> {
  let names = cache.get(config);
  if (names) return names;
  const readTools = [...policyTools().values()].filter((t) => t.group !== "actions");
  names = new Set(config.hosts.filter((h) => readTools.some((t) => decide(config.policy, t, h).allowed)).map((h) => h.name));
  cache.set(config, names);
  return names;
}

/** The inventory's hosts the caller may diagnose, in inventory order. */
export function visibleHosts(config: BrokerConfig): HostEntry[] {
  const names = diagnosable(config);
  return config.hosts.filter((h) => names.has(h.name));
}

/** Why `name` is not visible, or undefined when it is. */
export function hostRefusal(config: BrokerConfig, name: string): string | undefined {
  if (!config.hosts.some((h) => h.name === name)) return `unknown host ${JSON.stringify(name)} (not in the inventory; see hostward://inventory)`;
  if (!diagnosable(config).has(name)) return `host ${JSON.stringify(name)}: policy allows no diagnostic there (policy.yaml), so it is not shown`;
  return undefined;
}

/** Tags carried by visible hosts, with how many hosts carry each, by name. */
export function visibleTags(config: BrokerConfig): Array<{ tag: string; hosts: number }> {
  const counts = new Map<string, number>();
  for (const h of visibleHosts(config)) for (const t of h.tags) counts.set(t, (counts.get(t) ?? 0) + 1);
  return [...counts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([tag, hosts]) => ({ tag, hosts }));
}
