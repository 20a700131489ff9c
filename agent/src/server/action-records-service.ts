// ActionRecordsService (operator role): the host's own record of one action request, read from the
// root helper's ledger (helper/ledger.ts) through the helper itself — the same sudo line, a
// read-only query on its stdin — so the ledger stays root's alone. The broker asks after it lost an
// action's outcome (its own crash, or this agent's) and settles the request from the answer.
import * as grpc from "@grpc/grpc-js";
import { ActionRecordsServiceService, type ActionRecordReply, type GetActionRecordRequest } from "../../../proto/gen/hostward/v1/action_records";
import { runHelper } from "../actions/run-helper";
import type { HelperConfig } from "../config";
import { LEDGER_ID } from "../helper/ledger";
import { callRecord } from "./call-record";
import { RpcError, toStatus } from "./errors";
import { limitMessage, type ConcurrencyLimit } from "./limiter";

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

export function addActionRecordsService(server: grpc.Server, deps: ActionRecordsDeps): void {
  server.addService(ActionRecordsServiceService, {
    getActionRecord: (call: grpc.ServerUnaryCall<GetActionRecordRequest, ActionRecordReply>, callback: grpc.sendUnaryData<ActionRecordReply>) => {
      const record = callRecord.getStore();
      getRecord(call.request, deps).then(
        (reply) => callback(null, reply),
        (err: unknown) => {
          const status = toStatus(err);
          if (record) record.error = status.logDetail;
          callback({ code: status.code, details: status.details });
        },
      );
    },
  });
}
