// The one module that touches the MCP TypeScript SDK (@modelcontextprotocol/server v2). Everything
// else in the broker describes tools with ToolSpec and never sees an SDK type, so an SDK upgrade
// is a change to this file alone.
//
// Input validation is deliberately NOT left to the SDK: it would refuse bad arguments before the
// broker sees them, and every refusal must be audited. Tools therefore advertise their real JSON
// schema (tools/list is exact) but receive the raw arguments and validate them with zod themselves.
import { randomUUID } from "node:crypto";
import { printable, truncateText } from "../../../shared/printable";
import {
  CLIENT_INFO_META_KEY,
  createMcpHandler,
  localhostAllowedHostnames,
  McpServer,
  validateHostHeader,
  validateOriginHeader,
  type CallToolResult,
  type McpRequestContext,
  type ServerContext,
  type StandardSchemaWithJSON,
} from "@modelcontextprotocol/server";
import { serveStdio } from "@modelcontextprotocol/server/stdio";
import type { z } from "zod";
import type { CallerIdentity } from "../audit/records";
import type { JsonObject } from "./json-schema";
import { toolJsonSchemas } from "./tool-json";

interface ToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint?: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

export type ToolOutcome =
  /** Success: `structured` is sent as structuredContent, with a compact JSON copy as text. */
  | { structured: Record<string, unknown> }
  /** A tool error (isError) the model can read and act on. */
  | { error: string };

/** A form the client shows its user (MCP elicitation); only flat primitive fields. */
interface ElicitForm {
  message: string;
  /** JSON Schema of an object with primitive properties (the elicitation form subset). */
  requestedSchema: { type: "object"; properties: Record<string, Record<string, unknown>>; required?: string[] };
  /** How long to wait for the human, ms. */
  timeoutMs: number;
}

type ElicitAnswer = { action: "accept"; content: Record<string, unknown> } | { action: "decline" | "cancel" } | { action: "unsupported"; reason: string };

export interface CallContext {
  caller: CallerIdentity;
  /** One MCP connection (a stdio process's, an HTTP session's server): what per-session budgets count. */
  session: string;
  signal: AbortSignal;
  /**
   * Asks the client's user through a form (2025-era push elicitation). Answers "unsupported" when
   * the client did not declare form elicitation or the connection's protocol era has no push
   * requests (a 2026-07-28 connection: its input_required round trips are not used here).
   */
  elicit(form: ElicitForm): Promise<ElicitAnswer>;
  /** Sends a progress notification when the caller asked for progress (a progressToken); else a no-op. */
  progress(progress: number, message: string): void;
}

export interface ToolSpec {
  name: string;
  title: string;
  description: string;
  /** Advertised in tools/list (its JSON Schema from tool-schemas.gen.ts); the handler validates the raw arguments against it itself. */
  input: z.ZodObject;
  /** Advertised in tools/list (likewise prepared at build time); clients check structuredContent against it. */
  output: z.ZodType;
  annotations: ToolAnnotations;
  handler(rawArgs: unknown, call: CallContext): Promise<ToolOutcome>;
}

export interface ServerInfo {
  name: string;
  version: string;
  instructions?: string;
}

/**
 * A schema that advertises `json` (prepared at build time, tool-json.ts) as its JSON Schema but
 * lets every value through to the handler. The SDK asks for it on every tools/list.
 */
function advertiseOnly(json: JsonObject): StandardSchemaWithJSON {
  return {
    "~standard": {
      version: 1,
      vendor: "hostward",
      validate: (value: unknown) => ({ value }),
      jsonSchema: { input: () => json, output: () => json },
    },
  } as StandardSchemaWithJSON;
}

function toCallToolResult(outcome: ToolOutcome): CallToolResult {
  // The text a client shows a human is escaped (shared/printable.ts): host output and model-given
  // values cannot carry terminal controls, bidi overrides or invisible characters into it. The JSON
  // text stays valid JSON with the same value (the escapes are JSON's own \uXXXX).
  if ("error" in outcome) return { isError: true, content: [{ type: "text", text: printable(outcome.error) }] };
  return { content: [{ type: "text", text: printable(JSON.stringify(outcome.structured)) }], structuredContent: outcome.structured };
}

