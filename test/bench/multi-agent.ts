// Bench only: many simulated hosts in one Node process, built from the agent's own server code
// (agent/src/server/: the same interceptor, mTLS credentials, catalog wiring, concurrency limit and
// per-call log line as hostward-reader and hostward-operator). They share one process and one
// event loop. Two modes:
//
//   --config FILE --count K: K reader servers, each on its own loopback port, all with the one TLS
//     identity of FILE (the fan-out sections: the broker gives each its own inventory entry, its
//     own channel and certName of that identity). Ready file: {"pid","ports":[…]}.
//   --hosts FILE: FILE is a JSON list [{name, reader, operator}] of agent configuration files, one
//     reader and one operator per host, each with the host's own key and certificates (so each
//     host proves its own name and operator key to the broker and to its helper). The operator
//     servers run ActionsService and ActionRecordsService with the host's helper configuration
//     (direct mode: every action and preview runs the real helper bundle as a process, with the
//     host's own approval store and ledger). Ready file: {"pid","hosts":[{name, reader, operator}]}.
//     Per-call log lines (with `host`) go to stdout; the helpers' stderr to --helper-log FILE.
//
//   node multi-agent.cjs (--config FILE --count K | --hosts FILE [--helper-log FILE]) --ready-file FILE
import { createWriteStream, readFileSync, renameSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { diagnostics } from "../../proto/catalog/diagnostics/index";
import { catalogHash } from "../../proto/catalog/hash";
import { VERSION } from "../../proto/catalog/version";
import { loadAgentConfig, type AgentConfig } from "../../agent/src/config";
import { createLogger, type Logger } from "../../agent/src/logging";
import { addActionRecordsService } from "../../agent/src/server/action-records-service";
import { addActionsService } from "../../agent/src/server/actions-service";
import { addDiagnosticsService } from "../../agent/src/server/diagnostics-service";
import { startServer, type RunningServer } from "../../agent/src/server/create-server";
import { createConcurrencyLimit } from "../../agent/src/server/limiter";
import { createServerCredentials, loadTlsMaterial, resolveTlsFiles } from "../../agent/src/tls";

const servers: RunningServer[] = [];
let readerAgent: { version: string; role: "reader"; startedAt: number; catalogHash: string } | undefined;

function readerServer(config: AgentConfig, logger: Logger, credentials = createServerCredentials(loadTlsMaterial(resolveTlsFiles("reader", config.tls), "reader"))): Promise<RunningServer> {
  const agent = (readerAgent ??= { version: VERSION, role: "reader", startedAt: Date.now(), catalogHash: catalogHash(diagnostics) });
  const limit = createConcurrencyLimit(config.limits.maxConcurrentCalls);
  return startServer({
    host: "127.0.0.1",
    port: 0,
    credentials,
    logger,
    maxReplyBytes: config.limits.maxReplyBytes,
    serviceName: "hostward.v1.DiagnosticsService",
    register: (s) => addDiagnosticsService(s, { config, agent, limit }),
  });
}

function operatorServer(config: AgentConfig, logger: Logger, helperStderr: NodeJS.WritableStream): Promise<RunningServer> {
  const limit = createConcurrencyLimit(config.limits.maxConcurrentCalls, config.limits.maxConcurrentCallsPerClient);
  return startServer({
    host: "127.0.0.1",
    port: 0,
    credentials: createServerCredentials(loadTlsMaterial(resolveTlsFiles("operator", config.tls), "operator")),
    logger,
    maxReplyBytes: config.limits.maxReplyBytes,
    maxCallMs: config.limits.maxCallSeconds * 1000,
    serviceName: "hostward.v1.ActionsService",
    register: (s) => {
      addActionsService(s, { helper: config.helper, limit, helperStderr });
      addActionRecordsService(s, { helper: config.helper, limit, helperStderr });
    },
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { config: { type: "string" }, count: { type: "string" }, hosts: { type: "string" }, "helper-log": { type: "string" }, "ready-file": { type: "string" } },
    strict: true,
  });
  const ready = values["ready-file"];
  if (!ready || !((values.config && values.count) || values.hosts)) throw new Error("usage: multi-agent (--config FILE --count K | --hosts FILE [--helper-log FILE]) --ready-file FILE");
  let content: object;
  if (values.hosts) {
    const hosts = JSON.parse(readFileSync(values.hosts, "utf8")) as Array<{ name: string; reader: string; operator: string }>;
    const helperStderr = createWriteStream(values["helper-log"] ?? "/dev/null", { flags: "a" });
    const root = createLogger({ role: "operator" });
    const out: Array<{ name: string; reader: number; operator: number }> = [];
    for (const h of hosts) {
      const logger = root.child({ host: h.name });
      const reader = await readerServer(loadAgentConfig(h.reader), logger);
      const operator = await operatorServer(loadAgentConfig(h.operator), logger, helperStderr);
      servers.push(reader, operator);
      out.push({ name: h.name, reader: reader.port, operator: operator.port });
    }
    content = { pid: process.pid, hosts: out };
  } else {
    const count = Number(values.count);
    const config = loadAgentConfig(values.config!);
    const credentials = createServerCredentials(loadTlsMaterial(resolveTlsFiles("reader", config.tls), "reader"));
    const logger = createLogger({ role: "reader" });
    for (let i = 0; i < count; i++) servers.push(await readerServer(config, logger, credentials));
    content = { pid: process.pid, ports: servers.map((s) => s.port) };
  }
  writeFileSync(`${ready}.tmp`, JSON.stringify(content));
  renameSync(`${ready}.tmp`, ready);
}

const stop = () => void Promise.all(servers.map((s) => s.stop(1_000))).then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

main().catch((err: unknown) => {
  process.stderr.write(`multi-agent: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
