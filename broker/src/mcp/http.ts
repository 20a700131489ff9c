// Streamable HTTP for `hostward serve --http HOST:PORT`: a node:http server in front of the SDK's
// MCP handler, reached through the SDK's own Node adapter (@modelcontextprotocol/node toNodeHandler,
// in sdk.ts). In order, every request must: use the /mcp path; carry a Host header
// naming an allowed host and, if it has an Origin, an allowed origin (DNS-rebinding defence, with
// the SDK's own validators); and present the bearer token (compared in constant time).
// GET /metrics (the broker's Prometheus metrics, metrics.ts) passes the same Host and Origin checks
// and needs the same token, unless broker.yaml says `metrics: { public: true }`; it reads counters
// and the stores and writes nothing (no audit record).
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isIP } from "node:net";
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
  token: HttpToken;
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

/** Constant-time comparison of the Authorization header with the expected bearer token. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (!m || m[1] === undefined) return false;
  return timingSafeEqual(digest(m[1]), digest(token));
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
    if (!(metrics?.isPublic() ?? false) && !bearerMatches(req.headers.authorization, options.token.value)) {
      options.logger.warn({ remote: req.socket.remoteAddress }, "HTTP request refused: missing or wrong bearer token");
      return refuse(res, 401, "unauthorized: a valid bearer token is required (Authorization: Bearer <token>)", {
        "www-authenticate": 'Bearer realm="hostward"',
      });
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
    await mcp(req, res, { token: options.token.value, label: options.token.label });
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
