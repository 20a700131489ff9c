// Which hosts a caller may see through resources, prompts and completion: those on which policy
// allows that caller at least one diagnostic (a host the caller may not diagnose is not listed, not
// completed, and its resource is refused naming the reason). Computed once per configuration and
// caller (policy, inventory and users change only on a reload, which makes a new configuration
// object); when no rule names users or groups, every caller shares one answer.
import type { CallerIdentity } from "../audit/records";
import type { BrokerConfig, HostEntry } from "../config/schema";
import { decide, policyNamesPeople, principalOf } from "../policy";
import { policyTools } from "../policy-tools";

const cache = new WeakMap<BrokerConfig, Map<string, ReadonlySet<string>>>();

function diagnosable(config: BrokerConfig, caller: CallerIdentity | undefined): ReadonlySet<string> {
  const who = policyNamesPeople(config.policy) ? principalOf(config, caller) : { groups: [] };
  // Bounded: one entry per person (users.jsonl's, and stdio's OS user) plus the one of no person.
  const key = who.user ?? "";
  let perCaller = cache.get(config);
  if (!perCaller) cache.set(config, (perCaller = new Map()));
  let names = perCaller.get(key);
  if (names) return names;
  const readTools = [...policyTools().values()].filter((t) => t.group !== "actions");
  names = new Set(config.hosts.filter((h) => readTools.some((t) => decide(config.policy, t, h, who).allowed)).map((h) => h.name));
  perCaller.set(key, names);
  return names;
}

/** The inventory's hosts the caller may diagnose, in inventory order. */
export function visibleHosts(config: BrokerConfig, caller: CallerIdentity | undefined): HostEntry[] {
  const names = diagnosable(config, caller);
  return config.hosts.filter((h) => names.has(h.name));
}

/** Why `name` is not visible to the caller, or undefined when it is. */
export function hostRefusal(config: BrokerConfig, name: string, caller: CallerIdentity | undefined): string | undefined {
  if (!config.hosts.some((h) => h.name === name)) return `unknown host ${JSON.stringify(name)} (not in the inventory; see hostward://inventory)`;
  if (!diagnosable(config, caller).has(name)) {
    const whom = caller?.user !== undefined && policyNamesPeople(config.policy) ? ` for user ${JSON.stringify(caller.user)}` : "";
    return `host ${JSON.stringify(name)}: policy allows no diagnostic there${whom} (policy.yaml), so it is not shown`;
  }
  return undefined;
}

/** Tags carried by hosts visible to the caller, with how many hosts carry each, by name. */
export function visibleTags(config: BrokerConfig, caller: CallerIdentity | undefined): Array<{ tag: string; hosts: number }> {
  const counts = new Map<string, number>();
  for (const h of visibleHosts(config, caller)) for (const t of h.tags) counts.set(t, (counts.get(t) ?? 0) + 1);
  return [...counts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([tag, hosts]) => ({ tag, hosts }));
}
