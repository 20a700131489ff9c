// The broker's policy decision (broker/src/policy.ts): deny by default, deny wins, targets by name,
// tag and "*", tools by name, group and "*". Pure function; every case is a real policy object.
import { describe, expect, it } from "vitest";
import type { Policy } from "../../broker/src/config/schema";
import { decide, principalOf, refersTo, requesterPrincipal, ruleTargets } from "../../broker/src/policy";

const web1 = { name: "web1", tags: ["web", "prod"] };
const web2 = { name: "web2", tags: ["web", "staging"] };
const db1 = { name: "db1", tags: ["db", "prod"] };
const bare = { name: "bare", tags: [] };
/** A caller that names no person (the shared HTTP token). */
const anyone = { groups: [] };

const getLoad = { name: "get_load", group: "system" };
const listServices = { name: "list_services", group: "services" };
const readLogFile = { name: "read_log_file", group: "logs" };
const checkHttp = { name: "check_http", group: "network" };
const ping = { name: "ping_hosts", group: "health" };

const policy = (...rules: Array<{ target: string; allow?: string[]; deny?: string[]; users?: string[]; groups?: string[] }>): Policy => ({
  rules: rules.map((r) => ({ target: r.target, allow: r.allow ?? [], deny: r.deny ?? [], ...(r.users && { users: r.users }), ...(r.groups && { groups: r.groups }) })),
});

describe("deny by default", () => {
  it("denies everything with no rules", () => {
    const d = decide(policy(), getLoad, web1, anyone);
    expect(d).toEqual({ allowed: false, rule: null, reason: "get_load is not allowed on web1 (no rule allows it)" });
  });

  it("denies a tool no matching rule names", () => {
    const d = decide(policy({ target: "*", allow: ["list_services"] }), getLoad, web1, anyone);
    expect(d.allowed).toBe(false);
    expect(d.rule).toBeNull();
    expect(d.reason).toContain("no rule allows it");
  });

  it("denies when the only allowing rule targets another host", () => {
    expect(decide(policy({ target: "web2", allow: ["*"] }), getLoad, web1, anyone).allowed).toBe(false);
  });

  it("denies when the only allowing rule targets a tag the host lacks", () => {
    expect(decide(policy({ target: "tag:db", allow: ["*"] }), getLoad, web1, anyone).allowed).toBe(false);
  });

  it("a host without tags is reached only by its name or *", () => {
    const p = policy({ target: "tag:web", allow: ["*"] });
    expect(decide(p, getLoad, bare, anyone).allowed).toBe(false);
    expect(decide(policy({ target: "bare", allow: ["get_load"] }), getLoad, bare, anyone).allowed).toBe(true);
    expect(decide(policy({ target: "*", allow: ["get_load"] }), getLoad, bare, anyone).allowed).toBe(true);
  });

  it("a rule with only deny lists allows nothing", () => {
    expect(decide(policy({ target: "*", deny: ["check_http"] }), getLoad, web1, anyone).allowed).toBe(false);
  });
});

describe("allow", () => {
  it("by tool name on a host name", () => {
    const d = decide(policy({ target: "web1", allow: ["get_load"] }), getLoad, web1, anyone);
    expect(d).toEqual({ allowed: true, rule: 1, reason: 'get_load is allowed on web1 by rule 1 (target "web1", allow "get_load")' });
  });

  it("by group", () => {
    const p = policy({ target: "*", allow: ["group:system"] });
    expect(decide(p, getLoad, web1, anyone).allowed).toBe(true);
    expect(decide(p, listServices, web1, anyone).allowed).toBe(false);
  });

  it("by * (every tool)", () => {
    const p = policy({ target: "tag:web", allow: ["*"] });
    for (const t of [getLoad, listServices, readLogFile, checkHttp, ping]) expect(decide(p, t, web1, anyone).allowed).toBe(true);
  });

  it("by tag", () => {
    const p = policy({ target: "tag:prod", allow: ["get_load"] });
    expect(decide(p, getLoad, web1, anyone).allowed).toBe(true);
    expect(decide(p, getLoad, db1, anyone).allowed).toBe(true);
    expect(decide(p, getLoad, web2, anyone).allowed).toBe(false);
  });

  it("reports the first allowing rule", () => {
    const p = policy({ target: "db1", allow: ["*"] }, { target: "tag:web", allow: ["get_load"] }, { target: "*", allow: ["get_load"] });
    expect(decide(p, getLoad, web1, anyone).rule).toBe(2);
    expect(decide(p, getLoad, db1, anyone).rule).toBe(1);
    expect(decide(p, getLoad, bare, anyone).rule).toBe(3);
  });

  it("a tool name does not match as a prefix or a group name", () => {
    const p = policy({ target: "*", allow: ["get_load_extra", "system"] });
    expect(decide(p, getLoad, web1, anyone).allowed).toBe(false);
  });

  it("group:NAME does not match a tool named NAME", () => {
    expect(decide(policy({ target: "*", allow: ["group:get_load"] }), getLoad, web1, anyone).allowed).toBe(false);
  });

  it("ping_hosts counts in group health", () => {
    expect(decide(policy({ target: "*", allow: ["group:health"] }), ping, web1, anyone).allowed).toBe(true);
    expect(decide(policy({ target: "*", allow: ["group:system"] }), ping, web1, anyone).allowed).toBe(false);
  });
});

