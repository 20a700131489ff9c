// One HTTP(S) request for check_http: no redirects followed, no body returned (at most 64 KiB
// read and counted), no credentials. The name is resolved and vetted before any connection, and
// the request's `lookup` hands Node that vetted address, so it cannot resolve again elsewhere.
import type { ProbeBudget } from "./probe-budget";
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP, type LookupFunction, type Socket } from "node:net";
import type { PeerCertificate, TLSSocket } from "node:tls";
import type { AddressPolicy } from "../address-policy";
import { DiagnosticError } from "../diagnostics/context";
import { resolveVetted } from "./resolve-vetted";

const BODY_READ_LIMIT = 64 * 1024;
const HEADER_VALUE_MAX = 512;

type HttpErrorKind = "timeout" | "refused" | "reset" | "unreachable" | "tls" | "protocol" | "other";

interface TlsInfo {
  verified: boolean;
  verifyError: string | null;
  protocol: string | null;
  subject: string | null;
  issuer: string | null;
  subjectAltNames: string | null;
  validFrom: string | null;
  validTo: string | null;
  daysLeft: number | null;
}

export interface HttpCheckResult {
  url: string;
  method: "GET" | "HEAD";
  address: string;
  status: number | null;
  statusText: string | null;
  httpVersion: string | null;
  headers: { contentType: string | null; contentLength: string | null; server: string | null; location: string | null };
  redirect: string | null;
  timings: { dnsMs: number; connectMs: number | null; tlsMs: number | null; ttfbMs: number | null; totalMs: number };
  bodyBytesRead: number;
  bodyTruncated: boolean;
  tls: TlsInfo | null;
  error: { kind: HttpErrorKind; message: string } | null;
}

export interface HttpCheckOptions {
  method: "GET" | "HEAD";
  timeoutMs: number;
  insecureSkipVerify: boolean;
  policy: AddressPolicy;
  signal?: AbortSignal;
  userAgent?: string;
  /** The host's probe budget; the request counts as one probe of the address. */
  budget?: ProbeBudget;
}

/** Parses and re-checks the URL (the catalog checked it too): http(s), a host, no credentials. */
export function parseCheckUrl(text: string): URL {
  const bad = (reason: string) => new DiagnosticError("INVALID_ARGUMENT", `url: ${reason}`);
  if (!URL.canParse(text)) throw bad("is not a valid URL");
  const url = new URL(text);
  if (url.protocol !== "http:" && url.protocol !== "https:") throw bad(`scheme ${JSON.stringify(url.protocol)} is not allowed; use http:// or https://`);
  if (url.username !== "" || url.password !== "") throw bad("must not contain credentials (user:password@)");
  if (url.hostname === "") throw bad("has no host");
  return url;
}

