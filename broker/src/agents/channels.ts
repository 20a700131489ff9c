// One gRPC client per host and role, created on first use, kept open and reused for every later
// call (grpc-js reconnects by itself, with backoff, when an agent restarts). mTLS with the private
// CA and the role's client certificate from DIR/tls; the agent's certificate must carry the host's
// expected name (certName, default: the inventory name) whatever address it is reached at, and the
// role of the port it is reached on (each role has its own key and certificate, so a reader's key
// cannot stand in for the operator endpoint). The key each agent presented is remembered per
// role and name: approvals bind the operator's (peerKey).
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { readValidity, validityProblem, type ClientCertValidity } from "./client-cert";
import { certificateNames, publicKeyFingerprint, roleOf } from "../../../shared/cert-names";
import { fromServiceError, HostCallError } from "./errors";
import { injectContext, tracingOn } from "../../../shared/tracing";

export type Role = "reader" | "operator";

export interface ChannelHost {
  name: string;
  address: string;
  ports: { reader: number; operator: number };
  certName?: string;
}

export interface TlsFiles {
  caCert: string;
  clientCert(role: Role): string;
  clientKey(role: Role): string;
}

export interface UnaryMethod<Req, Res> {
  path: string;
  requestSerialize(value: Req): Buffer;
  /** When present, used to complete a partial request with proto3 defaults before encoding. */
  requestDeserialize?(value: Buffer): Req;
  responseDeserialize(value: Buffer): Res;
}

export interface ChannelPoolOptions {
  /** Largest reply accepted from an agent, bytes. */
  maxReceiveBytes: number;
}

/** host:port for grpc-js, with IPv6 literals in brackets. */
export function grpcTarget(address: string, port: number): string {
  return address.includes(":") && !address.startsWith("[") ? `[${address}]:${port}` : `${address}:${port}`;
}

export function expectedCertName(host: ChannelHost): string {
  return host.certName ?? host.name;
}

function toMetadata(entries: Record<string, string> = {}): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) md.set(k, v);
  // With tracing on, the active span (the host call's) goes with the call: traceparent, tracestate.
  if (tracingOn()) for (const [k, v] of Object.entries(injectContext({}))) md.set(k, v);
  return md;
}

/**
 * The TLS check of an agent's certificate (after the chain was verified against the CA): the
 * expected name (Node's own check), then exactly one role SAN URI, equal to the role of the port.
 * Returns the key fingerprint of the certificate, or the error that fails the handshake.
 */
function checkAgentCertificate(role: Role, name: string, peer: PeerCertificate): { key: string } | Error {
  const nameError = checkServerIdentity(name, peer);
  if (nameError) return nameError;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(peer.raw);
  } catch (err) {
    return new Error(`the agent's certificate for ${name} cannot be read: ${(err as Error).message}`);
  }
  const names = certificateNames(cert);
  const proved = names ? roleOf(names) : { ok: false as const, refusal: "has subject alternative names that cannot be read" };
  if (!proved.ok) return new Error(`the agent's certificate for ${name} ${proved.refusal}: issue the host's certificates again with "hostward pki issue-agent" (one per role)`);
  if (proved.role !== role) {
    return new Error(`the agent on ${name}'s ${role} port presented the ${proved.role} role's certificate: each role has its own key and certificate (/etc/hostward/tls/${role}.crt)`);
  }
  return { key: publicKeyFingerprint(cert) };
}

export class ChannelPool {
  readonly #clients = new Map<string, { client: grpc.Client; identity: string }>();
  readonly #credentials = new Map<Role, grpc.ChannelCredentials>();
  readonly #validity = new Map<Role, ClientCertValidity | undefined>();
  /** "role\0certName" → the key fingerprint the agent presented in its latest TLS handshake. */
  readonly #peerKeys = new Map<string, string>();

  constructor(
    private readonly tls: TlsFiles,
    private readonly options: ChannelPoolOptions,
  ) {}

  /** The key fingerprint the host's `role` agent presented in its latest TLS handshake, if any. */
  peerKey(host: ChannelHost, role: Role): string | undefined {
    return this.#peerKeys.get(`${role}\0${expectedCertName(host)}`);
  }

  /** The number of open clients (for tests and ping_hosts). */
  get size(): number {
    return this.#clients.size;
  }

