// completion/complete for runbook (prompt) arguments and resource-template variables: host names,
// tags and targets from the inventory (only hosts the caller may diagnose), a host's unit names
// from the host itself (list_services, through the audited host-call path; kept UNIT_TTL_MS, at most
// UNIT_CACHE_HOSTS hosts, at most MAX_UNITS units each), pending action ids from the store.
import type { RunbookArgument } from "../../../proto/catalog/runbooks/define";
import { findRunbook } from "../../../proto/catalog/runbooks/index";
import { isTerminal } from "../actions/request";
import type { Broker } from "../broker";
import type { CompleteFn, RequestContext } from "./sdk";
import { diagnoseOneHost } from "./one-host";
import { ActionService } from "../actions/service";
import { hostRefusal, visibleHosts, visibleTags } from "./visibility";

const UNIT_TTL_MS = 30_000;
const FAILED_TTL_MS = 5_000;
const UNIT_CACHE_HOSTS = 64;
const MAX_UNITS = 1000;
const MAX_VALUE = 256;

/** Prefix matches first, then the other values containing it; case-insensitive; sorted within each. */
function rank(candidates: readonly string[], typed: string): string[] {
  const v = typed.toLowerCase();
  const prefix: string[] = [];
  const inside: string[] = [];
  for (const c of candidates) {
    const l = c.toLowerCase();
    if (l.startsWith(v)) prefix.push(c);
    else if (v !== "" && l.includes(v)) inside.push(c);
  }
  return [...prefix.sort(), ...inside.sort()];
}

interface CachedUnits {
  at: number;
  ttl: number;
  units: Promise<string[]>;
}

export function brokerCompletion(broker: Broker): CompleteFn {
  const units = new Map<string, CachedUnits>();
  let actionService: ActionService | undefined;

  const unitsOf = (host: string, call: RequestContext): Promise<string[]> => {
    const now = Date.now();
    const cached = units.get(host);
    if (cached && now - cached.at < cached.ttl) return cached.units;
    const entry: CachedUnits = { at: now, ttl: UNIT_TTL_MS, units: Promise.resolve([]) };
    entry.units = diagnoseOneHost(broker, "list_services", host, { state: "all", limit: MAX_UNITS }, call.caller).then((answer) => {
      if (!answer.ok) {
        entry.ttl = FAILED_TTL_MS;
        return [];
      }
      return (answer.data as { services: Array<{ unit: string }> }).services.map((s) => s.unit);
    });
    units.delete(host);
    units.set(host, entry);
    // Oldest first in a Map's order: drop the ones beyond the cap.
    for (const key of units.keys()) {
      if (units.size <= UNIT_CACHE_HOSTS) break;
      units.delete(key);
    }
    return entry.units;
  };

  const forKind = async (arg: RunbookArgument, typed: string, context: Record<string, string>, call: RequestContext): Promise<string[]> => {
    const config = broker.config.current;
    switch (arg.kind) {
      case "host":
        return rank(visibleHosts(config, call.caller).map((h) => h.name), typed);
      case "tag":
        return rank(visibleTags(config, call.caller).map((t) => t.tag), typed);
      case "target":
        return rank(["all", ...visibleHosts(config, call.caller).map((h) => h.name), ...visibleTags(config, call.caller).map((t) => `tag:${t.tag}`)], typed);
      case "unit": {
        const host = arg.hostArgument === undefined ? undefined : context[arg.hostArgument];
        // Without the host (not yet typed) or with one the caller may not see, nothing is asked.
        if (host === undefined || hostRefusal(config, host, call.caller) !== undefined) return [];
        return rank(await unitsOf(host, call), typed);
      }
      default:
        return [];
    }
  };

  return async (ref, argument, context, call) => {
    const typed = argument.value.slice(0, MAX_VALUE);
    if (ref.type === "prompt") {
      const def = findRunbook(ref.name);
      if (!def) return { error: `ref.name: unknown prompt ${JSON.stringify(ref.name.slice(0, 64))} (see prompts/list)` };
      const arg = def.arguments.find((a) => a.name === argument.name);
      if (!arg) return { error: `argument.name: prompt ${def.name} has no argument ${JSON.stringify(argument.name.slice(0, 64))} (it has ${def.arguments.map((a) => a.name).join(", ")})` };
      return { values: await forKind(arg, typed, context, call) };
    }
    if (ref.uri === "hostward://hosts/{name}" && argument.name === "name") return { values: rank(visibleHosts(broker.config.current, call.caller).map((h) => h.name), typed) };
    if (ref.uri === "hostward://actions/{id}" && argument.name === "id") {
      actionService ??= new ActionService(broker.actions, broker.audit, () => broker.config.current.settings.approvalTtlSeconds);
      const listed = await actionService.list();
      return { values: rank(listed.requests.filter((r) => !isTerminal(r.state) && hostRefusal(broker.config.current, r.host, call.caller) === undefined).map((r) => r.id), typed) };
    }
    return { error: `ref.uri: ${JSON.stringify(ref.uri.slice(0, 128))} with argument ${JSON.stringify(argument.name.slice(0, 64))} is not a resource template variable of this server (see resources/templates/list)` };
  };
}
