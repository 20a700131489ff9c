// Streamable HTTP for `hostward serve --http HOST:PORT`: a node:http server in front of the SDK's
// MCP handler, reached through the SDK's own Node adapter (@modelcontextprotocol/node toNodeHandler,
// in sdk.ts). In order, every request must: use the /mcp path; carry a Host header
// naming an allowed host and, if it has an Origin, an allowed origin (DNS-rebinding defence, with
// the SDK's own validators); and present a bearer token: a person's (users.jsonl, by its SHA-256:
// team mode, the caller is that user) or the shared one (compared in constant time; names no one).
// GET /metrics (the broker's Prometheus metrics, metrics.ts) passes the same Host and Origin checks
// and needs the same token, unless broker.yaml says `metrics: { public: true }`; it reads counters
// and the stores and writes nothing (no audit record).
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isIP } from "node:net";
import { authenticateUser, USER_TOKEN_PREFIX, type UserEntry } from "../config/users";
import type { Logger } from "../logger";
import { checkHostHeader, checkOriginHeader, type McpNodeHandler } from "./sdk";

const MCP_PATH = "/mcp";
const METRICS_PATH = "/metrics";

export interface HttpToken {
  value: string;
  /** Recorded as the caller's identity in the audit log (never the token itself). */
  label: string;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  /** The shared token ($HOSTWARD_HTTP_TOKEN or the generated file); absent in team mode. */
  token?: HttpToken;
  /** users.jsonl as the running configuration has it (read per request: a reload applies). */
  users: () => readonly UserEntry[];
  /** Host header / Origin hostnames accepted (no ports). */
  allowedHosts: readonly string[];
  logger: Logger;
  /** GET /metrics: the exposition, and whether it is served without the token (read per request: reload applies). */
  metrics?: { render: () => Promise<{ contentType: string; body: string }>; isPublic: () => boolean };
}

export function isLoopbackHost(host: string): boolean {
  if (host === "localhost") return true;
  const bare = host.replace(/^\[|\]$/g, "");
  if (isIP(bare) === 4) return bare.startsWith("127.");
  if (isIP(bare) === 6) return bare === "::1" || bare === "0:0:0:0:0:0:0:1";
  return false;
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

function bearerOf(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return m?.[1];
}

/** Who the request is from, as the transport passes it on (never the token in a log or record). */
interface HttpCaller {
  token: string;
  /** The shared token's label, or "user:NAME". */
  label: string;
  /** The person (users.jsonl) whose token it is. */
  user?: string;
}

type Authenticated = { ok: true; caller: HttpCaller } | { ok: false; message: string; log: Record<string, unknown>; presented: boolean };

const UNAUTHORIZED = "unauthorized: a valid bearer token is required (Authorization: Bearer <token>)";

function authenticate(header: string | undefined, options: HttpServerOptions): Authenticated {
  const presented = bearerOf(header);
  if (presented === undefined) return { ok: false, message: UNAUTHORIZED, log: { why: "no bearer token" }, presented: false };
  if (presented.startsWith(USER_TOKEN_PREFIX)) {
    const found = authenticateUser(options.users(), presented);
    if (found.ok) return { ok: true, caller: { token: presented, label: `user:${found.user.name}`, user: found.user.name } };
    if (found.reason === "expired") {
      return {
        ok: false,
        message: `unauthorized: the token of user ${JSON.stringify(found.user)} expired at ${found.expires} (ask for a new one: hostward pki issue-user)`,
        log: { why: "expired user token", user: found.user, expires: found.expires },
        presented: true,
      };
    }
  }
  // Constant time against the shared token.
  if (options.token && timingSafeEqual(digest(presented), digest(options.token.value))) return { ok: true, caller: { token: presented, label: options.token.label } };
  return { ok: false, message: UNAUTHORIZED, log: { why: presented.startsWith(USER_TOKEN_PREFIX) ? "unknown or revoked user token" : "wrong bearer token" }, presented: true };
}

function refuse(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message }, id: null });
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(body);
}




function createHttpHandler(mcp: McpNodeHandler, options: HttpServerOptions) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? "/").split("?")[0];
    const metrics = path === METRICS_PATH ? options.metrics : undefined;
    if (path !== MCP_PATH && !metrics) return refuse(res, 404, `not found: the MCP endpoint is ${MCP_PATH}`);
    const host = checkHostHeader(req.headers.host, options.allowedHosts);
    if (!host.ok) {
      options.logger.warn({ host: req.headers.host }, "HTTP request refused: Host header not allowed");
      return refuse(res, 403, `forbidden: ${host.message}`);
    }
    const origin = checkOriginHeader(req.headers.origin, options.allowedHosts);
    if (!origin.ok) {
      options.logger.warn({ origin: req.headers.origin }, "HTTP request refused: Origin not allowed");
      return refuse(res, 403, `forbidden: ${origin.message}`);
    }
    const auth = metrics?.isPublic() === true ? undefined : authenticate(req.headers.authorization, options);
    // Logged, not audited: a record per unauthenticated request would let anyone who reaches the
    // port grow the audit chain.
    if (auth && !auth.ok) {
      options.logger.warn({ remote: req.socket.remoteAddress, ...auth.log }, "HTTP request refused: missing, wrong, revoked or expired bearer token");
      // RFC 6750: a token was presented and is not valid (wrong, revoked, expired) → error="invalid_token".
      return refuse(res, 401, auth.message, { "www-authenticate": `Bearer realm="hostward"${auth.presented ? ', error="invalid_token"' : ""}` });
    }
    if (metrics) {
      if (req.method !== "GET" && req.method !== "HEAD") return refuse(res, 405, `${METRICS_PATH} answers GET only`, { allow: "GET, HEAD" });
      const exposition = await metrics.render();
      res.writeHead(200, { "content-type": exposition.contentType, "cache-control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : exposition.body);
      return;
    }
    // The request and response adaptation is the SDK's (@modelcontextprotocol/node): body bound
    // (413), streaming with backpressure, abort on disconnect.
    if (!auth) return refuse(res, 500, "internal error"); // only /metrics may be public
    await mcp(req, res, auth.caller);
  };
}

export async function startHttpServer(mcp: McpNodeHandler, options: HttpServerOptions): Promise<{ server: Server; url: string; port: number }> {
  const handle = createHttpHandler(mcp, options);
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      options.logger.error({ err: (err as Error).message }, "HTTP request failed");
      if (!res.headersSent) refuse(res, 500, "internal error");
      else res.destroy();
    });
  });
  server.requestTimeout = 5 * 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host.replace(/^\[|\]$/g, ""), () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  const shownHost = options.host.includes(":") && !options.host.startsWith("[") ? `[${options.host}]` : options.host;
  return { server, url: `http://${shownHost}:${port}${MCP_PATH}`, port };
}
