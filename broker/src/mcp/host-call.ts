// The path every host-touching tool call takes, in order:
//   1. arguments validated (refusal audited, nothing sent);
//   2. target resolved against the inventory (refusal audited);
//   3. the call and the policy decision for every selected host audited — before anything is
//      sent; if the audit write fails, the call fails;
//   4. allowed hosts called concurrently (fan-out cap, per-host deadline); denied hosts answer
//      POLICY_DENIED without any traffic;
//   5. the per-host outcomes audited, then returned in inventory order.
// Durability: for catalog diagnostics (read-only by construction: the reader role serves nothing
// else) the records of step 3 are written before anything is sent and fsync'd while the hosts
// work; the result is returned only once they are durable, and step 5's record is written before
// returning and fsync'd after the reply, with the next call's records or a few ms later (group
// commit, audit/log.ts). Every other tool fsyncs each record before it proceeds. Why: test/bench/results.md ("Audit durability").
import { randomUUID } from "node:crypto";
import { diagnostics } from "../../../proto/catalog/diagnostics/index";
import type { z } from "zod";
import type { HostEntry } from "../config/schema";
import type { Broker } from "../broker";
import { fanout, type WorkContext } from "../fanout";
import { decide, principalOf, type Decision, type PolicySubject } from "../policy";
import { resolveTargets } from "../targets";
import { AuditError, RESULT_LOCK_WAIT_MS } from "../audit/log";
import type { AuditRecordInput, CallerIdentity } from "../audit/records";
import { auditArgs, parseArgs } from "./arguments";
import { summarize, type HostResult, type HostResults } from "./host-results";
import type { ToolOutcome } from "./sdk";
import { toHostError } from "../agents/errors";
import { inSpan, SpanKind, SpanStatusCode, tracingOn } from "../../../shared/tracing";

export interface HostToolCall<A extends { target: string }, T> {
  broker: Broker;
  tool: { name: string; group: string };
  schema: z.ZodType<A>;
  rawArgs: unknown;
  caller: CallerIdentity;
  /** What to do on one allowed host, with the validated arguments minus `target`. */
  work: (host: HostEntry, args: Omit<A, "target">, ctx: WorkContext & { callId: string }) => Promise<T>;
  /**
   * What policy decides on and what counts as read-only, when it is not the tool itself:
   * compare_hosts runs the diagnostic it names, and is allowed where that diagnostic is.
   */
  subject?: (args: A) => PolicySubject;
  /** The hosts to call, when not `target` alone (compare_hosts: the target and the compared host). */
  selector?: (args: A) => string;
}

export type HostCallOutcome<T, A = unknown> = { ok: true; output: HostResults<T>; callId: string; args: A } | { ok: false; outcome: ToolOutcome };

/** The stable code of an audit failure (AUDIT_BUSY, AUDIT_FAILED), for every wording below. */
export function auditCode(err: unknown): string {
  return err instanceof AuditError ? err.code : "AUDIT_FAILED";
}

function unaudited(err: unknown): ToolOutcome {
  const reason = err instanceof AuditError ? err.message : `audit log write failed: ${(err as Error).message}`;
  return { error: `refused: the call could not be audited, so nothing was executed [${auditCode(err)}] (${reason})` };
}

/**
 * A read-only call's own records were written before its hosts were called, but their fsync failed
 * (it is awaited only after the hosts answered): the hosts were reached; the answer is withheld.
 */
function callNotDurable(err: unknown): ToolOutcome {
  return { error: `(${auditCode(err)}) the call reached its hosts, but its audit record could not be made durable, so the answer is withheld: ${(err as Error).message}` };
}

/** After the hosts were called: their answers are withheld, and the text says they were reached. */
function resultUnaudited(err: unknown): ToolOutcome {
  return { error: `(${auditCode(err)}) the call reached its hosts (it is in the audit log), but its result could not be recorded, so it is withheld: ${(err as Error).message}` };
}

export { RESULT_LOCK_WAIT_MS } from "../audit/log";

