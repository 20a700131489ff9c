// ActionRecordsService (operator role): the host's own record of one action request, read from the
// root helper's ledger (helper/ledger.ts) through the helper itself — the same sudo line, a
// read-only query on its stdin — so the ledger stays root's alone. The broker asks after it lost an
// action's outcome (its own crash, or this agent's) and settles the request from the answer.
import * as grpc from "@grpc/grpc-js";
import { findAction } from "../../../proto/catalog/actions/index";
import { ActionRecordsServiceService, type ActionRecordReply, type GetActionRecordRequest, type PreviewActionReply, type PreviewActionRequest } from "../../../proto/gen/hostward/v1/action_records";
import { runHelper } from "../actions/run-helper";
import type { HelperConfig } from "../config";
import { LEDGER_ID } from "../helper/ledger";
import { callRecord } from "./call-record";
import { RpcError, toStatus } from "./errors";
import { limitMessage, type ConcurrencyLimit } from "./limiter";
import { describeInvalidInput } from "./request";

export interface ActionRecordsDeps {
  helper: HelperConfig;
  limit: ConcurrencyLimit;
  helperStderr?: NodeJS.WritableStream;
}

const QUERY_TIMEOUT_MS = 15_000;

async function getRecord(request: GetActionRecordRequest, deps: ActionRecordsDeps): Promise<ActionRecordReply> {
  const id = request.requestId;
  if (!LEDGER_ID.test(id)) throw new RpcError(grpc.status.INVALID_ARGUMENT, `invalid argument "request_id": not an action request id`);
  const record = callRecord.getStore();
  const release = deps.limit.tryAcquire(record?.client);
  if (typeof release === "string") throw new RpcError(grpc.status.RESOURCE_EXHAUSTED, limitMessage(deps.limit, release));
  try {
    if (record) record.spawns = 1;
    const outcome = await runHelper(deps.helper, { query: "ledger", requestId: id }, { timeoutMs: QUERY_TIMEOUT_MS, onOutput: () => undefined, ...(deps.helperStderr && { stderr: deps.helperStderr }) });
    if (outcome.kind === "ledger") {
      return { json: JSON.stringify({ entry: outcome.entry, ...(outcome.running !== undefined && { running: outcome.running }), ...(outcome.unreadable !== undefined && { unreadable: outcome.unreadable }) }) };
    }
    if (outcome.kind === "refused") throw new RpcError(grpc.status.FAILED_PRECONDITION, `the host's helper refused the query (${outcome.code}): ${outcome.reason}`);
    throw new RpcError(grpc.status.FAILED_PRECONDITION, `the host's helper did not answer: ${outcome.kind === "failed" ? outcome.detail : outcome.kind}`);
  } finally {
    release();
  }
}

/** PreviewAction: the parameters are validated here as the helper will (INVALID_ARGUMENT naming the field), then the helper computes the preview. */
async function preview(request: PreviewActionRequest, deps: ActionRecordsDeps): Promise<PreviewActionReply> {
  const def = findAction(request.action);
  if (!def) throw new RpcError(grpc.status.INVALID_ARGUMENT, `invalid argument "action": ${JSON.stringify(request.action.slice(0, 64))} is not an action of this agent's catalog`);
  let raw: unknown;
  try {
    raw = JSON.parse(request.parametersJson || "{}");
  } catch {
    throw new RpcError(grpc.status.INVALID_ARGUMENT, `invalid argument "parameters_json": not JSON`);
  }
  const parsed = def.params.safeParse(raw);
  if (!parsed.success) throw new RpcError(grpc.status.INVALID_ARGUMENT, describeInvalidInput(parsed.error, raw));
  const record = callRecord.getStore();
  const release = deps.limit.tryAcquire(record?.client);
  if (typeof release === "string") throw new RpcError(grpc.status.RESOURCE_EXHAUSTED, limitMessage(deps.limit, release));
  try {
    if (record) record.spawns = 1;
    const outcome = await runHelper(deps.helper, { query: "preview", action: def.name, params: parsed.data as Record<string, unknown> }, { timeoutMs: QUERY_TIMEOUT_MS + 10_000, onOutput: () => undefined, ...(deps.helperStderr && { stderr: deps.helperStderr }) });
    if (outcome.kind === "preview") return { json: JSON.stringify(outcome.preview), approvalsRequired: outcome.approvalsRequired ?? 0 };
    if (outcome.kind === "refused") {
      const code = outcome.code === "NOT_ALLOWLISTED" ? grpc.status.PERMISSION_DENIED : outcome.code === "BAD_REQUEST" ? grpc.status.FAILED_PRECONDITION : grpc.status.FAILED_PRECONDITION;
      throw new RpcError(code, `the host's helper refused the preview (${outcome.code}): ${outcome.reason}`);
    }
    throw new RpcError(grpc.status.FAILED_PRECONDITION, `the host's helper did not answer the preview: ${outcome.kind === "failed" ? outcome.detail : outcome.kind}`);
  } finally {
    release();
  }
}

function unary<Req, Rep>(fn: (req: Req) => Promise<Rep>) {
  return (call: grpc.ServerUnaryCall<Req, Rep>, callback: grpc.sendUnaryData<Rep>) => {
    const record = callRecord.getStore();
    fn(call.request).then(
      (reply) => callback(null, reply),
      (err: unknown) => {
        const status = toStatus(err);
        if (record) record.error = status.logDetail;
        callback({ code: status.code, details: status.details });
      },
    );
  };
}

export function addActionRecordsService(server: grpc.Server, deps: ActionRecordsDeps): void {
  server.addService(ActionRecordsServiceService, {
    previewAction: unary((req: PreviewActionRequest) => preview(req, deps)),
    getActionRecord: unary((req: GetActionRecordRequest) => getRecord(req, deps)),
  });
}
