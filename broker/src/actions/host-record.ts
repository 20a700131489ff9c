// The host's own record of an action request (its root helper's ledger), fetched through the
// operator agent's ActionRecordsService. Untrusted host output: size-capped, parsed and validated
// here before anything is decided from it.
import { z } from "zod";
import { describeIssues } from "../../../shared/zod-issues";
import { ActionRecordsServiceService, type ActionRecordReply, type GetActionRecordRequest } from "../../../proto/gen/hostward/v1/action_records";
import type { ChannelHost, ChannelPool, UnaryMethod } from "../agents/channels";
import { HostCallError } from "../agents/errors";

const MAX_REPLY_BYTES = 256 * 1024;

const HostRecordSchema = z.object({
  entry: z
    .object({
      requestId: z.string().max(64),
      action: z.string().max(64).optional(),
      /** VOIDED: the helper never started it, and now never will (the query voided the id). */
      state: z.enum(["STARTED", "ENDED", "VOIDED"]),
      startedAt: z.string().max(40).optional(),
      voidedAt: z.string().max(40).optional(),
      nonce: z.string().max(64).optional(),
      endedAt: z.string().max(40).optional(),
      verdict: z.enum(["SUCCEEDED", "FAILED"]).optional(),
      reason: z.string().max(4000).optional(),
      before: z.unknown().optional(),
      after: z.unknown().optional(),
      output: z.array(z.string().max(2000)).max(100).optional(),
    })
    .nullable(),
  running: z.boolean().optional(),
  /** The record exists but could not be read: nothing may be concluded from it. */
  unreadable: z.string().max(500).optional(),
});
export type HostRecord = z.output<typeof HostRecordSchema>;

const method = ActionRecordsServiceService.getActionRecord as unknown as UnaryMethod<GetActionRecordRequest, ActionRecordReply>;

export async function fetchHostRecord(pool: ChannelPool, host: ChannelHost, requestId: string, timeoutMs = 10_000): Promise<HostRecord> {
  const reply = await pool.unary(host, "operator", method, { requestId }, timeoutMs);
  if (Buffer.byteLength(reply.json, "utf8") > MAX_REPLY_BYTES) throw new HostCallError("MALFORMED_REPLY", `the host's record is larger than ${MAX_REPLY_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(reply.json);
  } catch (err) {
    throw new HostCallError("MALFORMED_REPLY", `the host's record is not JSON (${(err as Error).message})`);
  }
  const parsed = HostRecordSchema.safeParse(value);
  if (!parsed.success) throw new HostCallError("MALFORMED_REPLY", `the host's record does not match its schema: ${describeIssues(parsed.error, { max: 1 })}`);
  if (parsed.data.entry && parsed.data.entry.requestId !== requestId) throw new HostCallError("MALFORMED_REPLY", `the host answered with the record of ${parsed.data.entry.requestId}, not ${requestId}`);
  return parsed.data;
}