/** Writes audit records; returns a tool error instead of throwing when the log cannot be written. */
export async function tryAudit(broker: Broker, ...records: AuditRecordInput[]): Promise<ToolOutcome | undefined> {
  try {
    await broker.audit.append(...records);
    return undefined;
  } catch (err) {
    broker.logger.error({ err: (err as Error).message }, "audit write failed");
    return unaudited(err);
  }
}

/** Tools that only read: the catalog's diagnostics (served by the reader role alone). */
const READ_ONLY_TOOLS: ReadonlySet<string> = new Set(diagnostics.map((d) => d.name));

/**
 * Writes audit records now; `durable` settles with a tool error if their fsync fails, or with
 * undefined once they are durable. A write that fails is a tool error at once.
 */
async function tryAuditDeferred(
  broker: Broker,
  sync: "now" | "lazy",
  ...records: AuditRecordInput[]
): Promise<{ failed: ToolOutcome } | { failed: undefined; durable: Promise<ToolOutcome | undefined> }> {
  try {
    const written = sync === "now" ? await broker.audit.appendDeferred(...records) : await broker.audit.appendLazyWaiting(RESULT_LOCK_WAIT_MS, ...records);
    const durable = written.durable.then(
      () => undefined,
      (err: unknown) => {
        broker.logger.error({ err: (err as Error).message }, "audit fsync failed");
        return sync === "now" ? callNotDurable(err) : resultUnaudited(err);
      },
    );
    return { failed: undefined, durable };
  } catch (err) {
    broker.logger.error({ err: (err as Error).message }, "audit write failed");
    return { failed: sync === "now" ? unaudited(err) : resultUnaudited(err) };
  }
}

/** Validation + audit of a refusal, shared by every tool (host-touching or not). */
export async function validateOrRefuse<A>(
  broker: Broker,
  tool: string,
  schema: z.ZodType<A>,
  rawArgs: unknown,
  caller: CallerIdentity,
  callId: string,
): Promise<{ ok: true; args: A } | { ok: false; outcome: ToolOutcome }> {
  const parsed = parseArgs(tool, schema, rawArgs);
  if (parsed.ok) return { ok: true, args: parsed.data };
  broker.logger.info({ tool, callId, reason: parsed.error }, "tool call refused: invalid arguments");
  const failed = await tryAudit(broker, {
    event: "tool.refused",
    callId,
    caller,
    tool,
    reason: "INVALID_ARGUMENT",
    fields: parsed.fields,
    message: parsed.error,
    ...auditArgs(rawArgs),
  });
  return { ok: false, outcome: failed ?? { error: parsed.error } };
}

/**
 * One host's part of a traced tool call: a CLIENT span, child of the tool call's span, active while
 * the host is called, so channels.ts puts its W3C context into the gRPC metadata and the agent's
 * server span continues it.
 */
