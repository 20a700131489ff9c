// The broker's policy decision: may this tool run on this host? Pure; no I/O.
//   - Deny by default: a tool runs only if some rule that targets the host allows it.
//   - Deny wins: if any rule that targets the host denies the tool, it is denied, whatever allows it.
//   - A rule targets a host by its name, by "tag:NAME" (the host carries the tag) or by "*".
//   - A rule names tools by name, by "group:NAME" (the tool's catalog group) or by "*".
// Called for every host on every call (not only when tools are listed).
import type { Policy, PolicyRule } from "./config/schema";

export interface PolicyHost {
  name: string;
  tags: readonly string[];
}

export interface PolicySubject {
  name: string;
  group: string;
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

export function decide(policy: Policy, tool: PolicySubject, host: PolicyHost): Decision {
  let allowedBy: { rule: number; ref: string; target: string } | undefined;
  for (const [i, rule] of policy.rules.entries()) {
    if (!ruleTargets(rule, host)) continue;
    const denied = refersTo(rule.deny, tool);
    if (denied !== undefined) {
      return {
        allowed: false,
        rule: i + 1,
        reason: `${tool.name} is not allowed on ${host.name} (denied by rule ${i + 1}: target "${rule.target}", deny "${denied}")`,
      };
    }
    if (allowedBy === undefined) {
      const allowed = refersTo(rule.allow, tool, "allow");
      if (allowed !== undefined) allowedBy = { rule: i + 1, ref: allowed, target: rule.target };
    }
  }
  if (allowedBy) {
    return {
      allowed: true,
      rule: allowedBy.rule,
      reason: `${tool.name} is allowed on ${host.name} by rule ${allowedBy.rule} (target "${allowedBy.target}", allow "${allowedBy.ref}")`,
    };
  }
  return { allowed: false, rule: null, reason: `${tool.name} is not allowed on ${host.name} (no rule allows it)` };
}
