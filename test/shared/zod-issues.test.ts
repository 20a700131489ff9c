// shared/zod-issues.ts: the one zod-error formatter (issue 13, deliverable 6). Each caller's wording
// is asserted by its own tests (arguments, config, startup, channels); these pin the shared parts:
// where an issue is, the bound on how many are shown and the count of the rest.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { describeIssues, issueLines, issuePath, unknownKeys } from "../../shared/zod-issues";

const schema = z.strictObject({ a: z.string(), b: z.number(), c: z.strictObject({ d: z.boolean() }) });
const errorOf = (value: unknown) => {
  const r = schema.safeParse(value);
  if (r.success) throw new Error("expected a failure");
  return r.error;
};

describe("zod issues", () => {
  it("names where each issue is, with (top level) for the value itself", () => {
    expect(issueLines(errorOf({ a: 1, b: 2, c: { d: "x" } }))).toEqual([
      "a: Invalid input: expected string, received number",
      "c.d: Invalid input: expected boolean, received string",
    ]);
    expect(issueLines(errorOf("nope"))).toEqual(["(top level): Invalid input: expected object, received string"]);
    expect(issueLines(errorOf("nope"), { top: "(arguments)" })[0]).toMatch(/^\(arguments\): /);
  });

  it("shows at most max issues and counts the rest", () => {
    const error = errorOf({});
    expect(error.issues).toHaveLength(3);
    expect(describeIssues(error)).toBe(
      "a: Invalid input: expected string, received undefined; b: Invalid input: expected number, received undefined; c: Invalid input: expected object, received undefined",
    );
    expect(describeIssues(error, { max: 1 })).toBe("a: Invalid input: expected string, received undefined (and 2 more)");
    expect(describeIssues(error, { max: 3 })).not.toMatch(/more/);
    expect(issueLines(error, { max: 2 })).toHaveLength(2);
  });

  it("lets a caller word one issue and join them its own way", () => {
    const error = errorOf({ a: "x", b: 1, c: { d: true }, e: 1, f: 2 });
    expect(describeIssues(error, { line: (issue, where) => (issue.code === "unrecognized_keys" ? `${where}: ${unknownKeys(issue.keys)}` : where) })).toBe('(top level): unknown keys "e", "f"');
    expect(describeIssues(errorOf({}), { separator: "\n", line: (_, where) => where })).toBe("a\nb\nc");
  });

  it("words unknown keys with a noun and a prefix", () => {
    expect(unknownKeys(["x"])).toBe('unknown key "x"');
    expect(unknownKeys(["x", "y"], "argument", "c.")).toBe('unknown arguments "c.x", "c.y"');
  });

  it("joins numeric path segments (array indexes) like names", () => {
    const r = z.array(z.string()).safeParse(["ok", 2]);
    expect(r.success).toBe(false);
    if (!r.success) expect(issuePath(r.error.issues[0]!)).toBe("1");
  });
});
