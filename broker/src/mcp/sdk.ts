// The one module that touches the MCP TypeScript SDK (@modelcontextprotocol/server v2) and the
// server side of MCP Apps (@modelcontextprotocol/ext-apps/server). Everything else in the broker
// describes tools with ToolSpec (a view: ToolSpec.ui) and views with UiResourceSpec and never sees
// an SDK type, so an SDK upgrade is a change to this file alone.
//
// Input validation is deliberately NOT left to the SDK: it would refuse bad arguments before the
// broker sees them, and every refusal must be audited. Tools therefore advertise their real JSON
// schema (tools/list is exact) but receive the raw arguments and validate them with zod themselves.
import { randomBytes, randomUUID } from "node:crypto";
import { printable, truncateText } from "../../../shared/printable";
import {
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  createMcpHandler,
  createRequestStateCodec,
  inputRequired,
  inputResponse,
  localhostAllowedHostnames,
  McpServer,
  ProtocolError,
  ProtocolErrorCode,
  ResourceNotFoundError,
  TRACEPARENT_META_KEY,
  TRACESTATE_META_KEY,
  UriTemplate,
  validateHostHeader,
  validateOriginHeader,
  type CallToolResult,
  type McpRequestContext,
  type ServerContext,
  type StandardSchemaWithJSON,
} from "@modelcontextprotocol/server";
import { serveStdio } from "@modelcontextprotocol/server/stdio";
import { toNodeHandler } from "@modelcontextprotocol/node";
import type { IncomingMessage, ServerResponse } from "node:http";
// MCP Apps (the maintained extension package): its server helpers link a tool to its ui://
// view and read a client's declared support; its constants name the MIME type and extension.
import { EXTENSION_ID, getUiCapability, RESOURCE_MIME_TYPE, registerAppTool, type McpUiAppResourceConfig } from "@modelcontextprotocol/ext-apps/server";
import type { z } from "zod";
import type { CallerIdentity } from "../audit/records";
import type { JsonObject } from "./json-schema";
import { toolJsonSchemas } from "./tool-json";
import { extractContext, inSpan, SpanKind, SpanStatusCode, tracingOn } from "../../../shared/tracing";

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

/**
 * 2026-07-28 only (call.canAsk): ask the client's user through a form and have the client call the
 * tool again with the answer (the protocol's input_required round trip). `state` comes back in
 * call.resumed, integrity-protected (HMAC, bound to the method and the caller, 10 minutes).
 */
export interface AskOutcome {
  ask: { form: Omit<ElicitForm, "timeoutMs">; state: Record<string, unknown> };
}

/** A form the client shows its user (MCP elicitation); only flat primitive fields. */
export interface ElicitForm {
  message: string;
  /** JSON Schema of an object with primitive properties (the elicitation form subset). */
  requestedSchema: { type: "object"; properties: Record<string, Record<string, unknown>>; required?: string[] };
  /** How long to wait for the human, ms. */
  timeoutMs: number;
}

export type ElicitAnswer = { action: "accept"; content: Record<string, unknown> } | { action: "decline" | "cancel" } | { action: "unsupported"; reason: string };

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
  /** The request's protocol era: "modern" is 2026-07-28 (per-request envelope), "legacy" 2025-era. */
  era: "legacy" | "modern";
  /** Whether the tool may answer { ask } (a 2026-era request from a client that declared form elicitation). */
  canAsk: boolean;
  /** On the retry of an { ask }: the state the tool minted (verified) and the user's answer. */
  resumed?: { state: Record<string, unknown>; answer: ElicitAnswer };
  /**
   * Whether the client declared MCP Apps (the io.modelcontextprotocol/ui extension listing the
   * view MIME type) for this request: on the connection (2025-era) or in the request's envelope
   * (2026-07-28). It says the client can render views, not that a view made this call: MCP Apps
   * gives the server no way to tell a view's tools/call from the model's.
   */
  apps: boolean;
}