  credentials(role: Role): grpc.ChannelCredentials {
    const cached = this.#credentials.get(role);
    if (cached) return cached;
    const read = (file: string, what: string) => {
      try {
        return readFileSync(file);
      } catch (err) {
        throw new HostCallError("TLS_CONFIG", `cannot read the broker's ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    };
    const ca = read(this.tls.caCert, "CA certificate");
    const key = read(this.tls.clientKey(role), `${role} client key`);
    const cert = read(this.tls.clientCert(role), `${role} client certificate`);
    this.#validity.set(role, readValidity(role, this.tls.clientCert(role), cert));
    let creds: grpc.ChannelCredentials;
    try {
      creds = grpc.credentials.createSsl(ca, key, cert, {
        checkServerIdentity: (name, peer) => {
          const checked = checkAgentCertificate(role, name, peer);
          if (checked instanceof Error) return checked;
          this.#peerKeys.set(`${role}\0${name}`, checked.key);
          return undefined;
        },
      });
    } catch (err) {
      throw new HostCallError("TLS_CONFIG", `the broker's ${role} TLS files in ${this.tls.caCert.replace(/[^/\\]+$/, "")} are unusable: ${(err as Error).message}`);
    }
    this.#credentials.set(role, creds);
    return creds;
  }

  /** The validity of the broker's client certificate for `role` (read with the credentials). */
  clientCertificate(role: Role): ClientCertValidity | undefined {
    if (!this.#validity.has(role)) {
      try {
        this.credentials(role);
      } catch {
        return undefined;
      }
    }
    return this.#validity.get(role);
  }

  /** A failed call's error; a handshake the agent dropped because of our own certificate says so. */
  #callError(err: grpc.ServiceError, host: ChannelHost, role: Role): HostCallError {
    return fromServiceError(err, host.name, err.code === grpc.status.UNAVAILABLE ? validityProblem(this.#validity.get(role)) : undefined);
  }

  client(host: ChannelHost, role: Role): grpc.Client {
    const key = `${role}\0${host.name}`;
    const certName = expectedCertName(host);
    const target = grpcTarget(host.address, host.ports[role]);
    const identity = `${target}\0${certName}`;
    const existing = this.#clients.get(key);
    if (existing?.identity === identity) return existing.client;
    existing?.client.close();
    const client = new grpc.Client(target, this.credentials(role), {
      "grpc.ssl_target_name_override": certName,
      "grpc.default_authority": certName,
      // Pings only while calls are in flight: detects a dead agent mid-call without idle chatter.
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_timeout_ms": 10_000,
      "grpc.keepalive_permit_without_calls": 0,
      // A restarted agent is found again within seconds.
      "grpc.initial_reconnect_backoff_ms": 500,
      "grpc.max_reconnect_backoff_ms": 5_000,
      "grpc.max_receive_message_length": this.options.maxReceiveBytes,
      "grpc.max_send_message_length": 1024 * 1024,
      "grpc.enable_retries": 0,
      // No channelz bookkeeping (per-channel trace buffers and call counters) for a channel per
      // host: it is memory and CPU on every call that nothing here reads (test/bench/results.md).
      "grpc.enable_channelz": 0,
    });
    this.#clients.set(key, { client, identity });
    return client;
  }

  /** One unary call with a deadline; failures become HostCallError with the gRPC status name. */
  unary<Req, Res>(host: ChannelHost, role: Role, method: UnaryMethod<Req, Res>, request: Req, timeoutMs: number, metadata?: Record<string, string>): Promise<Res> {
    // A throw in the executor (this.client() cannot build credentials) rejects the promise.
    return new Promise<Res>((resolve, reject) => {
      this.client(host, role).makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        toMetadata(metadata),
        { deadline: Date.now() + timeoutMs },
        (err, value) => {
          if (err) reject(this.#callError(err, host, role));
          else if (value === undefined) reject(new HostCallError("INTERNAL", `${host.name} sent an empty reply`));
          else resolve(value);
        },
      );
    });
  }

  /**
   * One server-streaming call with a deadline: `onMessage` sees each message as it arrives; the
   * promise settles when the stream ends (failures become HostCallError with the gRPC status name).
   * An abort `signal` cancels the call.
   */
  serverStream<Req, Res>(
    host: ChannelHost,
    role: Role,
    method: UnaryMethod<Req, Res>,
    request: Req,
    options: { timeoutMs: number; metadata?: Record<string, string>; onMessage: (message: Res) => void; signal?: AbortSignal },
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const call = this.client(host, role).makeServerStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, request, toMetadata(options.metadata), {
        deadline: Date.now() + options.timeoutMs,
      });
      const onAbort = () => call.cancel();
      options.signal?.addEventListener("abort", onAbort, { once: true });
      let failed = false;
      call.on("data", (message: Res) => {
        try {
          options.onMessage(message);
        } catch (err) {
          failed = true;
          call.cancel();
          reject(err);
        }
      });
      call.on("error", (err: grpc.ServiceError) => {
        options.signal?.removeEventListener("abort", onAbort);
        if (!failed) reject(this.#callError(err, host, role));
        failed = true;
      });
      // "end" follows every buffered message; a non-OK status emits "error" before it.
      call.on("end", () => {
        options.signal?.removeEventListener("abort", onAbort);
        if (!failed) resolve();
      });
    });
  }

  /** Closes the clients of these hosts (changed or removed from the inventory). */
  forget(hostNames: readonly string[]): void {
    for (const [key, entry] of this.#clients) {
      if (hostNames.includes(key.slice(key.indexOf("\0") + 1))) {
        entry.client.close();
        this.#clients.delete(key);
      }
    }
  }

  /** Re-reads the TLS files on next use (after a reload: client certificates are short-lived). */
  resetCredentials(): void {
    this.#credentials.clear();
    this.#validity.clear();
    for (const entry of this.#clients.values()) entry.client.close();
    this.#clients.clear();
  }

  close(): void {
    this.resetCredentials();
  }
}
