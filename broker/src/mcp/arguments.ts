// Tool arguments: validation with messages that name the field, and the bounded form in which
// arguments are written to the audit log.
import { createHash } from "node:crypto";
import type { z } from "zod";
import { describeIssues, unknownKeys } from "../../../shared/zod-issues";

export type ParsedArgs<T> = { ok: true; data: T } | { ok: false; error: string; fields: string[] };

/** Validates raw MCP arguments; the error names every offending field and says what is wrong. */
export function parseArgs<S extends z.ZodType>(tool: string, schema: S, raw: unknown): ParsedArgs<z.output<S>> {
  const parsed = schema.safeParse(raw ?? {});
  if (parsed.success) return { ok: true, data: parsed.data };
  const fields: string[] = [];
  const error = describeIssues(parsed.error, {
    max: 10,
    top: "(arguments)",
    line: (issue, where) => {
      if (issue.code === "unrecognized_keys") {
        const prefix = issue.path.length ? `${where}.` : "";
        fields.push(...issue.keys.map((k) => `${prefix}${k}`));
        return `${unknownKeys(issue.keys, "argument", prefix)} (not in the tool's input schema)`;
      }
      fields.push(where);
      return `${where}: ${issue.message}`;
    },
  });
  return { ok: false, error: `invalid arguments for ${tool}: ${error}`, fields };
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