/** A tool's MCP Apps view (its `_meta.ui`): the ui:// resource the host renders with its result. */
interface ToolUi {
  resourceUri: string;
  /** Who may call the tool (MCP Apps `visibility`; absent: the model and the view). Hosts enforce it, not the server. */
  visibility?: Array<"model" | "app">;
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
  /** The MCP Apps view that shows its result, and who may call it (tools/list `_meta.ui`). */
  ui?: ToolUi;
  handler(rawArgs: unknown, call: CallContext): Promise<ToolOutcome | AskOutcome>;
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

/**
 * Seals the state of an input_required round trip. The key lives in this process only: the retry
 * of a stdio session, or of an HTTP exchange, reaches the process that asked (a broker restarted
 * between the two answers "Invalid or expired requestState" and the proposal stays PENDING).
 */
const requestStates = createRequestStateCodec<Record<string, unknown>>({
  key: randomBytes(32),
  ttlSeconds: 600,
  bind: (ctx) => `${ctx.mcpReq.method}\0${(ctx as { http?: { authInfo?: { clientId?: string } } }).http?.authInfo?.clientId ?? "stdio"}`,
});

/** The key of the one input request a tool's { ask } carries. */
const ASK_KEY = "approval";

function declaresFormElicitation(caps: Record<string, unknown> | undefined): boolean {
  const e = caps?.elicitation as Record<string, unknown> | undefined;
  return e !== undefined && (e.form !== undefined || Object.keys(e).length === 0);
}

/** Whether these client capabilities declare MCP Apps (its extension, listing the view MIME type). */
function declaresApps(caps: Record<string, unknown> | undefined): boolean {
  return getUiCapability(caps as Parameters<typeof getUiCapability>[0])?.mimeTypes?.includes(RESOURCE_MIME_TYPE) === true;
}

function resumedOf(ctx: ServerContext): CallContext["resumed"] {
  const state = ctx.mcpReq.requestState<Record<string, unknown>>();
  if (state === undefined || state === null || typeof state !== "object") return undefined;
  const view = inputResponse(ctx.mcpReq.inputResponses, ASK_KEY);
  const answer: ElicitAnswer =
    view.kind !== "elicit"
      ? { action: "unsupported", reason: "the retry carried no answer to the approval form" }
      : view.action === "accept"
        ? { action: "accept", content: view.content ?? {} }
        : { action: view.action };
  return { state, answer };
}

async function toToolResult(outcome: ToolOutcome | AskOutcome, ctx: ServerContext): Promise<ReturnType<typeof inputRequired> | CallToolResult> {
  if (!("ask" in outcome)) return toCallToolResult(outcome);
  const { form, state } = outcome.ask;
  return inputRequired({
    inputRequests: { [ASK_KEY]: inputRequired.elicit({ mode: "form", message: printable(form.message), requestedSchema: form.requestedSchema as never }) },
    requestState: await requestStates.mint(state, ctx),
  });
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
  /** HTTP: the label of the shared token that authenticated the request. */
  token?: string;
  /** HTTP: the user whose token authenticated it; stdio: the OS user running the broker. */
  user?: string;
}

// ---- Prompts, resources and completion (the other two server primitives) ----------------------
// Like tools, they are described by the broker with plain specs and served here with the SDK's
// low-level request handlers (not McpServer.registerPrompt/registerResource): the broker decides
// per caller what is listed (policy), validates and audits every get and read itself, and answers
// a refusal with an error naming the argument or the rule.

/** What a prompt, resource or completion handler knows of its request. */
export interface RequestContext {
  caller: CallerIdentity;
  session: string;
  signal: AbortSignal;
}

interface PromptArgumentSpec {
  name: string;
  description: string;
  required: boolean;
}

export interface PromptSpec {
  name: string;
  title: string;
  description: string;
  arguments: readonly PromptArgumentSpec[];
  /** `rawArgs` exactly as the client sent them (strings, unvalidated): the spec validates and audits. */
  get(rawArgs: unknown, call: RequestContext): Promise<{ description: string; text: string } | { error: string }>;
}

/** A resource's contents, or why not: `notFound` answers the protocol's resource-not-found error. */
export type ReadOutcome = { text: string } | { error: string; notFound?: boolean };

export interface ResourceSpec {
  uri: string;
  name: string;
  title: string;
  description: string;
  mimeType: string;
  read(call: RequestContext): Promise<ReadOutcome>;
}

export interface ResourceTemplateSpec {
  /** RFC 6570, simple expansion only (hostward://hosts/{name}). */
  uriTemplate: string;
  name: string;
  title: string;
  description: string;
  mimeType: string;
  /** The concrete resources of this template the caller may read (in resources/list). */
  list(call: RequestContext): Promise<Array<{ uri: string; name: string; title?: string; description?: string }>>;
  read(variables: Record<string, string>, uri: string, call: RequestContext): Promise<ReadOutcome>;
}

/**
 * An MCP Apps view (a ui:// resource): one self-contained HTML document, served with the MCP Apps
 * MIME type and a CSP allowlist that allows no network at all (UI_RESOURCE_META). Its text is
 * served as it is: it is the broker's own build output, not a model's or a host's text.
 */
export interface UiResourceSpec {
  uri: string;
  name: string;
  title: string;
  description: string;
  read(call: RequestContext): Promise<ReadOutcome>;
}

/** What a host is told about every view: no origin to connect to, load from, frame or use as base; a border. */
const UI_RESOURCE_META: NonNullable<McpUiAppResourceConfig["_meta"]> = {
  ui: { csp: { connectDomains: [], resourceDomains: [], frameDomains: [], baseUriDomains: [] }, prefersBorder: true },
};

type CompletionRef = { type: "prompt"; name: string } | { type: "resource"; uri: string };

export type CompleteFn = (
  ref: CompletionRef,
  argument: { name: string; value: string },
  context: Record<string, string>,
  call: RequestContext,
) => Promise<{ values: string[]; total?: number } | { error: string }>;

/** What changed, for clients that asked to be told (resources/list_changed, resources/updated). */
export type ChangeEvent = { kind: "resources_list_changed" } | { kind: "resource_updated"; uri: string };

export interface ChangeFeed {
  /** Returns the unsubscribe function. */
  subscribe(listener: (event: ChangeEvent) => void): () => void;
}

/** Everything one MCP server instance serves. */
export interface McpSurface {
  tools: readonly ToolSpec[];
  prompts: readonly PromptSpec[];
  resources: readonly ResourceSpec[];
  templates: readonly ResourceTemplateSpec[];
  uiResources: readonly UiResourceSpec[];
  complete: CompleteFn;
  changes: ChangeFeed;
}

/** resources/list pages: at most this many entries each (10,000 hosts are 50 pages). */
export const RESOURCE_PAGE = 200;
/** completion/complete answers at most 100 values (the protocol's own cap). */
const MAX_COMPLETIONS = 100;

function invalidParams(message: string): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.InvalidParams, printable(message));
}

