// The catalog hash: one SHA-256 over every definition's name and its input/output JSON schemas.
// The agent reports it (get_agent_info, startup log line) and the broker computes it from its own
// copy of the catalog, so a broker and an agent built from different catalogs can tell at once.
import { createHash } from "node:crypto";
import { z } from "zod";
import { canonicalJson, jsonValue } from "../../shared/canonical-json";

/** What the hash covers: the parts of a definition a caller depends on. */
export interface HashableDefinition {
  name: string;
  input: z.ZodType;
  output: z.ZodType;
}

/** The canonical JSON of any value (shared/canonical-json.ts), undefined members dropped, bytes as base64. */
export function digestJson(value: unknown): string {
  return sha256Digest(canonicalJson(jsonValue(value)));
}

/** "sha256:<64 hex>" of a string. */
function sha256Digest(text: string | Uint8Array): string {
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
  return digestJson(described);
}
