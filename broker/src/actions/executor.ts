// Runs one approved action on its host: the operator agent's server-streaming RPC
// ActionsService/<PascalName> over the operator channel (mTLS, operator client certificate). Each
// ActionEvent.output line is passed to `onOutput` as it arrives, with the host's stamp
// (at_unix_micros: when the host's helper had the line), synchronously, in the same turn of the
// event loop (the MCP tool turns them into progress notifications); the final
// ActionEvent.result_json is untrusted host output: size-capped, parsed and validated against the
// catalog's actionResult schema.
import { approvalToMessage, canonicalJson } from "../../../proto/catalog/approval";
import { actionResult, type ActionDef, type ActionResult } from "../../../proto/catalog/define-action";
import { methodKey } from "../../../proto/catalog/define";
import { ActionsServiceService, type ActionEvent, type Approval } from "../../../proto/gen/hostward/v1/actions";
import { describeIssues } from "../../../shared/zod-issues";
import type { ChannelHost, ChannelPool, UnaryMethod } from "../agents/channels";
import { HostCallError } from "../agents/errors";
import type { ActionRequest } from "./request";

/** Largest result_json accepted. */
const MAX_RESULT_BYTES = 256 * 1024;
/** Extra time beyond the action's own deadline for the agent, the helper's start and the network. */
const DEADLINE_SLACK_MS = 15_000;
/** Bounds on the relayed live output (the result carries the capped full output anyway). */
const MAX_RELAYED_LINES = 5_000;
const MAX_LINE = 2_000;

const service = ActionsServiceService as unknown as Record<string, UnaryMethod<unknown, ActionEvent> | undefined>;

function actionMethod(name: string): UnaryMethod<unknown, ActionEvent> {
  const method = service[methodKey(name)];
  if (!method) throw new HostCallError("UNIMPLEMENTED", `the contract has no RPC for ${name} (expected ActionsService.${methodKey(name)})`);
  return method;
}

/** The proto request: the method's proto3 defaults, the approved params (same field names), the approval. */
function actionRequestMessage(method: UnaryMethod<unknown, ActionEvent>, params: Record<string, unknown>, approval: Approval): unknown {
  const base = method.requestDeserialize ? (method.requestDeserialize(Buffer.alloc(0)) as Record<string, unknown>) : {};
  return { ...base, ...params, approval };
}

function approvalOf(request: ActionRequest): Approval {
  const approval = request.approval;
  if (!approval) throw new HostCallError("FAILED_PRECONDITION", `action ${request.id} carries no approval`);
  return approvalToMessage(approval.statement, approval.keyId, approval.signature, canonicalJson(request.preview ?? null), approval.cosignatures ?? []);
}

function parseActionResult(json: string): ActionResult {
  if (Buffer.byteLength(json, "utf8") > MAX_RESULT_BYTES) throw new HostCallError("MALFORMED_REPLY", `the action's result is larger than ${MAX_RESULT_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new HostCallError("MALFORMED_REPLY", `the action's result is not JSON (${(err as Error).message})`);
  }
  const parsed = actionResult.safeParse(value);
  if (!parsed.success) {
    throw new HostCallError("MALFORMED_REPLY", `the action's result does not match the catalog: ${describeIssues(parsed.error, { max: 1 })}`);
  }
  return parsed.data;
}

export interface ExecuteOptions {
  pool: ChannelPool;
  host: ChannelHost;
  def: ActionDef;
  /** A single-host request (its approval), or an approval message with its parameters (one host's part of a roll-out). */
  request: ActionRequest | { id: string; params: Record<string, unknown>; approval: Approval };
  callId: string;
  /** `atUnixMicros`: the host's stamp, 0 when the agent sent none or an implausible one. */
  onOutput: (line: string, index: number, atUnixMicros: number) => void;
}

/** The host's stamp as the broker keeps it: a positive safe integer, else 0 (host output is untrusted). */
export function hostStamp(value: unknown): number {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0 ? value : 0;
}

/** Streams the action; resolves with its validated result, or throws HostCallError. */
export async function executeOnHost({ pool, host, def, request, callId, onOutput }: ExecuteOptions): Promise<ActionResult> {
  const method = actionMethod(def.name);
  let result: ActionResult | undefined;
  let lines = 0;
  const message = "v" in request ? actionRequestMessage(method, request.approval?.statement.params ?? {}, approvalOf(request)) : actionRequestMessage(method, request.params, request.approval);
  await pool.serverStream(host, "operator", method, message, {
    timeoutMs: def.timeoutMs + DEADLINE_SLACK_MS,
    metadata: { "x-hostward-call-id": callId, "x-hostward-action-id": request.id },
    onMessage: (event) => {
      const e = event.event;
      if (!e) return;
      if (e.$case === "output") {
        if (result) throw new HostCallError("MALFORMED_REPLY", "the agent sent output after the result");
        lines += 1;
        const at = hostStamp(event.atUnixMicros);
        if (lines <= MAX_RELAYED_LINES) onOutput(e.value.length > MAX_LINE ? `${e.value.slice(0, MAX_LINE)}…` : e.value, lines, at);
        else if (lines === MAX_RELAYED_LINES + 1) onOutput(`(more than ${MAX_RELAYED_LINES} lines: the rest is in the result's output)`, lines, 0);
      } else if (e.$case === "resultJson") {
        if (result) throw new HostCallError("MALFORMED_REPLY", "the agent sent two results");
        result = parseActionResult(e.value);
      }
    },
  });
  if (!result) throw new HostCallError("MALFORMED_REPLY", `${host.name} ended the action's stream without a result`);
  return result;
}
