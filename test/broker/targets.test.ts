// Target selectors (broker/src/targets.ts): name, tag:NAME, comma lists, "*"; unknown hosts named
// in the error; result de-duplicated and in inventory order.
import { describe, expect, it } from "vitest";
import { resolveTargets, targetArgument } from "../../broker/src/targets";

const inventory = [
  { name: "web1", tags: ["web", "prod"] },
  { name: "db1", tags: ["db", "prod"] },
  { name: "web2", tags: ["web"] },
  { name: "cache", tags: [] },
];

const names = (selector: string) => {
  const r = resolveTargets(selector, inventory);
  if (!r.ok) throw new Error(r.error);
  return r.hosts.map((h) => h.name);
};

const error = (selector: string, inv = inventory) => {
  const r = resolveTargets(selector, inv);
  if (r.ok) throw new Error(`expected an error for ${selector}`);
  return r.error;
};

describe("resolveTargets", () => {
  it("one host by name", () => expect(names("db1")).toEqual(["db1"]));
  it("every host with *", () => expect(names("*")).toEqual(["web1", "db1", "web2", "cache"]));
  it("a tag", () => expect(names("tag:web")).toEqual(["web1", "web2"]));
  it("a comma list in inventory order, whatever the selector's order", () => expect(names("web2,db1")).toEqual(["db1", "web2"]));
  it("names and tags mixed", () => expect(names("cache,tag:db")).toEqual(["db1", "cache"]));
  it("de-duplicates overlapping elements", () => expect(names("web1,tag:web,tag:prod,web1")).toEqual(["web1", "db1", "web2"]));
  it("* inside a list still gives every host once", () => expect(names("db1,*")).toEqual(["web1", "db1", "web2", "cache"]));
  it("ignores spaces around commas", () => expect(names(" web1 , db1 ")).toEqual(["web1", "db1"]));
  it("returns the inventory objects themselves", () => {
    const r = resolveTargets("db1", inventory);
    expect(r.ok && r.hosts[0]).toBe(inventory[1]);
  });

  it("names an unknown host", () => {
    expect(error("web9")).toBe('target "web9": unknown host "web9" (not in the inventory; see list_hosts)');
  });

  it("names every unknown host of a list", () => {
    const e = error("web1,nope,db1,gone");
    expect(e).toContain('unknown hosts "nope", "gone"');
  });

  it("an unknown host in a list fails the whole selector (no partial runs)", () => {
    expect(resolveTargets("web1,typo", inventory).ok).toBe(false);
  });

  it("a tag no host carries", () => expect(error("tag:nosuch")).toContain('no host has tag "nosuch"'));
  it("tag: without a name", () => expect(error("tag:")).toContain("names no tag"));
  it("empty elements", () => {
    expect(error("web1,,db1")).toContain("empty element");
    expect(error("web1,")).toContain("empty element");
    expect(error("")).toContain("empty element");
  });
  it("is case-sensitive", () => expect(error("WEB1")).toContain('unknown host "WEB1"'));
  it("an empty inventory selects nothing with *", () => expect(error("*", [])).toContain("inventory is empty"));
});

describe("targetArgument", () => {
  it("refuses an empty target", () => expect(targetArgument.safeParse("").success).toBe(false));
  it("refuses a non-string", () => expect(targetArgument.safeParse(["web1"]).success).toBe(false));
  it("refuses an oversized selector", () => expect(targetArgument.safeParse("a,".repeat(3000)).success).toBe(false));
  it("describes itself for the model", () => expect(targetArgument.description).toContain("tag:NAME"));
});
