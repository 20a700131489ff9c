// Builds and binds the agent's gRPC server: mutual TLS, the one interceptor (authorisation +
// per-call log line) in front of every service, the health service, and the role's own service.
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "../logging";
import { HealthServer, ServingStatus } from "./health";
import { createCallInterceptor } from "./interceptor";
import type { RevocationList } from "./revocation";

/** Requests are small typed messages; this still lets an oversized string reach zod, which names the field. */
const MAX_RECEIVE_BYTES = 2 * 1024 * 1024;

export interface ServerOptions {
  host: string;
  port: number;
  credentials: grpc.ServerCredentials;
  logger: Logger;
  /** Client certificates this host no longer accepts (revocation.ts); none when absent. */
  revocations?: RevocationList;
  maxReplyBytes: number;
  /** Server-side bound on every call's duration (the interceptor ends it), ms. */
  maxCallMs?: number;
  /** grpc.max_concurrent_streams: calls one connection may have open at once. */
  maxStreamsPerConnection?: number;
  /** The fully qualified service the role serves; health reports it SERVING. */
  serviceName: string;
  register(server: grpc.Server): void;
}

export interface RunningServer {
  port: number;
  /** Graceful stop: health NOT_SERVING, then wait for calls up to `graceMs`, then force. */
  stop(graceMs: number): Promise<void>;
}

function bindAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const server = new grpc.Server({
    interceptors: [createCallInterceptor(opts.logger, { revocations: opts.revocations, maxCallMs: opts.maxCallMs })],
    // Half-open or slow streams cannot pile up on one connection past this (RST_STREAM REFUSED_STREAM).
    ...(opts.maxStreamsPerConnection !== undefined && { "grpc.max_concurrent_streams": opts.maxStreamsPerConnection }),
    "grpc.max_receive_message_length": MAX_RECEIVE_BYTES,
    // Room for the JSON reply (capped by the handler) and the protobuf framing around it.
    "grpc.max_send_message_length": opts.maxReplyBytes + 64 * 1024,
    // channelz (grpc-js's introspection registry) costs ~8 % CPU per call and is never queried.
    "grpc.enable_channelz": 0,
  });
  const health = new HealthServer({ "": ServingStatus.SERVING, [opts.serviceName]: ServingStatus.SERVING });
  health.addToServer(server);
  opts.register(server);

  const address = bindAddress(opts.host, opts.port);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, opts.credentials, (err, bound) => (err ? reject(new Error(`cannot listen on ${address}: ${err.message}`)) : resolve(bound)));
  });

  return {
    port,
    stop(graceMs) {
      health.shutdown();
      return new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}