describe("deny wins", () => {
  it("over an allow in the same rule", () => {
    const d = decide(policy({ target: "*", allow: ["*"], deny: ["get_load"] }), getLoad, web1, anyone);
    expect(d).toEqual({
      allowed: false,
      rule: 1,
      reason: 'get_load is not allowed on web1 (denied by rule 1: target "*", deny "get_load")',
    });
  });

  it("over an allow in an earlier rule", () => {
    const p = policy({ target: "web1", allow: ["get_load"] }, { target: "tag:prod", deny: ["group:system"] });
    const d = decide(p, getLoad, web1, anyone);
    expect(d.allowed).toBe(false);
    expect(d.rule).toBe(2);
    expect(d.reason).toContain("denied by rule 2");
  });

  it("over an allow in a later rule", () => {
    const p = policy({ target: "*", deny: ["check_http"] }, { target: "web1", allow: ["check_http"] });
    expect(decide(p, checkHttp, web1, anyone)).toMatchObject({ allowed: false, rule: 1 });
  });

  it("deny * refuses every tool on the targeted hosts only", () => {
    const p = policy({ target: "*", allow: ["*"] }, { target: "tag:staging", deny: ["*"] });
    for (const t of [getLoad, listServices, readLogFile, checkHttp, ping]) {
      expect(decide(p, t, web2, anyone).allowed).toBe(false);
      expect(decide(p, t, web1, anyone).allowed).toBe(true);
    }
  });

  it("deny by group leaves other groups allowed", () => {
    const p = policy({ target: "*", allow: ["*"], deny: ["group:network"] });
    expect(decide(p, checkHttp, db1, anyone).allowed).toBe(false);
    expect(decide(p, getLoad, db1, anyone).allowed).toBe(true);
  });

  it("a deny in a rule that does not target the host does not apply", () => {
    const p = policy({ target: "*", allow: ["get_load"] }, { target: "db1", deny: ["get_load"] });
    expect(decide(p, getLoad, web1, anyone).allowed).toBe(true);
    expect(decide(p, getLoad, db1, anyone).allowed).toBe(false);
  });

  it("the first denying rule is reported", () => {
    const p = policy({ target: "*", allow: ["*"] }, { target: "tag:web", deny: ["get_load"] }, { target: "web1", deny: ["*"] });
    expect(decide(p, getLoad, web1, anyone).rule).toBe(2);
  });
});

describe("the decision is per host", () => {
  it("one tool, several hosts, different answers", () => {
    const p = policy({ target: "tag:web", allow: ["group:system"] }, { target: "web2", deny: ["get_load"] });
    expect([web1, web2, db1, bare].map((h) => decide(p, getLoad, h, anyone).allowed)).toEqual([true, false, false, false]);
  });

  it("tag targets match exact tags, not substrings", () => {
    const p = policy({ target: "tag:we", allow: ["*"] });
    expect(decide(p, getLoad, web1, anyone).allowed).toBe(false);
  });

  it("host targets match exact names, not prefixes", () => {
    expect(decide(policy({ target: "web", allow: ["*"] }), getLoad, web1, anyone).allowed).toBe(false);
  });
});

describe("helpers", () => {
  it("ruleTargets", () => {
    expect(ruleTargets({ target: "*" }, bare)).toBe(true);
    expect(ruleTargets({ target: "tag:web" }, web1)).toBe(true);
    expect(ruleTargets({ target: "tag:web" }, db1)).toBe(false);
    expect(ruleTargets({ target: "db1" }, db1)).toBe(true);
    expect(ruleTargets({ target: "tag:db1" }, db1)).toBe(false);
  });

  it("refersTo returns the matching reference", () => {
    expect(refersTo(["x", "group:system"], getLoad)).toBe("group:system");
    expect(refersTo(["get_load", "*"], getLoad)).toBe("get_load");
    expect(refersTo([], getLoad)).toBeUndefined();
  });
});

