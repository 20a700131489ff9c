// The broker's policy decision: may this tool run on this host? Pure; no I/O.
//   - Deny by default: a tool runs only if some rule that targets the host allows it.
//   - Deny wins: if any rule that targets the host denies the tool, it is denied, whatever allows it.
//   - A rule targets a host by its name, by "tag:NAME" (the host carries the tag) or by "*".
//   - A rule names tools by name, by "group:NAME" (the tool's catalog group) or by "*".
//   - A rule with `users` or `groups` applies only to a caller named there or in one of the groups
//     (its allow and its deny alike); a rule with neither applies to every caller.
// Called for every host on every call (not only when tools are listed).
import type { CallerIdentity } from "./audit/records";
import type { BrokerConfig, Policy, PolicyRule } from "./config/schema";

export interface PolicyHost {
  name: string;
  tags: readonly string[];
}

export interface PolicySubject {
  name: string;
  group: string;
}

/**
 * Who is asking, for policy: the person's name (an HTTP user's, or stdio's OS user) and their groups
 * (from users.jsonl). The shared HTTP token names no person: no user, no groups.
 */
export interface Principal {
  user?: string;
  groups: readonly string[];
}

/** The caller as policy sees it: its user name and that user's groups in users.jsonl (read now: a reload applies). */
export function principalOf(config: Pick<BrokerConfig, "users">, caller: Pick<CallerIdentity, "user"> | undefined): Principal {
  const user = caller?.user;
  if (user === undefined) return { groups: [] };
  return { user, groups: config.users.find((u) => u.name === user)?.groups ?? [] };
}

/**
 * Whom a roll-out resumed without a caller (after its broker stopped) is decided for: its requester,
 * the person its last ":" part names when that is a users.jsonl name (an HTTP user's proposal, as
 * the helper's four-eyes check reads it); otherwise no one (rules naming people do not apply).
 */
export function requesterPrincipal(config: Pick<BrokerConfig, "users">, requester: string): Principal {
  const last = requester.startsWith("mcp:http:") ? requester.slice(requester.lastIndexOf(":") + 1) : undefined;
  return last !== undefined && config.users.some((u) => u.name === last) ? principalOf(config, { user: last }) : { groups: [] };
}

/** Whether `rule` applies to `who`: it names no one, or names them or one of their groups. */
function ruleAppliesTo(rule: Pick<PolicyRule, "users" | "groups">, who: Principal): boolean {
  if (rule.users === undefined && rule.groups === undefined) return true;
  if (who.user !== undefined && rule.users?.includes(who.user)) return true;
  return rule.groups?.some((g) => who.groups.includes(g)) ?? false;
}

function forWhom(rule: Pick<PolicyRule, "users" | "groups">): string {
  const parts = [
    ...(rule.users ? [`users ${rule.users.map((u) => JSON.stringify(u)).join(", ")}`] : []),
    ...(rule.groups ? [`groups ${rule.groups.map((g) => JSON.stringify(g)).join(", ")}`] : []),
  ];
  return parts.join(" or ");
}

function whoText(who: Principal): string {
  return who.user !== undefined ? `user ${JSON.stringify(who.user)}` : "this caller (it names no user)";
}

export interface Decision {
  allowed: boolean;
  /** 1-based number of the deciding rule in policy.yaml; null when no rule matched. */
  rule: number | null;
  reason: string;
}

export function ruleTargets(rule: Pick<PolicyRule, "target">, host: PolicyHost): boolean {
  if (rule.target === "*") return true;
  if (rule.target.startsWith("tag:")) return host.tags.includes(rule.target.slice(4));
  return rule.target === host.name;
}

/**
 * The first reference in `refs` naming `tool`. In an allow list "*" covers every tool except the
 * actions, which must be allowed by name or with group:actions (proposing a change is never
 * granted by a wildcard); in a deny list "*" covers everything.
 */
export function refersTo(refs: readonly string[], tool: PolicySubject, list: "allow" | "deny" = "deny"): string | undefined {
  return refs.find(
    (r) => (r === "*" && (list === "deny" || tool.group !== "actions")) || r === tool.name || r === `group:${tool.group}`,
  );
}

export function decide(policy: Policy, tool: PolicySubject, host: PolicyHost, who: Principal): Decision {
  let allowedBy: { rule: number; ref: string; target: string; for?: string } | undefined;
  /** The first rule that would have allowed the tool here, had it applied to this caller. */
  let notFor: { rule: number; for: string } | undefined;
  for (const [i, rule] of policy.rules.entries()) {
    if (!ruleTargets(rule, host)) continue;
    if (!ruleAppliesTo(rule, who)) {
      if (notFor === undefined && refersTo(rule.allow, tool, "allow") !== undefined) notFor = { rule: i + 1, for: forWhom(rule) };
      continue;
    }
    const denied = refersTo(rule.deny, tool);
    if (denied !== undefined) {
      const scoped = rule.users !== undefined || rule.groups !== undefined ? `, for ${forWhom(rule)}` : "";
      return {
        allowed: false,
        rule: i + 1,
        reason: `${tool.name} is not allowed on ${host.name} (denied by rule ${i + 1}: target "${rule.target}"${scoped}, deny "${denied}")`,
      };
    }
    if (allowedBy === undefined) {
      const allowed = refersTo(rule.allow, tool, "allow");
      if (allowed !== undefined) allowedBy = { rule: i + 1, ref: allowed, target: rule.target, ...(rule.users !== undefined || rule.groups !== undefined ? { for: forWhom(rule) } : {}) };
    }
  }
  if (allowedBy) {
    return {
      allowed: true,
      rule: allowedBy.rule,
      reason: `${tool.name} is allowed on ${host.name} by rule ${allowedBy.rule} (target "${allowedBy.target}"${allowedBy.for ? `, for ${allowedBy.for}` : ""}, allow "${allowedBy.ref}")`,
    };
  }
  if (notFor) {
    return {
      allowed: false,
      rule: null,
      reason: `${tool.name} is not allowed on ${host.name} for ${whoText(who)} (no rule allows it: rule ${notFor.rule} allows it only for ${notFor.for})`,
    };
  }
  return { allowed: false, rule: null, reason: `${tool.name} is not allowed on ${host.name} (no rule allows it)` };
}

/** Whether any rule of `policy` names users or groups (else every caller is decided alike). */
export function policyNamesPeople(policy: Policy): boolean {
  return policy.rules.some((r) => r.users !== undefined || r.groups !== undefined);
}
