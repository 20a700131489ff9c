// The agent's real server (mTLS, interceptor, generic catalog wiring, limits) started inside the
// test process with fixture diagnostics, for behaviours no shipped diagnostic can trigger on
// demand (a handler that blocks, overruns its output schema or throws). Real sockets on 127.0.0.1.
import { Writable } from "node:stream";
import { AgentConfigSchema } from "../../agent/src/config";
import { createLogger } from "../../agent/src/logging";
import { startServer } from "../../agent/src/server/create-server";
import { addDiagnosticsService, type DiagnosticsWiring } from "../../agent/src/server/diagnostics-service";
import { createConcurrencyLimit } from "../../agent/src/server/limiter";
import { createServerCredentials, loadTlsMaterial } from "../../agent/src/tls";
import type { LogLine } from "../support/agent";
import type { TestPki } from "../support/pki";

export interface InProcessAgent {
  address: string;
  lines: LogLine[];
  stop(): Promise<void>;
}

export async function startInProcess(opts: { pki: TestPki; wiring: DiagnosticsWiring; limits?: Record<string, number> }): Promise<InProcessAgent> {
  const config = AgentConfigSchema.parse({ listen: { host: "127.0.0.1", port: 0 }, limits: opts.limits ?? {} });
  const lines: LogLine[] = [];
  let pending = "";
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      pending += chunk.toString("utf8");
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        lines.push(JSON.parse(pending.slice(0, nl)) as LogLine);
        pending = pending.slice(nl + 1);
      }
      callback();
    },
  });
  const material = loadTlsMaterial({ ca: opts.pki.files.ca, cert: opts.pki.files.cert.reader, key: opts.pki.files.key.reader }, "reader");
  const deps = {
    config,
    agent: { version: "test", role: "reader" as const, startedAt: Date.now(), catalogHash: "sha256:test" },
    limit: createConcurrencyLimit(config.limits.maxConcurrentCalls, config.limits.maxConcurrentCallsPerClient),
  };
  const server = await startServer({
    host: "127.0.0.1",
    port: 0,
    credentials: createServerCredentials(material),
    logger: createLogger({ role: "reader", destination: sink }),
    maxReplyBytes: config.limits.maxReplyBytes,
    maxCallMs: config.limits.maxCallSeconds * 1000,
    maxStreamsPerConnection: config.limits.maxStreamsPerConnection,
    serviceName: "hostward.v1.DiagnosticsService",
    register: (s) => addDiagnosticsService(s, deps, opts.wiring),
  });
  return { address: `localhost:${server.port}`, lines, stop: () => server.stop(1_000) };
}