describe("wildcards and actions", () => {
  const host = { name: "web1", tags: ["web"] };
  const restart = { name: "restart_service", group: "actions" };
  const load = { name: "get_load", group: "system" };

  it('allow "*" covers diagnostics but never actions', () => {
    const policy = { rules: [{ target: "*", allow: ["*"], deny: [] }] };
    expect(decide(policy, load, host, anyone).allowed).toBe(true);
    expect(decide(policy, restart, host, anyone)).toMatchObject({ allowed: false, rule: null });
  });

  it("actions are allowed by name or by group:actions", () => {
    expect(decide({ rules: [{ target: "*", allow: ["restart_service"], deny: [] }] }, restart, host, anyone).allowed).toBe(true);
    expect(decide({ rules: [{ target: "*", allow: ["group:actions"], deny: [] }] }, restart, host, anyone).allowed).toBe(true);
  });

  it('deny "*" still denies actions', () => {
    const policy = { rules: [{ target: "*", allow: ["group:actions"], deny: [] }, { target: "web1", allow: [], deny: ["*"] }] };
    expect(decide(policy, restart, host, anyone).allowed).toBe(false);
  });
});

describe("rules that name users and groups", () => {
  const restart = { name: "restart_service", group: "actions" };
  const alice = { user: "alice", groups: ["oncall"] };
  const bob = { user: "bob", groups: ["dev"] };
  const p = policy({ target: "*", allow: ["get_load"] }, { target: "tag:prod", allow: ["restart_service"], groups: ["oncall"] });

  it("a rule with groups applies only to a member: alice may, bob may not, naming the rule", () => {
    expect(decide(p, restart, web1, alice)).toEqual({
      allowed: true,
      rule: 2,
      reason: 'restart_service is allowed on web1 by rule 2 (target "tag:prod", for groups "oncall", allow "restart_service")',
    });
    expect(decide(p, restart, web1, bob)).toEqual({
      allowed: false,
      rule: null,
      reason: 'restart_service is not allowed on web1 for user "bob" (no rule allows it: rule 2 allows it only for groups "oncall")',
    });
    // Not vacuous: the same rule without the group allows bob too.
    expect(decide(policy({ target: "tag:prod", allow: ["restart_service"] }), restart, web1, bob).allowed).toBe(true);
  });

  it("a caller that names no person matches no named rule; unnamed rules apply to everyone", () => {
    expect(decide(p, restart, web1, anyone).reason).toContain('for this caller (it names no user) (no rule allows it: rule 2 allows it only for groups "oncall")');
    for (const who of [alice, bob, anyone]) expect(decide(p, getLoad, web1, who).allowed).toBe(true);
  });

  it("users match by name; a rule with both matches either", () => {
    const q = policy({ target: "*", allow: ["restart_service"], users: ["bob"], groups: ["sre"] });
    expect(decide(q, restart, web1, bob).allowed).toBe(true);
    expect(decide(q, restart, web1, alice).allowed).toBe(false);
    expect(decide(q, restart, web1, { user: "carol", groups: ["sre"] }).allowed).toBe(true);
    expect(decide(q, restart, web1, { user: "alice2", groups: [] }).allowed).toBe(false);
  });

  it("deny wins among the rules that apply; a named deny does not touch others", () => {
    const q = policy({ target: "*", allow: ["*"] }, { target: "tag:prod", deny: ["get_load"], users: ["bob"] });
    expect(decide(q, getLoad, web1, bob)).toEqual({
      allowed: false,
      rule: 2,
      reason: 'get_load is not allowed on web1 (denied by rule 2: target "tag:prod", for users "bob", deny "get_load")',
    });
    expect(decide(q, getLoad, web1, alice).allowed).toBe(true);
    expect(decide(q, getLoad, web2, bob).allowed).toBe(true);
  });

  it("principalOf takes the groups from users.jsonl; requesterPrincipal reads an HTTP user's requester", () => {
    const config = { users: [{ name: "alice", groups: ["oncall"], sha256: "0".repeat(64), created: "2026-01-01T00:00:00Z" }] };
    expect(principalOf(config, { user: "alice" })).toEqual({ user: "alice", groups: ["oncall"] });
    expect(principalOf(config, { user: "root" })).toEqual({ user: "root", groups: [] });
    expect(principalOf(config, {})).toEqual({ groups: [] });
    expect(requesterPrincipal(config, "mcp:http:claude/1.0:alice")).toEqual({ user: "alice", groups: ["oncall"] });
    expect(requesterPrincipal(config, "mcp:http:claude/1.0:env:HOSTWARD_HTTP_TOKEN")).toEqual({ groups: [] });
    expect(requesterPrincipal(config, "mcp:stdio:alice")).toEqual({ groups: [] });
  });
});
