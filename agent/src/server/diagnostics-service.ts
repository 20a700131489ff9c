// DiagnosticsService, wired generically from the catalog: for every definition in
// proto/catalog/diagnostics, the generated method of the same name gets one handler that
// validates the request with the definition's zod input, runs the diagnostic with a deadline
// signal and spawn accounting, checks the result against the output schema and caps its size.
// Adding a diagnostic needs no change here. Only the reader entry point imports this module.
import * as grpc from "@grpc/grpc-js";
import type { z } from "zod";
import { methodKey, rpcName } from "../../../proto/catalog/define";
import { diagnostics } from "../../../proto/catalog/diagnostics/index";
import { DiagnosticsServiceService } from "../../../proto/gen/hostward/v1/diagnostics";
import type { DiagnosticReply } from "../../../proto/gen/hostward/v1/diagnostics_messages";
import { describeIssues } from "../../../shared/zod-issues";
import type { AgentConfig } from "../config";
import { DiagnosticError, type DiagnosticContext } from "../diagnostics/context";
import { diagnosticHandlers } from "../diagnostics/index";
import { execScope, type ExecScope } from "../exec";
import { callRecord } from "./call-record";
import { callSignal, DeadlineExceeded } from "./deadline";
import { INTERNAL_MESSAGE, RpcError, toServiceError, toStatus } from "./errors";
import { limitMessage, type ConcurrencyLimit } from "./limiter";
import { describeInvalidInput, protoDefaults, stripProtoDefaults } from "./request";

type Message = Record<string, unknown>;
export type AnyHandler = (input: unknown, ctx: DiagnosticContext) => Promise<unknown>;
interface AnyDefinition {
  name: string;
  input: z.ZodType;
  output: z.ZodType;
}

export interface DiagnosticsDeps {
  config: AgentConfig;
  agent: DiagnosticContext["agent"];
  limit: ConcurrencyLimit;
}

const methods = DiagnosticsServiceService as unknown as Record<string, grpc.MethodDefinition<Message, DiagnosticReply>>;

function asRpcError(err: unknown, signal: AbortSignal): unknown {
  if (err instanceof DiagnosticError) return new RpcError(grpc.status[err.code], err.message);
  if (signal.aborted) {
    return signal.reason instanceof DeadlineExceeded
      ? new RpcError(grpc.status.DEADLINE_EXCEEDED, "deadline exceeded before the diagnostic finished")
      : new RpcError(grpc.status.CANCELLED, "cancelled by the caller");
  }
  return err;
}

function unaryHandler(def: AnyDefinition, handler: AnyHandler, defaults: Message, deps: DiagnosticsDeps): grpc.handleUnaryCall<Message, DiagnosticReply> {
  const maxReplyBytes = deps.config.limits.maxReplyBytes;

  async function serve(call: grpc.ServerUnaryCall<Message, DiagnosticReply>): Promise<DiagnosticReply> {
    const record = callRecord.getStore();
    const release = deps.limit.tryAcquire(record?.client);
    if (typeof release === "string") throw new RpcError(grpc.status.RESOURCE_EXHAUSTED, limitMessage(deps.limit, release));
    const { signal, dispose } = callSignal(call, deps.config.limits.maxCallSeconds * 1000);
    try {
      const input = stripProtoDefaults(call.request, defaults);
      const parsed = def.input.safeParse(input);
      if (!parsed.success) throw new RpcError(grpc.status.INVALID_ARGUMENT, describeInvalidInput(parsed.error, input));

      const scope: ExecScope = { spawns: 0 };
      let result: unknown;
      try {
        result = await execScope.run(scope, () => handler(parsed.data, { config: deps.config, signal, agent: deps.agent }));
      } catch (err) {
        throw asRpcError(err, signal);
      } finally {
        if (record) record.spawns = scope.spawns;
      }
      // A result that arrives after the caller left is not sent (and not logged as a success).
      if (signal.aborted) throw asRpcError(signal.reason, signal);

      const checked = def.output.safeParse(result);
      if (!checked.success) {
        throw new RpcError(grpc.status.INTERNAL, INTERNAL_MESSAGE, `${def.name} returned a result that does not match its output schema:\n  ${describeIssues(checked.error, { separator: "\n  " })}`);
      }
      const json = JSON.stringify(checked.data);
      const bytes = Buffer.byteLength(json, "utf8");
      if (bytes > maxReplyBytes) {
        throw new RpcError(
          grpc.status.RESOURCE_EXHAUSTED,
          `the reply of ${def.name} is ${bytes} bytes, over this agent's limit of ${maxReplyBytes} bytes (limits.maxReplyBytes); ask for less (fewer lines or entries, a narrower filter)`,
        );
      }
      return { json };
    } finally {
      dispose();
      release();
    }
  }

  return (call, callback) => {
    const record = callRecord.getStore();
    serve(call).then(
      (reply) => callback(null, reply),
      (err: unknown) => {
        const status = toStatus(err);
        if (record) record.error = status.logDetail;
        callback(toServiceError(status));
      },
    );
  };
}

/** Which definitions are served and by which handlers: the real catalog unless a test says otherwise. */
export interface DiagnosticsWiring {
  definitions: readonly AnyDefinition[];
  handlers: Readonly<Record<string, AnyHandler | undefined>>;
}

const CATALOG: DiagnosticsWiring = {
  definitions: diagnostics as readonly AnyDefinition[],
  handlers: diagnosticHandlers as unknown as Record<string, AnyHandler | undefined>,
};

/** The implementation object for DiagnosticsServiceService; throws if the catalog and the proto disagree. */
export function createDiagnosticsImplementation(deps: DiagnosticsDeps, wiring: DiagnosticsWiring = CATALOG): grpc.UntypedServiceImplementation {
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const def of wiring.definitions) {
    const key = methodKey(def.name);
    const method = methods[key];
    if (!method) {
      throw new Error(`catalog entry ${def.name} has no rpc ${rpcName(def.name)} in DiagnosticsService (proto/hostward/v1/diagnostics.proto)`);
    }
    const handler = wiring.handlers[def.name];
    if (!handler) throw new Error(`catalog entry ${def.name} has no handler in agent/src/diagnostics`);
    implementation[key] = unaryHandler(def, handler, protoDefaults(method.requestDeserialize), deps);
  }
  // Generated methods without a catalog entry are left out: grpc-js answers them UNIMPLEMENTED.
  return implementation;
}

export function addDiagnosticsService(server: grpc.Server, deps: DiagnosticsDeps, wiring: DiagnosticsWiring = CATALOG): void {
  server.addService(DiagnosticsServiceService, createDiagnosticsImplementation(deps, wiring));
}
