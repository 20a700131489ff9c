// Calls one catalog diagnostic on one host's reader agent. Generic over the catalog: the RPC is
// found in the generated service definition by the tool's name (get_load → getLoad). The reply's
// JSON is untrusted: it is size-capped, parsed, and validated against the catalog's output schema;
// anything else is an error for that host, never passed through.
import type { z } from "zod";
import type { DiagnosticDef } from "../../../proto/catalog/define";
import { methodKey } from "../../../proto/catalog/define";
import { DiagnosticsServiceService } from "../../../proto/gen/hostward/v1/diagnostics";
import type { DiagnosticReply } from "../../../proto/gen/hostward/v1/diagnostics_messages";
import { describeIssues } from "../../../shared/zod-issues";
import type { ChannelHost, ChannelPool, UnaryMethod } from "./channels";
import { HostCallError } from "./errors";

/** Largest reply JSON the broker accepts from an agent (the agent's own cap is 4 MiB by default). */
export const MAX_REPLY_BYTES = 16 * 1024 * 1024;

type AnyDef = DiagnosticDef<string, z.ZodObject, z.ZodType>;

const service = DiagnosticsServiceService as unknown as Record<string, UnaryMethod<unknown, DiagnosticReply> | undefined>;

function diagnosticMethod(name: string): UnaryMethod<unknown, DiagnosticReply> {
  const method = service[methodKey(name)];
  if (!method) throw new HostCallError("UNIMPLEMENTED", `the contract has no RPC for ${name} (expected DiagnosticsService.${methodKey(name)})`);
  return method;
}

/** Parses and validates an agent's reply JSON against the diagnostic's output schema. */
export function parseReply(def: AnyDef, reply: unknown, maxBytes = MAX_REPLY_BYTES): unknown {
  const json = (reply as { json?: unknown } | null)?.json;
  if (typeof json !== "string") throw new HostCallError("MALFORMED_REPLY", "agent returned malformed data: the reply carries no JSON");
  if (Buffer.byteLength(json, "utf8") > maxBytes) {
    throw new HostCallError("MALFORMED_REPLY", `agent returned malformed data: the reply is larger than ${maxBytes} bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new HostCallError("MALFORMED_REPLY", `agent returned malformed data: not valid JSON (${(err as Error).message})`);
  }
  const parsed = def.output.safeParse(value);
  if (!parsed.success) {
    throw new HostCallError("MALFORMED_REPLY", `agent returned malformed data for ${def.name}: ${describeIssues(parsed.error, { max: 3 })}`);
  }
  return parsed.data;
}

export interface DiagnosticCall {
  pool: ChannelPool;
  host: ChannelHost;
  def: AnyDef;
  /** The validated input (the catalog's zod output), without the broker's `target`. */
  input: unknown;
  timeoutMs: number;
  callId: string;
}

/**
 * The proto request for a validated input: ts-proto's encoders expect complete messages, so fields
 * the input leaves out (optional ones) start from the message's proto3 defaults.
 */
function toRequest(method: UnaryMethod<unknown, DiagnosticReply>, input: unknown): unknown {
  const defined = Object.fromEntries(Object.entries((input ?? {}) as Record<string, unknown>).filter(([, v]) => v !== undefined));
  return { ...protoDefaults(method), ...defined };
}

// The defaults are decoded once per method rather than on every call to every host. Frozen: the
// spread above copies them, so no call can alter what the next one starts from.
const defaultsCache = new WeakMap<object, Readonly<Record<string, unknown>>>();

function protoDefaults(method: UnaryMethod<unknown, DiagnosticReply>): Readonly<Record<string, unknown>> {
  let base = defaultsCache.get(method);
  if (base === undefined) {
    base = Object.freeze(method.requestDeserialize ? (method.requestDeserialize(Buffer.alloc(0)) as Record<string, unknown>) : {});
    defaultsCache.set(method, base);
  }
  return base;
}

export async function callDiagnostic({ pool, host, def, input, timeoutMs, callId }: DiagnosticCall): Promise<unknown> {
  const method = diagnosticMethod(def.name);
  const reply = await pool.unary(host, "reader", method, toRequest(method, input), timeoutMs, { "x-hostward-call-id": callId });
  return parseReply(def, reply);
}