function dn(name: PeerCertificate["subject"] | undefined): string | null {
  if (!name) return null;
  const parts = Object.entries(name).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : String(v)}`);
  return parts.length > 0 ? parts.join(", ") : null;
}

function tlsInfo(socket: TLSSocket): TlsInfo {
  const cert = socket.getPeerCertificate();
  const has = cert && Object.keys(cert).length > 0;
  const validTo = has ? cert.valid_to : null;
  const expires = validTo ? Date.parse(validTo) : Number.NaN;
  const authErr = socket.authorizationError as unknown;
  return {
    verified: socket.authorized,
    verifyError: socket.authorized ? null : authErr instanceof Error ? authErr.message : String(authErr ?? "not verified"),
    protocol: socket.getProtocol(),
    subject: has ? dn(cert.subject) : null,
    issuer: has ? dn(cert.issuer) : null,
    subjectAltNames: has ? (cert.subjectaltname ?? null) : null,
    validFrom: has ? cert.valid_from : null,
    validTo,
    daysLeft: Number.isNaN(expires) ? null : Math.floor((expires - Date.now()) / 86_400_000),
  };
}

function header(res: IncomingMessage, name: string): string | null {
  const v = res.headers[name];
  const s = Array.isArray(v) ? v.join(", ") : v;
  return s === undefined ? null : s.slice(0, HEADER_VALUE_MAX);
}

function classify(err: NodeJS.ErrnoException): HttpErrorKind {
  const code = err.code ?? "";
  if (code === "ECONNREFUSED") return "refused";
  if (code === "ECONNRESET" || code === "EPIPE" || err.message === "socket hang up") return "reset";
  if (["EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "ENETDOWN", "EHOSTDOWN"].includes(code)) return "unreachable";
  if (code === "ETIMEDOUT") return "timeout";
  if (code.startsWith("ERR_SSL") || code === "EPROTO" || code.startsWith("ERR_TLS")) return "tls";
  if (code.startsWith("HPE_")) return "protocol";
  return "other";
}

class CheckAbort extends Error {
  constructor(
    readonly kind: HttpErrorKind,
    message: string,
  ) {
    super(message);
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100;

export async function checkHttpUrl(urlText: string, opts: HttpCheckOptions): Promise<HttpCheckResult> {
  const url = parseCheckUrl(urlText);
  const started = performance.now();
  const since = () => round(performance.now() - started);
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const vetted = await resolveVetted(hostname, opts.policy, { field: "url", timeoutMs: opts.timeoutMs, signal: opts.signal });
  // One probe of the address (the host's probe budget, probe-budget.ts), before anything is sent.
  opts.budget?.spend(vetted.address, 1);
  const dnsMs = since();
  const isHttps = url.protocol === "https:";

  const result: HttpCheckResult = {
    url: url.href,
    method: opts.method,
    address: vetted.address,
    status: null,
    statusText: null,
    httpVersion: null,
    headers: { contentType: null, contentLength: null, server: null, location: null },
    redirect: null,
    timings: { dnsMs, connectMs: null, tlsMs: null, ttfbMs: null, totalMs: dnsMs },
    bodyBytesRead: 0,
    bodyTruncated: false,
    tls: null,
    error: null,
  };

  // Whatever Node asks, the answer is the address the policy approved.
  const lookup: LookupFunction = (name, options, callback) => {
    if (name !== hostname) {
      callback(Object.assign(new Error(`unexpected lookup of ${name}`), { code: "ENOTFOUND" }), "", 4);
      return;
    }
    if (options.all) callback(null, [{ address: vetted.address, family: vetted.family }]);
    else callback(null, vetted.address, vetted.family);
  };

  const options: RequestOptions & { servername?: string; rejectUnauthorized?: boolean } = {
    host: hostname,
    port: url.port === "" ? (isHttps ? 443 : 80) : Number(url.port),
    path: `${url.pathname}${url.search}`,
    method: opts.method,
    headers: { "User-Agent": opts.userAgent ?? "hostward-agent", Accept: "*/*", Connection: "close" },
    agent: false,
    lookup,
    family: vetted.family,
  };
  if (isHttps) {
    // Verification is judged in secureConnect (to report the certificate either way).
    options.rejectUnauthorized = false;
    if (isIP(hostname) === 0) options.servername = hostname;
  }

  const remaining = Math.max(opts.timeoutMs - dnsMs, 1);
  await new Promise<void>((resolve) => {
    let settled = false;
    let req: ClientRequest | undefined;
    const finish = (error?: { kind: HttpErrorKind; message: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      if (error && !result.error) result.error = error;
      result.timings.totalMs = since();
      req?.destroy();
      resolve();
    };
    const timer = setTimeout(() => finish({ kind: "timeout", message: `no complete answer within ${opts.timeoutMs} ms` }), remaining);
    const onAbort = () => finish({ kind: "timeout", message: "cancelled: the call's deadline passed" });
    opts.signal?.addEventListener("abort", onAbort, { once: true });

    req = (isHttps ? httpsRequest : httpRequest)(options);
    req.on("socket", (socket: Socket) => {
      socket.once("connect", () => {
        result.timings.connectMs = since();
      });
      if (isHttps) {
        socket.once("secureConnect", () => {
          result.timings.tlsMs = since();
          const info = tlsInfo(socket as TLSSocket);
          result.tls = info;
          if (!info.verified && !opts.insecureSkipVerify) {
            req?.destroy(new CheckAbort("tls", `certificate not trusted (${info.verifyError}); set insecureSkipVerify to read the response anyway`));
          }
        });
      }
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err instanceof CheckAbort) finish({ kind: err.kind, message: err.message });
      else finish({ kind: classify(err), message: `${err.code ?? "error"}: ${err.message}` });
    });
    req.on("response", (res: IncomingMessage) => {
      result.timings.ttfbMs = since();
      result.status = res.statusCode ?? null;
      result.statusText = res.statusMessage ?? null;
      result.httpVersion = res.httpVersion;
      result.headers = {
        contentType: header(res, "content-type"),
        contentLength: header(res, "content-length"),
        server: header(res, "server"),
        location: header(res, "location"),
      };
      const location = result.headers.location;
      if (location !== null && result.status !== null && result.status >= 300 && result.status < 400) {
        result.redirect = URL.canParse(location, url.href) ? new URL(location, url.href).href.slice(0, 2048) : location;
      }
      res.on("data", (chunk: Buffer) => {
        const room = BODY_READ_LIMIT - result.bodyBytesRead;
        result.bodyBytesRead += Math.min(chunk.length, room);
        if (chunk.length > room) {
          result.bodyTruncated = true;
          finish();
        }
      });
      res.on("end", () => finish());
      res.on("error", (err: NodeJS.ErrnoException) => finish({ kind: classify(err), message: `body: ${err.message}` }));
      res.on("close", () =>
        finish(res.complete || result.bodyTruncated ? undefined : { kind: "reset", message: "the connection closed before the body was complete" }),
      );
    });
    req.end();
  });
  return result;
}
