// gRPC pieces of the bench: a client for an agent's DiagnosticsService (the broker's own way of
// calling: a generic client, the generated method definitions), and the floor — a no-op unary
// call over the same mutual TLS, client and server in one process.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { DiagnosticsServiceService } from "../../proto/gen/hostward/v1/diagnostics";

type Method = grpc.MethodDefinition<Record<string, unknown>, { json: string }>;
const methods = DiagnosticsServiceService as unknown as Record<string, Method>;

export interface TlsPaths {
  ca: string;
  clientCert: string;
  clientKey: string;
  agentCert: string;
  agentKey: string;
  /** The DNS name on the agent certificate. */
  certName: string;
}

/** The TLS files of a `hostward local up` directory: broker reader client, local1's agent cert. */
export function fleetTls(fleetDir: string): TlsPaths {
  return {
    ca: join(fleetDir, "tls", "ca.crt"),
    clientCert: join(fleetDir, "tls", "reader.crt"),
    clientKey: join(fleetDir, "tls", "reader.key"),
    agentCert: join(fleetDir, "agents", "local1", "reader.crt"),
    agentKey: join(fleetDir, "agents", "local1", "reader.key"),
    certName: "local1",
  };
}

export function clientFor(tls: TlsPaths, port: number): grpc.Client {
  const creds = grpc.credentials.createSsl(readFileSync(tls.ca), readFileSync(tls.clientKey), readFileSync(tls.clientCert));
  return new grpc.Client(`127.0.0.1:${port}`, creds, { "grpc.ssl_target_name_override": tls.certName, "grpc.default_authority": tls.certName });
}

/** One DiagnosticsService call (method key as generated: "getLoad"); resolves with the parsed JSON. */
export function callDiagnostic(client: grpc.Client, key: string, input: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<unknown> {
  const method = methods[key];
  if (!method) throw new Error(`no method ${key}`);
  const request = { ...method.requestDeserialize(Buffer.alloc(0)), ...input };
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, reply) =>
      err ? reject(err) : resolve(JSON.parse(reply!.json)),
    );
  });
}

const identity = (b: Buffer) => b;

/** The floor: an in-process server with one no-op unary method behind the same mTLS. */
export async function startNoopServer(tls: TlsPaths): Promise<{ client: grpc.Client; call(): Promise<void>; stop(): void }> {
  const server = new grpc.Server();
  server.addService(
    { call: { path: "/bench.Noop/Call", requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } },
    { call: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.alloc(0)) },
  );
  const creds = grpc.ServerCredentials.createSsl(readFileSync(tls.ca), [{ cert_chain: readFileSync(tls.agentCert), private_key: readFileSync(tls.agentKey) }], true);
  const port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", creds, (err, p) => (err ? rej(err) : res(p))));
  const client = clientFor(tls, port);
  return {
    client,
    call: () =>
      new Promise<void>((res, rej) =>
        client.makeUnaryRequest("/bench.Noop/Call", identity, identity, Buffer.alloc(0), new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (err) => (err ? rej(err) : res())),
      ),
    stop: () => {
      client.close();
      server.forceShutdown();
    },
  };
}
