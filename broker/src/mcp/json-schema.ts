// The JSON Schemas tools/list advertises, from the tools' zod schemas: zod's draft 2020-12 output,
// made compact without changing what it accepts (or, for outputs, what it promises):
//   - no "$schema" (2020-12 is MCP's default dialect);
//   - no minimum/maximum that only restate JavaScript's safe-integer range (z.number().int());
//   - anyOf [{type: T}, {type: "null"}] written as type [T, "null"];
//   - output schemas only: no additionalProperties:false (a looser promise about the broker's
//     own output stays true, and a client validating it loses nothing it relies on).
// Computed at build time by scripts/gen-tool-schemas.mjs into tool-schemas.gen.ts, which the
// server advertises (tool-json.ts); this module is also what the freshness checks compare with.
import { z } from "zod";

export type JsonObject = { [key: string]: unknown };
export type SchemaIo = "input" | "output";

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function compactNode(node: unknown, io: SchemaIo): unknown {
  if (Array.isArray(node)) return node.map((n) => compactNode(n, io));
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "$schema") continue;
    if (key === "minimum" && value === Number.MIN_SAFE_INTEGER && node.type === "integer") continue;
    if (key === "maximum" && value === Number.MAX_SAFE_INTEGER && node.type === "integer") continue;
    if (key === "additionalProperties" && value === false && io === "output") continue;
    // Values of these keywords are data, not schemas: kept verbatim.
    out[key] = key === "enum" || key === "const" || key === "default" || key === "examples" ? value : compactNode(value, io);
  }
  // anyOf [{type: T}, {type: "null"}] → type [T, "null"], once the branches are compacted.
  const any = out.anyOf;
  if (Array.isArray(any) && any.length === 2 && out.type === undefined) {
    const onlyType = (b: unknown): b is { type: string } => isObject(b) && Object.keys(b).length === 1 && typeof b.type === "string";
    const [a, b] = any;
    if (onlyType(a) && onlyType(b) && (a.type === "null") !== (b.type === "null")) {
      delete out.anyOf;
      out.type = a.type === "null" ? [b.type, "null"] : [a.type, "null"];
    }
  }
  return out;
}

/** The compact JSON Schema of a tool's input (io "input") or output (io "output") schema. */
export function toolJsonSchema(schema: z.ZodType, io: SchemaIo): JsonObject {
  const json = compactNode(z.toJSONSchema(schema, { target: "draft-2020-12", io }), io) as JsonObject;
  // MCP requires an object root; zod writes "type" first for objects, keep it so.
  return json.type === undefined ? { type: "object", ...json } : json;
}
