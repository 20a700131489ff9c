// Bench only: many simulated hosts in one Node process. Starts K reader servers built from the
// agent's own server code (agent/src/server/: the same interceptor, mTLS credentials, catalog
// wiring, concurrency limit and per-call log line as hostward-reader), each on its own loopback
// port, then writes {"ports":[…],"pid"} to the ready file. Every server answers for "its" host;
// they share one process, one event loop and one TLS configuration.
//
//   node multi-agent.cjs --config FILE --count K --ready-file FILE
import { writeFileSync, renameSync } from "node:fs";
import { parseArgs } from "node:util";
import { diagnostics } from "../../proto/catalog/diagnostics/index";
import { catalogHash } from "../../proto/catalog/hash";
import { VERSION } from "../../proto/catalog/version";
import { loadAgentConfig } from "../../agent/src/config";
import { createLogger } from "../../agent/src/logging";
import { addDiagnosticsService } from "../../agent/src/server/diagnostics-service";
import { startServer, type RunningServer } from "../../agent/src/server/create-server";
import { createConcurrencyLimit } from "../../agent/src/server/limiter";
import { createServerCredentials, loadTlsMaterial, resolveTlsFiles } from "../../agent/src/tls";

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: "string" }, count: { type: "string" }, "ready-file": { type: "string" } }, strict: true });
  if (!values.config || !values.count || !values["ready-file"]) throw new Error("usage: multi-agent --config FILE --count K --ready-file FILE");
  const count = Number(values.count);
  const config = loadAgentConfig(values.config);
  const credentials = createServerCredentials(loadTlsMaterial(resolveTlsFiles("reader", config.tls), "reader"));
  const logger = createLogger({ role: "reader" });
  const agent = { version: VERSION, role: "reader" as const, startedAt: Date.now(), catalogHash: catalogHash(diagnostics) };
  const servers: RunningServer[] = [];
  for (let i = 0; i < count; i++) {
    const limit = createConcurrencyLimit(config.limits.maxConcurrentCalls);
    servers.push(
      await startServer({
        host: "127.0.0.1",
        port: 0,
        credentials,
        logger,
        maxReplyBytes: config.limits.maxReplyBytes,
        serviceName: "hostward.v1.DiagnosticsService",
        register: (s) => addDiagnosticsService(s, { config, agent, limit }),
      }),
    );
  }
  const ready = values["ready-file"];
  writeFileSync(`${ready}.tmp`, JSON.stringify({ pid: process.pid, ports: servers.map((s) => s.port) }));
  renameSync(`${ready}.tmp`, ready);
  const stop = () => void Promise.all(servers.map((s) => s.stop(1_000))).then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`multi-agent: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