function clientInfo(server: McpServer, ctx: ServerContext): CallerIdentity["client"] {
  const fromEnvelope = (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[CLIENT_INFO_META_KEY] as
    | { name?: unknown; version?: unknown }
    | undefined;
  const info = fromEnvelope ?? server.server.getClientVersion();
  if (!info || typeof info.name !== "string") return undefined;
  return { name: truncateText(info.name, 200), version: typeof info.version === "string" ? truncateText(info.version, 100) : "" };
}

function elicitFor(server: McpServer, ctx: ServerContext): CallContext["elicit"] {
  return async (form) => {
    // A 2026-07-28 request carries the per-request envelope; that era has no server→client push.
    if (ctx.mcpReq.envelope !== undefined) return { action: "unsupported", reason: "the connection's protocol era has no push elicitation" };
    const caps = server.server.getClientCapabilities()?.elicitation as Record<string, unknown> | undefined;
    if (!caps || !(caps.form !== undefined || Object.keys(caps).length === 0)) return { action: "unsupported", reason: "the client did not declare form elicitation" };
    let result: { action: string; content?: Record<string, unknown> };
    try {
      result = (await ctx.mcpReq.elicitInput(
        { mode: "form", message: form.message, requestedSchema: form.requestedSchema as never },
        { timeout: form.timeoutMs, signal: ctx.mcpReq.signal },
      )) as typeof result;
    } catch (err) {
      return { action: "unsupported", reason: `elicitation failed: ${(err as Error).message}` };
    }
    if (result.action === "accept") return { action: "accept", content: result.content ?? {} };
    return { action: result.action === "decline" ? "decline" : "cancel" };
  };
}

function progressFor(ctx: ServerContext): CallContext["progress"] {
  const token = ctx.mcpReq._meta?.progressToken;
  if (token === undefined) return () => undefined;
  return (progress, message) => {
    void ctx.mcpReq.notify({ method: "notifications/progress", params: { progressToken: token, progress, message } }).catch(() => undefined);
  };
}

interface ServerTransportInfo {
  transport: "stdio" | "http";
  /** HTTP: the label of the token that authenticated the request. */
  token?: string;
}

/** Builds one McpServer carrying every tool. */
function createServer(info: ServerInfo, tools: readonly ToolSpec[], transport: ServerTransportInfo): McpServer {
  const session = randomUUID();
  const server = new McpServer(
    { name: info.name, version: info.version },
    { capabilities: { tools: { listChanged: false } }, instructions: info.instructions },
  );
  for (const spec of tools) {
    const json = toolJsonSchemas(spec);
    server.registerTool(
      spec.name,
      {
        title: spec.title,
        description: spec.description,
        inputSchema: advertiseOnly(json.input),
        // Advertised, not re-validated per call: every tool builds its output from values it
        // validated itself (hosts' replies against the catalog), and clients validate it against
        // this schema (the SDK's Client does once it has listed the tools; the tests' client does).
        // The server's own pass ran zod over every result a second time on the broker's thread.
        outputSchema: advertiseOnly(json.output),
        annotations: { title: spec.title, ...spec.annotations },
      },
      async (args: unknown, ctx: ServerContext) => {
        const caller: CallerIdentity = { transport: transport.transport, client: clientInfo(server, ctx) };
        if (transport.token) caller.token = transport.token;
        return toCallToolResult(await spec.handler(args, { caller, session, signal: ctx.mcpReq.signal, elicit: elicitFor(server, ctx), progress: progressFor(ctx) }));
      },
    );
  }
  return server;
}

export interface StdioHandle {
  close(): Promise<void>;
}

/** Serves MCP on this process's stdin/stdout (both protocol eras; one server per connection). */
export function serveOnStdio(info: ServerInfo, tools: readonly ToolSpec[], onerror: (err: Error) => void): StdioHandle {
  return serveStdio(() => createServer(info, tools, { transport: "stdio" }), { onerror });
}

/** A fetch-shaped MCP endpoint: the caller authenticates first and passes the token's label. */
export type McpFetch = (request: Request, auth: { token: string; label: string }) => Promise<Response>;

export function createMcpFetch(info: ServerInfo, tools: readonly ToolSpec[], onerror: (err: Error) => void): { fetch: McpFetch; close(): Promise<void> } {
  const handler = createMcpHandler(
    (ctx: McpRequestContext) => createServer(info, tools, { transport: "http", token: ctx.authInfo?.clientId }),
    { onerror },
  );
  return {
    fetch: (request, auth) => handler.fetch(request, { authInfo: { token: auth.token, clientId: auth.label, scopes: [] } }),
    close: () => handler.close(),
  };
}

/** DNS-rebinding defences (the SDK's own helpers): Host must name an allowed host. */
export function checkHostHeader(host: string | undefined, allowed: readonly string[]): { ok: true } | { ok: false; message: string } {
  const r = validateHostHeader(host, [...allowed]);
  return r.ok ? { ok: true } : { ok: false, message: r.message };
}

/** Browsers send Origin; a present Origin must name an allowed host (absent is fine: not a browser). */
export function checkOriginHeader(origin: string | undefined, allowed: readonly string[]): { ok: true } | { ok: false; message: string } {
  const r = validateOriginHeader(origin, [...allowed]);
  return r.ok ? { ok: true } : { ok: false, message: r.message };
}

export function loopbackHostnames(): string[] {
  return localhostAllowedHostnames();
}

