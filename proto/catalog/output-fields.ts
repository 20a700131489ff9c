// The type of a field of a diagnostic's (or a tool's) zod output schema, at a dotted path: what a
// roll-out's gates (broker/src/rollouts/strategy.ts checkGates) and a runbook's lookFor conditions
// (runbooks/define.ts checkRunbook) are typed against, so neither can name a field the output does
// not have or compare it with a value of another type. Pure: reads schemas, builds none.
import { z } from "zod";

export type ScalarType = "number" | "string" | "boolean";
type FieldKind = ScalarType | "array" | "object";

export interface FieldInfo {
  kind: FieldKind;
  /** null or absent somewhere on the way (optional, nullable): compares with null. */
  nullable: boolean;
  /** The values an enum or literal field can take (a comparison with another is always false). */
  values?: readonly (string | number | boolean)[];
}

export interface FieldOptions {
  /**
   * A segment ending in "[]" steps into an array's elements ("filesystems[].usedPercent": the
   * usedPercent of each filesystem). Without it an array is a leaf, as gates read outputs.
   */
  arrays?: boolean;
}

/** The kind of the field at a dotted path (through optional, nullable and default), or why there is none. */
export function outputField(schema: z.ZodType, path: string, options: FieldOptions = {}): FieldInfo | { error: string } {
  let s: z.ZodType = schema;
  let nullable = false;
  const unwrap = () => {
    for (;;) {
      if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) {
        nullable = true;
        s = s.unwrap() as z.ZodType;
      } else if (s instanceof z.ZodDefault) s = s.unwrap() as z.ZodType;
      else return;
    }
  };
  const walked: string[] = [];
  for (const segment of path.split(".")) {
    const each = options.arrays === true && segment.endsWith("[]");
    const key = each ? segment.slice(0, -2) : segment;
    unwrap();
    if (!(s instanceof z.ZodObject)) return { error: `${walked.join(".") || "the output"} is not an object` };
    const next = (s.shape as Record<string, z.ZodType>)[key];
    if (!next) return { error: `${[...walked, key].join(".")} is not a field (fields there: ${Object.keys(s.shape).slice(0, 20).join(", ")})` };
    walked.push(segment);
    s = next;
    if (each) {
      unwrap();
      if (!(s instanceof z.ZodArray)) return { error: `${[...walked.slice(0, -1), key].join(".")} is not an array (drop the "[]")` };
      s = s.element as z.ZodType;
    }
  }
  unwrap();
  if (s instanceof z.ZodNumber) return { kind: "number", nullable };
  if (s instanceof z.ZodString) return { kind: "string", nullable };
  if (s instanceof z.ZodEnum) return { kind: "string", nullable, values: s.options as readonly string[] };
  if (s instanceof z.ZodLiteral) {
    const values = [...s.values] as (string | number | boolean)[];
    const kinds = new Set(values.map((v) => typeof v));
    const only = [...kinds][0];
    if (kinds.size === 1 && (only === "string" || only === "number" || only === "boolean")) return { kind: only, nullable, values };
  }
  if (s instanceof z.ZodBoolean) return { kind: "boolean", nullable };
  if (s instanceof z.ZodArray) return { kind: "array", nullable };
  if (s instanceof z.ZodObject || s instanceof z.ZodRecord) return { kind: "object", nullable };
  return { error: `${path} is not a number, string or boolean (compare a field inside it)` };
}

/** A scalar field's type, as a gate compares it: arrays and objects are refused. */
export function fieldType(schema: z.ZodType, path: string): { type: ScalarType; nullable: boolean } | { error: string } {
  const f = outputField(schema, path);
  if ("error" in f) return f;
  if (f.kind === "array" || f.kind === "object") return { error: `${path} is not a number, string or boolean (compare a field inside it)` };
  return { type: f.kind, nullable: f.nullable };
}