/** A resources/list cursor is an offset the broker issued; anything else is refused, naming it. */
function pageOffset(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  const m = /^o(\d{1,9})$/.exec(cursor);
  if (!m) throw invalidParams(`cursor: ${JSON.stringify(cursor.slice(0, 64))} is not a cursor this server issued (start again without one)`);
  return Number(m[1]);
}

interface Era {
  transport: ServerTransportInfo;
  /** Whether this instance can deliver change notifications (a stateless 2025-era HTTP exchange cannot). */
  live: boolean;
  legacy: boolean;
}

function requestContext(server: McpServer, ctx: ServerContext, transport: ServerTransportInfo, session: string): RequestContext {
  const caller: CallerIdentity = { transport: transport.transport, client: clientInfo(server, ctx) };
  if (transport.token) caller.token = transport.token;
  if (transport.user) caller.user = transport.user;
  return { caller, session, signal: ctx.mcpReq.signal };
}

function matchTemplate(surface: McpSurface, uri: string): { spec: ResourceTemplateSpec; variables: Record<string, string> } | undefined {
  for (const spec of surface.templates) {
    const m = new UriTemplate(spec.uriTemplate).match(uri);
    if (!m) continue;
    const variables: Record<string, string> = {};
    for (const [k, v] of Object.entries(m)) variables[k] = Array.isArray(v) ? v.join(",") : v;
    return { spec, variables };
  }
  return undefined;
}

