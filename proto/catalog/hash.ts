// The catalog hash: one SHA-256 over every definition's name and its input/output JSON schemas.
// The agent reports it (get_agent_info, startup log line) and the broker computes it from its own
// copy of the catalog, so a broker and an agent built from different catalogs can tell at once.
import { createHash } from "node:crypto";
import { z } from "zod";

/** What the hash covers: the parts of a definition a caller depends on. */
export interface HashableDefinition {
  name: string;
  input: z.ZodType;
  output: z.ZodType;
}

/**
 * JSON with object keys sorted at every level and `undefined` members dropped, so equal values
 * always give equal text (and equal digests) whatever the order their keys were built in.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value)) ?? "null";
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const member = (value as Record<string, unknown>)[key];
      if (member !== undefined) out[key] = sortKeys(member);
    }
    return out;
  }
  if (typeof value === "bigint") return value.toString();
  return value;
}

/** "sha256:<64 hex>" of a string. */
export function sha256Digest(text: string | Uint8Array): string {
  return `sha256:${createHash("sha256").update(text).digest("hex")}`;
}

/** The JSON schema a caller sees for an input ("input" mode: defaulted fields are optional). */
function schemaOf(schema: z.ZodType, io: "input" | "output"): unknown {
  // "any" for unrepresentable parts (transforms…): the hash must never throw at startup.
  return z.toJSONSchema(schema, { io, unrepresentable: "any" });
}

/** "sha256:<hex>" over the canonical JSON of [{name, input, output}] in catalog order. */
export function catalogHash(definitions: readonly HashableDefinition[]): string {
  const described = definitions.map((d) => ({
    name: d.name,
    input: schemaOf(d.input, "input"),
    output: schemaOf(d.output, "output"),
  }));
  return sha256Digest(canonicalJson(described));
}
