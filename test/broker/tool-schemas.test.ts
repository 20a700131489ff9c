// broker/src/mcp/tool-schemas.gen.ts is what the tools' zod schemas generate (scripts/tool-schemas.ts,
// the same function `npm run gen` writes it with), and the compaction in json-schema.ts keeps what
// a schema accepts. `npm run check` runs the same freshness comparison on the file's text.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { toolJsonSchema } from "../../broker/src/mcp/json-schema";
import { TOOL_SCHEMAS } from "../../broker/src/mcp/tool-schemas.gen";
import { toolSchemas } from "../../scripts/tool-schemas";

describe("tool-schemas.gen.ts", () => {
  it("is fresh: every tool's input and output JSON Schema as its zod schemas generate them (else: npm run gen)", () => {
    const fresh = toolSchemas();
    expect(Object.keys(TOOL_SCHEMAS)).toEqual(fresh.map((t) => t.name));
    for (const t of fresh) expect(TOOL_SCHEMAS[t.name], t.name).toEqual({ input: t.input, output: t.output });
  });
});

describe("toolJsonSchema compaction", () => {
  it("drops $schema and safe-integer bounds, writes nullable simple types as type lists, keeps real bounds", () => {
    const json = toolJsonSchema(z.strictObject({ n: z.number().int(), port: z.number().int().min(1).max(65535), pid: z.number().int().nullable(), s: z.string().nullable() }), "input");
    expect(json).toEqual({
      type: "object",
      properties: { n: { type: "integer" }, port: { type: "integer", minimum: 1, maximum: 65535 }, pid: { type: ["integer", "null"] }, s: { type: ["string", "null"] } },
      required: ["n", "port", "pid", "s"],
      additionalProperties: false,
    });
  });

  it("keeps additionalProperties:false on inputs (strict arguments) and drops it on outputs only", () => {
    const schema = z.strictObject({ a: z.object({ b: z.string() }).strict() });
    expect(JSON.stringify(toolJsonSchema(schema, "input"))).toContain('"additionalProperties":false');
    expect(JSON.stringify(toolJsonSchema(schema, "output"))).not.toContain("additionalProperties");
  });

  it("leaves unions that are not a simple nullable alone, and data keywords verbatim", () => {
    const json = toolJsonSchema(z.object({ u: z.union([z.string(), z.object({ x: z.string() })]), e: z.enum(["$schema", "minimum"]), d: z.number().int().default(Number.MAX_SAFE_INTEGER) }), "input");
    expect(json.properties).toMatchObject({ u: { anyOf: [{ type: "string" }, { type: "object", properties: { x: { type: "string" } } }] }, e: { enum: ["$schema", "minimum"] }, d: { default: Number.MAX_SAFE_INTEGER } });
  });
});