function serveSurface(server: McpServer, surface: McpSurface, era: Era, session: string): void {
  const low = server.server;
  const context = (ctx: ServerContext) => requestContext(server, ctx, era.transport, session);

  low.setRequestHandler("prompts/list", () => ({
    prompts: surface.prompts.map((p) => ({ name: p.name, title: p.title, description: p.description, arguments: p.arguments.map((a) => ({ ...a })) })),
  }));
  low.setRequestHandler("prompts/get", async (request, ctx) => {
    const spec = surface.prompts.find((p) => p.name === request.params.name);
    if (!spec) throw invalidParams(`name: unknown prompt ${JSON.stringify(request.params.name)} (see prompts/list)`);
    const got = await spec.get(request.params.arguments, context(ctx));
    if ("error" in got) throw invalidParams(got.error);
    // Escaped line by line: the runbook's own line breaks stay, anything else a human could be
    // misled by (controls, bidi overrides, invisibles) is written as \uXXXX.
    const text = got.text.split("\n").map((line) => printable(line)).join("\n");
    return { description: printable(got.description), messages: [{ role: "user" as const, content: { type: "text" as const, text } }] };
  });

  low.setRequestHandler("resources/list", async (request, ctx) => {
    const call = context(ctx);
    const all: Array<{ uri: string; name: string; title?: string; description?: string; mimeType: string; _meta?: Record<string, unknown> }> = surface.resources.map((r) => ({
      uri: r.uri,
      name: r.name,
      title: r.title,
      description: r.description,
      mimeType: r.mimeType,
    }));
    for (const v of surface.uiResources) all.push({ uri: v.uri, name: v.name, title: v.title, description: v.description, mimeType: RESOURCE_MIME_TYPE, _meta: UI_RESOURCE_META });
    for (const t of surface.templates) for (const r of await t.list(call)) all.push({ ...r, mimeType: t.mimeType });
    const offset = pageOffset(request.params?.cursor);
    const page = all.slice(offset, offset + RESOURCE_PAGE);
    const next = offset + RESOURCE_PAGE < all.length ? { nextCursor: `o${offset + RESOURCE_PAGE}` } : {};
    return { resources: page, ...next };
  });
  low.setRequestHandler("resources/templates/list", () => ({
    resourceTemplates: surface.templates.map((t) => ({ uriTemplate: t.uriTemplate, name: t.name, title: t.title, description: t.description, mimeType: t.mimeType })),
  }));
  low.setRequestHandler("resources/read", async (request, ctx) => {
    const uri = request.params.uri;
    const call = context(ctx);
    const view = surface.uiResources.find((v) => v.uri === uri);
    if (view) {
      const read = await view.read(call);
      if ("error" in read) throw read.notFound ? new ResourceNotFoundError(uri) : invalidParams(read.error);
      return { contents: [{ uri, mimeType: RESOURCE_MIME_TYPE, text: read.text, _meta: UI_RESOURCE_META }] };
    }
    const fixed = surface.resources.find((r) => r.uri === uri);
    const matched = fixed ? undefined : matchTemplate(surface, uri);
    if (!fixed && !matched) throw new ResourceNotFoundError(uri);
    const read = fixed ? await fixed.read(call) : await matched!.spec.read(matched!.variables, uri, call);
    if ("error" in read) throw read.notFound ? new ResourceNotFoundError(uri) : invalidParams(read.error);
    return { contents: [{ uri, mimeType: fixed?.mimeType ?? matched!.spec.mimeType, text: printable(read.text) }] };
  });

  low.setRequestHandler("completion/complete", async (request, ctx) => {
    const ref = request.params.ref;
    const argument = request.params.argument;
    const context_ = (request.params.context?.arguments ?? {}) as Record<string, string>;
    const target: CompletionRef = ref.type === "ref/prompt" ? { type: "prompt", name: (ref as { name: string }).name } : { type: "resource", uri: (ref as { uri: string }).uri };
    const done = await surface.complete(target, { name: argument.name, value: argument.value }, context_, context(ctx));
    if ("error" in done) throw invalidParams(done.error);
    const values = done.values.slice(0, MAX_COMPLETIONS);
    const total = done.total ?? done.values.length;
    return { completion: { values, total, hasMore: total > values.length } };
  });

  if (!era.live) return;
  // 2025-era connections subscribe per URI (resources/subscribe); 2026-era ones open a
  // subscriptions/listen stream that the SDK's serving entry filters itself.
  const subscribed = new Set<string>();
  if (era.legacy) {
    const known = (uri: string) => surface.resources.some((r) => r.uri === uri) || matchTemplate(surface, uri) !== undefined;
    low.setRequestHandler("resources/subscribe", (request) => {
      if (!known(request.params.uri)) throw new ResourceNotFoundError(request.params.uri);
      subscribed.add(request.params.uri);
      return {};
    });
    low.setRequestHandler("resources/unsubscribe", (request) => {
      subscribed.delete(request.params.uri);
      return {};
    });
  }
  if (era.transport.transport !== "stdio") return;
  const unsubscribe = surface.changes.subscribe((event) => {
    if (!server.isConnected()) return;
    if (event.kind === "resources_list_changed") void low.sendResourceListChanged().catch(() => undefined);
    else if (!era.legacy || subscribed.has(event.uri)) void low.sendResourceUpdated({ uri: event.uri }).catch(() => undefined);
  });
  const previous = low.onclose;
  low.onclose = () => {
    unsubscribe();
    previous?.();
  };
}

