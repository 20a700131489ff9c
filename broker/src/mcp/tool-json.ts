// The JSON Schemas each tool advertises in tools/list: prepared at build time
// (tool-schemas.gen.ts, written by scripts/gen-tool-schemas.mjs from the same zod schemas the
// handlers validate with), so no request pays for zod's conversion. A tool the generated module
// does not know (it was not regenerated: `npm run check` and test/broker/tool-schemas.test.ts
// fail then) is converted once, on first use, instead of being advertised wrongly.
import { toolJsonSchema, type JsonObject } from "./json-schema";
import type { ToolSpec } from "./sdk";
import { TOOL_SCHEMAS } from "./tool-schemas.gen";

export interface ToolJsonSchemas {
  input: JsonObject;
  output: JsonObject;
}

const converted = new Map<string, ToolJsonSchemas>();

export function toolJsonSchemas(spec: Pick<ToolSpec, "name" | "input" | "output">): ToolJsonSchemas {
  const generated = Object.hasOwn(TOOL_SCHEMAS, spec.name) ? TOOL_SCHEMAS[spec.name] : undefined;
  if (generated) return generated;
  let done = converted.get(spec.name);
  if (!done) {
    done = { input: toolJsonSchema(spec.input, "input"), output: toolJsonSchema(spec.output, "output") };
    converted.set(spec.name, done);
  }
  return done;
}
