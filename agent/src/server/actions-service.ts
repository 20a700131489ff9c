// ActionsService (operator role), wired from the action catalog: for every definition in
// proto/catalog/actions, the generated server-streaming method of the same name validates the
// parameters (actions/validate.ts), runs the root helper once (actions/run-helper.ts), relays each
// line the helper prints as ActionEvent.output and ends with one ActionEvent.result_json. A helper
// refusal becomes a typed status naming the refusal. Only the operator entry point imports this.
import * as grpc from "@grpc/grpc-js";
import { actions } from "../../../proto/catalog/actions/index";
import { methodKey, rpcName } from "../../../proto/catalog/define";
import type { ActionDef } from "../../../proto/catalog/define-action";
import { ActionsServiceService, type ActionEvent } from "../../../proto/gen/hostward/v1/actions";
import { runHelper, type HelperOutcome } from "../actions/run-helper";
import { toHelperRequest } from "../actions/validate";
import type { HelperConfig } from "../config";
import type { RefusalCode } from "../helper/exit-codes";
import type { Logger } from "../logging";
import { callRecord } from "./call-record";
import { toStatus } from "./errors";
import { limitMessage, type ConcurrencyLimit } from "./limiter";
import { protoDefaults } from "./request";
import { RpcError } from "./errors";

type Message = Record<string, unknown>;

export interface ActionsDeps {
  helper: HelperConfig;
  limit: ConcurrencyLimit;
  logger?: Logger;
  /** Where the helper's stderr (its audit line) goes; default this process's stderr. */
  helperStderr?: NodeJS.WritableStream;
}

/** Time the agent gives the helper beyond the catalog's deadline (sudo, node start, post-check slack). */
const HELPER_SLACK_MS = 30_000;

const REFUSAL_STATUS: Record<RefusalCode, grpc.status> = {
  BAD_REQUEST: grpc.status.INVALID_ARGUMENT,
  NOT_ALLOWLISTED: grpc.status.PERMISSION_DENIED,
  NO_APPROVAL: grpc.status.PERMISSION_DENIED,
  MALFORMED: grpc.status.PERMISSION_DENIED,
  UNKNOWN_KEY: grpc.status.PERMISSION_DENIED,
  BAD_SIGNATURE: grpc.status.PERMISSION_DENIED,
  EXPIRED: grpc.status.PERMISSION_DENIED,
  OTHER_HOST: grpc.status.PERMISSION_DENIED,
  OTHER_ACTION: grpc.status.PERMISSION_DENIED,
  ALTERED: grpc.status.PERMISSION_DENIED,
  IMPACT_TOO_HIGH: grpc.status.PERMISSION_DENIED,
  REPLAYED: grpc.status.PERMISSION_DENIED,
  CLOCK_SKEW: grpc.status.PERMISSION_DENIED,
  LIFETIME: grpc.status.PERMISSION_DENIED,
  STALE: grpc.status.PERMISSION_DENIED,
  // Not yet enough approvers: another signature makes it runnable (the approval is not used up).
  TOO_FEW_APPROVALS: grpc.status.FAILED_PRECONDITION,
  SELF_APPROVAL: grpc.status.PERMISSION_DENIED,
  // The host changed since the human saw the preview: propose again (not the caller's fault).
  HOST_CHANGED: grpc.status.FAILED_PRECONDITION,
  // The host is not set up as the helper requires: not the caller's fault.
  CONFIG: grpc.status.FAILED_PRECONDITION,
  USAGE: grpc.status.FAILED_PRECONDITION,
  ENVIRONMENT: grpc.status.FAILED_PRECONDITION,
  INTERNAL: grpc.status.INTERNAL,
};

function outcomeError(outcome: Exclude<HelperOutcome, { kind: "result" }>): RpcError {
  if (outcome.kind === "refused") {
    return new RpcError(REFUSAL_STATUS[outcome.code] ?? grpc.status.INTERNAL, `the host's helper refused (${outcome.code}, exit ${outcome.exitCode}): ${outcome.reason}`);
  }
  if (outcome.kind === "ledger" || outcome.kind === "preview") return new RpcError(grpc.status.INTERNAL, `the host's helper answered an action with a ${outcome.kind} record`);
  // It may have ended after it started the action (killed at the deadline, a crash, too much
  // output): not "did not run". UNKNOWN makes the broker ask the host's ledger.
  return new RpcError(grpc.status.UNKNOWN, `the host's helper ended without a result (${outcome.detail}); it may have started the action: the host's ledger says (get_action asks it)`);
}

function streamingHandler(def: ActionDef, defaults: Message, deps: ActionsDeps): grpc.handleServerStreamingCall<Message, ActionEvent> {
  async function serve(call: grpc.ServerWritableStream<Message, ActionEvent>): Promise<void> {
    const record = callRecord.getStore();
    const release = deps.limit.tryAcquire(record?.client);
    if (typeof release === "string") throw new RpcError(grpc.status.RESOURCE_EXHAUSTED, limitMessage(deps.limit, release));
    try {
      const request = toHelperRequest(def, call.request, defaults);
      if (record) record.spawns = 1;
      // A caller who leaves does not stop an approved action half-way: the helper finishes and
      // records it; its lines are simply no longer relayed.
      const outcome = await runHelper(deps.helper, request, {
        timeoutMs: def.timeoutMs + HELPER_SLACK_MS,
        stderr: deps.helperStderr,
        onOutput: (line, atUnixMicros) => {
          if (!call.cancelled) call.write({ event: { $case: "output", value: line }, atUnixMicros });
        },
      });
      if (outcome.kind !== "result") throw outcomeError(outcome);
      if (record && outcome.result.verdict === "FAILED") record.error = `verdict FAILED: ${outcome.result.reason ?? ""}`.slice(0, 500);
      call.write({ event: { $case: "resultJson", value: JSON.stringify(outcome.result) }, atUnixMicros: 0 });
    } finally {
      release();
    }
  }

  return (call) => {
    const record = callRecord.getStore();
    serve(call).then(
      () => call.end(),
      (err: unknown) => {
        const status = toStatus(err);
        if (record) record.error = status.logDetail;
        call.emit("error", { code: status.code, details: status.details, metadata: new grpc.Metadata() });
      },
    );
  };
}

const methods = ActionsServiceService as unknown as Record<string, grpc.MethodDefinition<Message, ActionEvent>>;

/** The implementation object for ActionsServiceService; throws if the catalog and the proto disagree. */
function createActionsImplementation(deps: ActionsDeps): grpc.UntypedServiceImplementation {
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const def of actions as readonly ActionDef[]) {
    const key = methodKey(def.name);
    const method = methods[key];
    if (!method) throw new Error(`action ${def.name} has no rpc ${rpcName(def.name)} in ActionsService (proto/hostward/v1/actions.proto)`);
    implementation[key] = streamingHandler(def, protoDefaults(method.requestDeserialize), deps);
  }
  return implementation;
}

export function addActionsService(server: grpc.Server, deps: ActionsDeps): void {
  if (deps.helper.mode === "direct") {
    deps.logger?.warn(
      { helper: deps.helper },
      "helper.mode is DIRECT: actions run the helper bundle without sudo, as this agent's user, with approvers and allowlist from the agent configuration. Local development fleets only; never on a real host.",
    );
  }
  server.addService(ActionsServiceService, createActionsImplementation(deps));
}
