// The one module that touches the MCP TypeScript SDK (@modelcontextprotocol/server v2). Everything
// else in the broker describes tools with ToolSpec and never sees an SDK type, so an SDK upgrade
// is a change to this file alone.
//
// Input validation is deliberately NOT left to the SDK: it would refuse bad arguments before the
// broker sees them, and every refusal must be audited. Tools therefore advertise their real JSON
// schema (tools/list is exact) but receive the raw arguments and validate them with zod themselves.
import {
  CLIENT_INFO_META_KEY,
  createMcpHandler,
  localhostAllowedHostnames,
  localhostAllowedOrigins,
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

export interface ToolAnnotations {
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

export interface CallContext {
  caller: CallerIdentity;
  signal: AbortSignal;
}

export interface ToolSpec {
  name: string;
  title: string;
  description: string;
  /** Advertised in tools/list; the handler validates the raw arguments against it itself. */
  input: z.ZodObject;
  /** Advertised in tools/list; the SDK also checks every structuredContent against it. */
  output: z.ZodType;
  annotations: ToolAnnotations;
  handler(rawArgs: unknown, call: CallContext): Promise<ToolOutcome>;
}

export interface ServerInfo {
  name: string;
  version: string;
  instructions?: string;
}

/** A schema that advertises `schema`'s JSON Schema but lets every value through to the handler. */
function advertiseOnly(schema: z.ZodType): StandardSchemaWithJSON {
  const std = schema["~standard"] as unknown as StandardSchemaWithJSON["~standard"];
  return {
    "~standard": {
      version: 1,
      vendor: "hostward",
      validate: (value: unknown) => ({ value }),
      jsonSchema: std.jsonSchema,
    },
  } as StandardSchemaWithJSON;
}

function toCallToolResult(outcome: ToolOutcome): CallToolResult {
  if ("error" in outcome) return { isError: true, content: [{ type: "text", text: outcome.error }] };
  return { content: [{ type: "text", text: JSON.stringify(outcome.structured) }], structuredContent: outcome.structured };
}

function clientInfo(server: McpServer, ctx: ServerContext): CallerIdentity["client"] {
  const fromEnvelope = (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[CLIENT_INFO_META_KEY] as
    | { name?: unknown; version?: unknown }
    | undefined;
  const info = fromEnvelope ?? server.server.getClientVersion();
  if (!info || typeof info.name !== "string") return undefined;
  return { name: info.name.slice(0, 200), version: typeof info.version === "string" ? info.version.slice(0, 100) : "" };
}

export interface ServerTransportInfo {
  transport: "stdio" | "http";
  /** HTTP: the label of the token that authenticated the request. */
  token?: string;
}

/** Builds one McpServer carrying every tool. */
export function createServer(info: ServerInfo, tools: readonly ToolSpec[], transport: ServerTransportInfo): McpServer {
  const server = new McpServer(
    { name: info.name, version: info.version },
    { capabilities: { tools: { listChanged: false } }, instructions: info.instructions },
  );
  for (const spec of tools) {
    server.registerTool(
      spec.name,
      {
        title: spec.title,
        description: spec.description,
        inputSchema: advertiseOnly(spec.input),
        outputSchema: spec.output as unknown as StandardSchemaWithJSON,
        annotations: { title: spec.title, ...spec.annotations },
      },
      async (args: unknown, ctx: ServerContext) => {
        const caller: CallerIdentity = { transport: transport.transport, client: clientInfo(server, ctx) };
        if (transport.token) caller.token = transport.token;
        return toCallToolResult(await spec.handler(args, { caller, signal: ctx.mcpReq.signal }));
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

export function loopbackOrigins(): string[] {
  return localhostAllowedOrigins();
}
