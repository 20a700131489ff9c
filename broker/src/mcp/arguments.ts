// Tool arguments: validation with messages that name the field, and the bounded form in which
// arguments are written to the audit log.
import { createHash } from "node:crypto";
import type { z } from "zod";

export type ParsedArgs<T> = { ok: true; data: T } | { ok: false; error: string; fields: string[] };

function fieldOf(issue: z.core.$ZodIssue): string {
  return issue.path.length ? issue.path.map(String).join(".") : "(arguments)";
}

/** Validates raw MCP arguments; the error names every offending field and says what is wrong. */
export function parseArgs<S extends z.ZodType>(tool: string, schema: S, raw: unknown): ParsedArgs<z.output<S>> {
  const parsed = schema.safeParse(raw ?? {});
  if (parsed.success) return { ok: true, data: parsed.data };
  const fields: string[] = [];
  const lines = parsed.error.issues.slice(0, 10).map((issue) => {
    if (issue.code === "unrecognized_keys") {
      const prefix = issue.path.length ? `${fieldOf(issue)}.` : "";
      fields.push(...issue.keys.map((k) => `${prefix}${k}`));
      return `unknown argument${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${prefix}${k}"`).join(", ")} (not in the tool's input schema)`;
    }
    fields.push(fieldOf(issue));
    return `${fieldOf(issue)}: ${issue.message}`;
  });
  const more = parsed.error.issues.length > 10 ? ` (and ${parsed.error.issues.length - 10} more)` : "";
  return { ok: false, error: `invalid arguments for ${tool}: ${lines.join("; ")}${more}`, fields };
}

const MAX_AUDITED_ARGS = 4096;

/** Arguments as the audit log keeps them: verbatim when small, else a digest and a preview. */
export function auditArgs(raw: unknown): { args: unknown } | { argsDigest: string; argsPreview: string; argsBytes: number } {
  let json: string;
  try {
    json = JSON.stringify(raw ?? {}) ?? "null";
  } catch {
    json = String(raw);
  }
  if (json.length <= MAX_AUDITED_ARGS) return { args: raw ?? {} };
  return {
    argsDigest: `sha256:${createHash("sha256").update(json).digest("hex")}`,
    argsPreview: `${json.slice(0, 512)}…`,
    argsBytes: Buffer.byteLength(json),
  };
}
