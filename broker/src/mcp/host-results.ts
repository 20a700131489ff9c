// The structured result shared by every tool that runs on hosts:
//   {results: [{host, ok, data?, error?: {code, message}, durationMs?, truncated?, nextCursor?}],
//    summary: {hosts, ok, failed, denied}, truncated?}
// One entry per selected host, in inventory order; a host's failure is data, not a tool error.
// This envelope is in the output schema of every host tool, so its fields carry no descriptions
// there: the server's instructions (commands/serve.ts) explain it once. truncated: part of the
// output (of one host's data, or the whole) was cut to fit the broker's maxOutputBytes; nextCursor:
// pass as `cursor` to continue after the last entry shown. The summary view (fleet-summary.ts)
// replaces `results` with `fleet`; `page` pages the results (fleet-view.ts).
import { z } from "zod";
import type { HostError } from "../agents/errors";

const hostErrorSchema = z.object({
  /** UNAVAILABLE, DEADLINE_EXCEEDED, PERMISSION_DENIED, INVALID_ARGUMENT, NOT_FOUND, POLICY_DENIED, MALFORMED_REPLY, OUTPUT_TOO_LARGE, … */
  code: z.string(),
  message: z.string(),
});

function hostResultSchema<D extends z.ZodType>(data: D) {
  return z.object({
    host: z.string(),
    ok: z.boolean(),
    data: data.optional(),
    error: hostErrorSchema.optional(),
    durationMs: z.number().int().optional(),
    truncated: z.boolean().optional(),
    nextCursor: z.string().optional(),
  });
}

const summarySchema = z.object({
  hosts: z.number().int(),
  ok: z.number().int(),
  failed: z.number().int(),
  denied: z.number().int(),
});

/**
 * The output of every host tool (fleet-view.ts): the per-host envelope above, or (view "summary")
 * `fleet` without `results`; `page` continues either. Compact on purpose (every
 * diagnostic carries it in tools/list): `fleet`'s shape is said once, in the server's instructions.
 */
export function fleetResultsSchema<D extends z.ZodType>(data: D) {
  return z.object({
    results: z.array(hostResultSchema(data)).optional(),
    summary: summarySchema,
    truncated: z.boolean().optional(),
    fleet: z.object({}).optional(),
    page: z.string().optional(),
  });
}

export interface HostResult<T = unknown> {
  host: string;
  ok: boolean;
  data?: T;
  error?: HostError;
  durationMs?: number;
  truncated?: boolean;
  nextCursor?: string;
}

export interface HostResults<T = unknown> {
  results: HostResult<T>[];
  summary: { hosts: number; ok: number; failed: number; denied: number };
  truncated?: boolean;
}

export function summarize(results: readonly HostResult[]): HostResults["summary"] {
  const denied = results.filter((r) => r.error?.code === "POLICY_DENIED").length;
  const ok = results.filter((r) => r.ok).length;
  return { hosts: results.length, ok, failed: results.length - ok - denied, denied };
}
