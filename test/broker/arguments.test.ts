// Tool argument validation messages (broker/src/mcp/arguments.ts): every refusal names the field.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { unitName } from "../../proto/catalog/grammar";
import { auditArgs, parseArgs } from "../../broker/src/mcp/arguments";
import { targetArgument } from "../../broker/src/targets";

const schema = z.strictObject({ target: targetArgument, unit: unitName, lines: z.number().int().min(1).max(1000).default(100) });

describe("parseArgs", () => {
  it("accepts valid arguments and applies defaults", () => {
    expect(parseArgs("t", schema, { target: "*", unit: "nginx.service" })).toEqual({ ok: true, data: { target: "*", unit: "nginx.service", lines: 100 } });
  });

  it("names a field starting with -", () => {
    const r = parseArgs("get_service_status", schema, { target: "*", unit: "-x" });
    expect(r).toMatchObject({ ok: false, fields: ["unit"] });
    expect(!r.ok && r.error).toBe('invalid arguments for get_service_status: unit: unit name must not start with "-"');
  });

  it("names an unknown argument", () => {
    const r = parseArgs("t", schema, { target: "*", unit: "a", shell: "rm -rf /" });
    expect(!r.ok && r.error).toBe('invalid arguments for t: unknown argument "shell" (not in the tool\'s input schema)');
    expect(!r.ok && r.fields).toEqual(["shell"]);
  });

  it("names a wrong type", () => {
    const r = parseArgs("t", schema, { target: "*", unit: "a", lines: "10" });
    expect(!r.ok && r.error).toContain("lines: Invalid input: expected number, received string");
  });

  it("names a missing required field", () => {
    const r = parseArgs("t", schema, { unit: "a" });
    expect(!r.ok && r.error).toContain("target: Invalid input: expected string, received undefined");
  });

  it("reports several fields at once", () => {
    const r = parseArgs("t", schema, { target: "", unit: "a;b", lines: 0 });
    expect(!r.ok && r.fields).toEqual(expect.arrayContaining(["target", "unit", "lines"]));
  });

  it("treats missing arguments as {}", () => {
    expect(parseArgs("t", z.strictObject({}), undefined)).toEqual({ ok: true, data: {} });
  });
});

describe("auditArgs", () => {
  it("keeps small arguments verbatim", () => expect(auditArgs({ unit: "a" })).toEqual({ args: { unit: "a" } }));
  it("digests large ones with a bounded preview", () => {
    const r = auditArgs({ pattern: "x".repeat(1024 * 1024) });
    expect(r).toMatchObject({ argsDigest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), argsBytes: 1024 * 1024 + 14 });
    expect((r as { argsPreview: string }).argsPreview.length).toBeLessThan(600);
  });
});