function tracedHostCall<T>(host: HostEntry, tool: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const attributes = { "hostward.host.name": host.name, "gen_ai.tool.name": tool, "server.address": host.address, "rpc.system": "grpc" };
  return inSpan(`host_call ${tool}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    try {
      const value = await work();
      span.setAttribute("hostward.outcome", "OK");
      return value;
    } catch (err) {
      const code = toHostError(err).code;
      span.setAttribute("hostward.outcome", code);
      span.setAttribute("error.type", code);
      span.setStatus({ code: SpanStatusCode.ERROR, message: code });
      throw err;
    } finally {
      span.setAttribute("hostward.duration_ms", Math.round(performance.now() - started));
    }
  });
}

export async function runHostTool<A extends { target: string }, T>(call: HostToolCall<A, T>): Promise<HostCallOutcome<T, A>> {
  const { broker, tool, caller } = call;
  const callId = randomUUID();
  const valid = await validateOrRefuse(broker, tool.name, call.schema, call.rawArgs, caller, callId);
  if (!valid.ok) return valid;
  const { target, ...rest } = valid.args;
  const args = rest as Omit<A, "target">;
  const subject = call.subject?.(valid.args) ?? tool;

  const config = broker.config.current;
  const resolved = resolveTargets(call.selector?.(valid.args) ?? target, config.hosts);
  if (!resolved.ok) {
    const failed = await tryAudit(broker, { event: "tool.refused", callId, caller, tool: tool.name, reason: "BAD_TARGET", target, message: resolved.error });
    return { ok: false, outcome: failed ?? { error: resolved.error } };
  }

  const who = principalOf(config, caller);
  const decisions = new Map<string, Decision>(resolved.hosts.map((h) => [h.name, decide(config.policy, subject, h, who)]));
  const callRecords: AuditRecordInput[] = [
    { event: "tool.call", callId, caller, tool: tool.name, target, hosts: resolved.hosts.map((h) => h.name), ...auditArgs(args) },
    ...resolved.hosts.map((h): AuditRecordInput => {
      const d = decisions.get(h.name)!;
      return {
        event: "policy.decision",
        callId,
        tool: tool.name,
        ...(subject.name !== tool.name && { subject: subject.name }),
        host: h.name,
        decision: d.allowed ? "allow" : "deny",
        rule: d.rule,
        reason: d.reason,
      };
    }),
  ];
  const readOnly = READ_ONLY_TOOLS.has(subject.name);
  let callDurable: Promise<ToolOutcome | undefined> = Promise.resolve(undefined);
  if (readOnly) {
    const written = await tryAuditDeferred(broker, "now", ...callRecords);
    if (written.failed) return { ok: false, outcome: written.failed };
    callDurable = written.durable;
  } else {
    const failed = await tryAudit(broker, ...callRecords);
    if (failed) return { ok: false, outcome: failed };
  }

  const allowed = resolved.hosts.filter((h) => decisions.get(h.name)!.allowed);
  const traced = tracingOn();
  const outcomes = await fanout(allowed, (host, ctx) => (traced ? tracedHostCall(host, tool.name, () => call.work(host, args, { ...ctx, callId })) : call.work(host, args, { ...ctx, callId })), {
    concurrency: config.settings.fanout.concurrency,
    timeoutMs: config.settings.fanout.hostTimeoutMs,
  });
  const byHost = new Map(allowed.map((h, i) => [h.name, outcomes[i]!]));

  const results: HostResult<T>[] = resolved.hosts.map((h) => {
    const o = byHost.get(h.name);
    if (!o) return { host: h.name, ok: false, error: { code: "POLICY_DENIED", message: decisions.get(h.name)!.reason } };
    return o.ok ? { host: h.name, ok: true, data: o.value, durationMs: o.durationMs } : { host: h.name, ok: false, error: o.error, durationMs: o.durationMs };
  });
  const output: HostResults<T> = { results, summary: summarize(results) };
  // Labelled by inventory host only: resolved.hosts come from hosts.yaml (metrics.ts).
  for (const r of results) broker.metrics.hostResult(tool.name, r.host, r.ok ? "OK" : (r.error?.code ?? "ERROR"), r.durationMs);

  const resultRecord: AuditRecordInput = {
    event: "tool.result",
    callId,
    tool: tool.name,
    summary: output.summary,
    outcomes: results.map((r) => ({ host: r.host, outcome: r.ok ? "OK" : r.error?.code, durationMs: r.durationMs })),
  };
  if (readOnly) {
    const written = await tryAuditDeferred(broker, "lazy", resultRecord);
    // Nothing is returned unless the call's own records are durable.
    const callFailed = await callDurable;
    if (callFailed) return { ok: false, outcome: callFailed };
    if (written.failed) return { ok: false, outcome: written.failed };
    // The result record is written; its fsync completes after the reply, shared with the next
    // call's records or LAZY_FLUSH_MS later (a failure is logged).
    void written.durable;
  } else {
    try {
      await broker.audit.appendLazyWaiting(RESULT_LOCK_WAIT_MS, resultRecord).then((w) => w.durable);
    } catch (err) {
      broker.logger.error({ err: (err as Error).message }, "audit write failed");
      return { ok: false, outcome: resultUnaudited(err) };
    }
  }
  // Every call is in the audit log already; a log line per call is for debugging (one stderr
  // write per call also wakes the MCP client that reads it: ~0.4 ms of a get_load's p50 here).
  broker.logger.debug({ tool: tool.name, callId, target, summary: output.summary }, "tool call");
  return { ok: true, output, callId, args: valid.args };
}