/** Builds one McpServer carrying every tool, prompt and resource. */
function createServer(info: ServerInfo, surface: McpSurface, transport: ServerTransportInfo, eraName: "legacy" | "modern"): McpServer {
  const session = randomUUID();
  const era: Era = { transport, legacy: eraName === "legacy", live: !(transport.transport === "http" && eraName === "legacy") };
  const server = new McpServer(
    { name: info.name, version: info.version },
    {
      capabilities: {
        tools: { listChanged: false },
        prompts: { listChanged: false },
        resources: { subscribe: era.live, listChanged: era.live },
        completions: {},
        // MCP Apps: tools link ui:// views (their _meta.ui).
        extensions: { [EXTENSION_ID]: {} },
      },
      instructions: info.instructions,
      // A 2026-era retry's requestState is verified (HMAC, expiry, binding) before any handler runs.
      requestState: { verify: requestStates.verify },
    },
  );
  for (const spec of surface.tools) {
    const json = toolJsonSchemas(spec);
    const config = {
      title: spec.title,
      description: spec.description,
      inputSchema: advertiseOnly(json.input),
      // Advertised, not re-validated per call: every tool builds its output from values it
      // validated itself (hosts' replies against the catalog), and clients validate it against
      // this schema (the SDK's Client does once it has listed the tools; the tests' client does).
      // The server's own pass ran zod over every result a second time on the broker's thread.
      outputSchema: advertiseOnly(json.output),
      annotations: { title: spec.title, ...spec.annotations },
    };
    const run = async (args: unknown, ctx: ServerContext) => {
      const { caller } = requestContext(server, ctx, transport, session);
      const modern = ctx.mcpReq.envelope !== undefined;
      const envelopeCaps = (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[CLIENT_CAPABILITIES_META_KEY] as Record<string, unknown> | undefined;
      const resumed = modern ? resumedOf(ctx) : undefined;
      const outcome = await spec.handler(args, {
        caller,
        session,
        signal: ctx.mcpReq.signal,
        elicit: elicitFor(server, ctx),
        progress: progressFor(ctx),
        era: modern ? "modern" : "legacy",
        canAsk: modern && declaresFormElicitation(envelopeCaps),
        ...(resumed && { resumed }),
        apps: declaresApps(modern ? envelopeCaps : server.server.getClientCapabilities()),
      });
      // A tool answers { ask } only when canAsk; anything else is a bug, reported as an error.
      if ("ask" in outcome && !modern) return toCallToolResult({ error: "internal error: an input request on a 2025-era request" });
      return toToolResult(outcome, ctx);
    };
    // Traced (when broker.yaml turns tracing on): one SERVER span per tools/call, named and
    // attributed as the OpenTelemetry MCP semantic conventions say, its parent the W3C context the
    // client put in the request's _meta (untrusted: only a parent id; a bad one starts a new trace).
    const callback = (args: unknown, ctx: ServerContext) => {
      if (!tracingOn()) return run(args, ctx);
      const meta = ctx.mcpReq._meta as Record<string, unknown> | undefined;
      const parent = extractContext(meta && { traceparent: meta[TRACEPARENT_META_KEY], tracestate: meta[TRACESTATE_META_KEY] });
      const attributes = {
        "mcp.method.name": "tools/call",
        "gen_ai.tool.name": spec.name,
        "gen_ai.operation.name": "execute_tool",
        "mcp.session.id": session,
        "jsonrpc.request.id": String(ctx.mcpReq.id),
        "network.transport": transport.transport === "stdio" ? "pipe" : "tcp",
      };
      return inSpan(`tools/call ${spec.name}`, { kind: SpanKind.SERVER, attributes, parent }, async (span) => {
        const result = await run(args, ctx);
        if ("isError" in result && result.isError === true) {
          span.setAttribute("error.type", "tool_error");
          span.setStatus({ code: SpanStatusCode.ERROR });
        }
        return result;
      });
    };
    // A tool with a view: the package's helper writes its _meta.ui (and the older "ui/resourceUri" key).
    if (spec.ui) registerAppTool(server, spec.name, { ...config, _meta: { ui: { ...spec.ui } } }, callback);
    else server.registerTool(spec.name, config, callback);
  }
  serveSurface(server, surface, era, session);
  return server;
}

export interface StdioHandle {
  close(): Promise<void>;
}

/** Serves MCP on this process's stdin/stdout (both protocol eras; one server per connection). `user`: the OS user. */
export function serveOnStdio(info: ServerInfo, surface: McpSurface, onerror: (err: Error) => void, user?: string): StdioHandle {
  return serveStdio((ctx) => createServer(info, surface, { transport: "stdio", ...(user !== undefined && { user }) }, ctx.era), { onerror });
}

/** Who an HTTP request is from: the caller (http.ts) authenticated it; `label` is the shared token's, or "user:NAME". */
interface HttpAuth {
  token: string;
  label: string;
  user?: string;
}

/** A fetch-shaped MCP endpoint: the caller authenticates first and passes who it is. */
export type McpFetch = (request: Request, auth: HttpAuth) => Promise<Response>;

/** The same endpoint on Node's http server, through the SDK's own adapter (@modelcontextprotocol/node). */
export type McpNodeHandler = (req: IncomingMessage, res: ServerResponse, auth: HttpAuth) => Promise<void>;

/** The SDK's AuthInfo for a request: clientId (what a 2026 round trip's requestState is bound to) is the label. */
function authInfo(auth: HttpAuth) {
  return { token: auth.token, clientId: auth.label, scopes: [], ...(auth.user !== undefined && { extra: { user: auth.user } }) };
}

function httpTransport(info: McpRequestContext["authInfo"]): ServerTransportInfo {
  const user = info?.extra?.user;
  if (typeof user === "string") return { transport: "http", user };
  return { transport: "http", token: info?.clientId };
}

/** Largest request body the endpoint reads (413 past it), as the SDK's adapter and handler apply it. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export function createMcpFetch(info: ServerInfo, surface: McpSurface, onerror: (err: Error) => void): { fetch: McpFetch; node: McpNodeHandler; close(): Promise<void> } {
  const handler = createMcpHandler(
    (ctx: McpRequestContext) => createServer(info, surface, httpTransport(ctx.authInfo), ctx.era),
    { onerror, maxRequestBodySize: MAX_BODY_BYTES },
  );
  const adapter = toNodeHandler(handler, { onerror, maxRequestBodySize: MAX_BODY_BYTES });
  // 2026-era clients listen on subscriptions/listen streams fed by the handler's bus; the
  // per-request instances of a stateless exchange cannot push anything themselves.
  const unsubscribe = surface.changes.subscribe((event) => {
    if (event.kind === "resources_list_changed") handler.notify.resourcesChanged();
    else handler.notify.resourceUpdated(event.uri);
  });
  return {
    fetch: (request, auth) => handler.fetch(request, { authInfo: authInfo(auth) }),
    // The adapter forwards `req.auth` as the handler's authInfo (pass-through; the caller checked it).
    node: (req, res, auth) => adapter(Object.assign(req, { auth: authInfo(auth) }), res),
    close: async () => {
      unsubscribe();
      await handler.close();
    },
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

