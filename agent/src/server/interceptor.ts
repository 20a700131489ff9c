// The one server interceptor every call passes through, whatever its service: it authorises the
// caller (authorise.ts) before the handler can run, and writes the single "rpc" log line when the
// call ends — refusals, cancellations and deadline expiries included.
import * as grpc from "@grpc/grpc-js";
import { argDigest, logRpc, type Logger } from "../logging";
import { authorise, splitPath, type Decision } from "./authorise";
import { callRecord, type CallRecord } from "./call-record";
import { agentCounters } from "./counters";
import { identifyCaller } from "./caller";
import type { RevocationList } from "./revocation";
import { cancelledByDeadline } from "./deadline";
import { extractContext, SpanKind, SpanStatusCode, startSpan, tracingOn, type Span } from "../../../shared/tracing";

export interface InterceptorOptions {
  revocations?: RevocationList;
  /**
   * The longest a call may last, whatever its deadline (or none): then the call ends with
   * DEADLINE_EXCEEDED. A stream that never sends its request (half-open) ends too.
   */
  maxCallMs?: number;
}

export function createCallInterceptor(logger: Logger, opts: InterceptorOptions = {}): grpc.ServerInterceptor {
  const { revocations, maxCallMs } = opts;
  return (methodDescriptor, call) => {
    const started = performance.now();
    const { service, method } = splitPath(methodDescriptor.path);
    const identity = identifyCaller(call.getAuthContext().sslPeerCertificate);
    let decision: Decision = authorise(service, identity);
    // Revoked on this host (revocation.ts): refused whatever else the certificate proves.
    const revoked = decision.allowed && revocations ? revocations.revoked({ serial: identity.serial, fingerprint: identity.caller.fingerprint }) : null;
    if (revoked) decision = { allowed: false, reason: `client certificate is revoked on this host (${revoked})` };
    const record: CallRecord = { client: identity.caller.fingerprint, argDigest: null, spawns: 0 };

    let logged = false;
    let callId: string | undefined;
    let overtime: NodeJS.Timeout | undefined;
    let span: Span | undefined;
    const finish = (code: grpc.status, details: string | undefined) => {
      if (logged) return;
      logged = true;
      if (overtime) clearTimeout(overtime);
      const error = record.error ?? (code === grpc.status.OK ? undefined : details);
      const outcome = grpc.status[code] ?? String(code);
      agentCounters.record(method, outcome, !decision.allowed, record.spawns);
      if (span) {
        span.setAttributes({ "rpc.grpc.status_code": code, "hostward.outcome": outcome });
        if (code !== grpc.status.OK) {
          span.setAttribute("error.type", outcome);
          span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
        }
        span.end();
      }
      logRpc(logger, {
        method,
        service,
        caller: identity.caller,
        argDigest: record.argDigest,
        outcome,
        spawns: record.spawns,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
        ...(callId !== undefined && { callId }),
        ...(error !== undefined && { error }),
      });
    };

    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        // Logged only (never trusted for anything): a bounded, plain token or nothing.
        const id = metadata.get("x-hostward-call-id")[0];
        if (typeof id === "string" && /^[A-Za-z0-9-]{1,64}$/.test(id)) callId = id;
        // With tracing on (agent.yaml): a SERVER span per RPC, continuing the broker's host-call
        // span named by the W3C traceparent in the metadata (untrusted: a parent id, nothing more).
        if (tracingOn()) {
          const carrier: Record<string, unknown> = { traceparent: metadata.get("traceparent")[0], tracestate: metadata.get("tracestate")[0] };
          span = startSpan(`${service}/${method}`, {
            kind: SpanKind.SERVER,
            attributes: { "rpc.system": "grpc", "rpc.service": service, "rpc.method": method, "hostward.caller.fingerprint": identity.caller.fingerprint ?? "none" },
            parent: extractContext(carrier),
          });
        }
        if (decision.allowed) {
          next(metadata);
          return;
        }
        // Not forwarding the metadata means the handler never starts and the request is never read.
        record.error = decision.reason;
        intercepted.sendStatus({ code: grpc.status.PERMISSION_DENIED, details: `permission denied: ${decision.reason}` });
      })
      .withOnReceiveMessage((message, next) => {
        record.argDigest = argDigest(message);
        next(message);
      })
      // grpc-js calls a unary handler synchronously on half-close: it runs inside this record.
      .withOnReceiveHalfClose((next) => callRecord.run(record, next))
      .withOnCancel(() => {
        if (cancelledByDeadline(call.getDeadline())) finish(grpc.status.DEADLINE_EXCEEDED, "deadline exceeded");
        else finish(grpc.status.CANCELLED, "cancelled by the caller");
      })
      .build();
    const responder = new grpc.ResponderBuilder()
      .withStart((next) => next(listener))
      .withSendStatus((status, next) => {
        finish(status.code ?? grpc.status.UNKNOWN, status.details);
        next(status);
      })
      .build();
    const intercepted = new grpc.ServerInterceptingCall(call, responder);
    if (maxCallMs !== undefined) {
      // The agent's own bound, whatever deadline the caller set (or none); the handler's signal
      // fires at the same time (deadline.ts callSignal), so its work stops too.
      overtime = setTimeout(() => {
        if (logged) return;
        const details = `the call passed this agent's maximum call duration of ${Math.round(maxCallMs / 1000)} s (limits.maxCallSeconds)`;
        record.error = details;
        intercepted.sendStatus({ code: grpc.status.DEADLINE_EXCEEDED, details, metadata: new grpc.Metadata() });
      }, maxCallMs);
      overtime.unref();
    }
    return intercepted;
  };
}
