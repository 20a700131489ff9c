// The impact preview of a proposed action, computed on its host (the operator agent's
// ActionRecordsService/PreviewAction, answered by the root helper's read-only preview query) before
// anyone is asked to approve it. Untrusted host output: size-capped, parsed, validated against the
// catalog's preview schema and its facts against the kind's (preview-summary.ts), its summary
// refused unless it is exactly the text those facts render to (what describe.ts shows is this
// broker's own rendering, never the host's text), and its plan rendered here before it is shown or signed.
import { canonicalJson } from "../../../shared/canonical-json";
import { actionPreview, PREVIEW_RUN, renderPlan, type ActionDef, type ActionPreview } from "../../../proto/catalog/define-action";
import { ActionRecordsServiceService, type PreviewActionReply, type PreviewActionRequest } from "../../../proto/gen/hostward/v1/action_records";
import type { ChannelHost, ChannelPool, UnaryMethod } from "../agents/channels";
import { HostCallError } from "../agents/errors";
import { describeIssues } from "../../../shared/zod-issues";
import { previewProblem } from "../../../proto/catalog/preview-summary";

/** The largest preview accepted (the helper's own cap on preview_json is 32 KiB). */
const MAX_PREVIEW_BYTES = 32 * 1024;

const method = ActionRecordsServiceService.previewAction as unknown as UnaryMethod<PreviewActionRequest, PreviewActionReply>;

/**
 * The preview, and how many distinct approver keys the host says it requires for the action's
 * impact (untrusted and only advisory: the broker waits for that many signatures before it
 * executes, the host's helper counts them itself; absent from an agent that predates it).
 */
export async function fetchHostPreview(
  pool: ChannelPool,
  host: ChannelHost,
  def: ActionDef,
  params: Record<string, unknown>,
  timeoutMs = 30_000,
): Promise<{ preview: ActionPreview; approvalsRequired?: number }> {
  const reply = await pool.unary(host, "operator", method, { action: def.name, parametersJson: canonicalJson(params) }, timeoutMs);
  const n = reply.approvalsRequired;
  const approvalsRequired = Number.isSafeInteger(n) && n >= 1 && n <= 9 ? n : undefined;
  if (Buffer.byteLength(reply.json, "utf8") > MAX_PREVIEW_BYTES) throw new HostCallError("MALFORMED_REPLY", `the host's preview is larger than ${MAX_PREVIEW_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(reply.json);
  } catch (err) {
    throw new HostCallError("MALFORMED_REPLY", `the host's preview is not JSON (${(err as Error).message})`);
  }
  const parsed = actionPreview.safeParse(value);
  if (!parsed.success) throw new HostCallError("MALFORMED_REPLY", `the host's preview does not match its schema: ${describeIssues(parsed.error, { max: 1 })}`);
  if (parsed.data.action !== def.name) throw new HostCallError("MALFORMED_REPLY", `the host answered with a preview of ${parsed.data.action}, not ${def.name}`);
  if (Buffer.byteLength(canonicalJson(parsed.data), "utf8") > MAX_PREVIEW_BYTES) throw new HostCallError("MALFORMED_REPLY", `the host's preview is larger than ${MAX_PREVIEW_BYTES} bytes`);
  const problem = previewProblem(def, params, parsed.data);
  if (problem) throw new HostCallError("MALFORMED_REPLY", `the host's preview is refused: ${problem.reason}`);
  try {
    renderPlan(def, params, parsed.data.facts, PREVIEW_RUN);
  } catch (err) {
    throw new HostCallError("MALFORMED_REPLY", `the host's preview gives facts no plan can be rendered from: ${(err as Error).message}`);
  }
  return { preview: parsed.data, ...(approvalsRequired !== undefined && { approvalsRequired }) };
}
