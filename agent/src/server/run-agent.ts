// What both agent entry points share: options, configuration and TLS checks that fail fast with a
// precise message, the server, the ready file, the startup log line and a clean SIGTERM.
// The role is fixed by the entry point; the entry decides which service is registered, so the
// reader bundle contains no action code and the operator bundle no diagnostic code.
import { existsSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type * as grpc from "@grpc/grpc-js";
import { VERSION } from "../../../proto/catalog/version";
import { ConfigError, defaultAgentConfig, loadAgentConfig, type AgentConfig } from "../config";
import { createLogger, type Logger, type Role } from "../logging";
import { createServerCredentials, loadTlsMaterial, resolveTlsFiles, TlsError } from "../tls";
import { startServer, type RunningServer } from "./create-server";
import { createConcurrencyLimit, type ConcurrencyLimit } from "./limiter";
import { createRevocationList } from "./revocation";
import { startTracing } from "../../../shared/tracing";

const DEFAULT_CONFIG_FILE = "/etc/hostward/agent.yaml";
const DEFAULT_PORTS: Readonly<Record<Role, number>> = { reader: 7443, operator: 7444 };
/** How long SIGTERM waits for calls in flight before closing them. */
const SHUTDOWN_GRACE_MS = 5_000;

/**
 * The role's catalog hash as scripts/build.mjs computed it (esbuild define) from the same catalog:
 * computing it at start would build every schema and its JSON schema, a few MiB of the idle agent.
 * Unbundled (tests, `tsx`), entry.catalogHash() computes it at start instead.
 */
declare const HOSTWARD_CATALOG_HASH: string | undefined;
const BUILT_CATALOG_HASH: string | undefined = typeof HOSTWARD_CATALOG_HASH === "string" ? HOSTWARD_CATALOG_HASH : undefined;

/** Exit codes: 64 usage (EX_USAGE), 78 configuration or TLS files (EX_CONFIG), 1 anything else. */
const EXIT = { usage: 64, config: 78, failure: 1 } as const;

interface AgentContext {
  config: AgentConfig;
  logger: Logger;
  limit: ConcurrencyLimit;
  agent: { version: string; role: Role; startedAt: number; catalogHash: string };
}

export interface AgentEntry {
  role: Role;
  /** The fully qualified gRPC service this role serves. */
  serviceName: string;
  catalogHash(): string;
  /** Role-specific checks of the configuration at start; a message makes the agent exit 78 naming it. */
  checkConfig?(config: AgentConfig): string | null;
  register(server: grpc.Server, ctx: AgentContext): void;
}

function usage(role: Role): string {
  return `hostward-${role} ${VERSION}: the hostward ${role} agent (${role === "reader" ? "DiagnosticsService" : "ActionsService"} over mutual TLS)

Usage: hostward-${role} [--config FILE] [--ready-file FILE]

  --config FILE      agent configuration (YAML; default ${DEFAULT_CONFIG_FILE}, built-in defaults when that file does not exist)
  --ready-file FILE  once listening, write {"role","port","pid"} as JSON to FILE (atomically)
  --help, --version

TLS files default to $CREDENTIALS_DIRECTORY/{ca.crt,agent.crt,agent.key} when systemd provides
credentials, else /etc/hostward/tls/{ca.crt,${role}.crt,${role}.key}; tls.ca/cert/key in the
configuration override them. The certificate must be this role's (SAN URI
urn:hostward:role:${role}); the key must belong to this user or root and not be readable or
writable by group or others.
`;
}

class StartupError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

function readConfig(role: Role, file: string | undefined): AgentConfig {
  let config: AgentConfig;
  try {
    if (file === undefined && !existsSync(DEFAULT_CONFIG_FILE)) config = defaultAgentConfig();
    else config = loadAgentConfig(file ?? DEFAULT_CONFIG_FILE);
  } catch (err) {
    if (err instanceof ConfigError) throw new StartupError(err.message, EXIT.config);
    throw err;
  }
  if (config.role !== undefined && config.role !== role) {
    throw new StartupError(`${file ?? DEFAULT_CONFIG_FILE}: invalid configuration:\n  role: is "${config.role}" but this is the ${role} agent (remove it or set it to "${role}")`, EXIT.config);
  }
  return config;
}

function writeReadyFile(path: string, content: object): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(content)}\n`, { mode: 0o644 });
  renameSync(tmp, path);
}

async function start(entry: AgentEntry, argv: string[]): Promise<void> {
  let values: { config?: string; "ready-file"?: string; help?: boolean; version?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: "string" },
        "ready-file": { type: "string" },
        help: { type: "boolean" },
        version: { type: "boolean" },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (err) {
    throw new StartupError(`${(err as Error).message}\n\n${usage(entry.role)}`, EXIT.usage);
  }
  if (values.help) {
    process.stdout.write(usage(entry.role));
    return;
  }
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return;
  }

  const config = readConfig(entry.role, values.config);
  const problem = entry.checkConfig?.(config) ?? null;
  if (problem !== null) throw new StartupError(`${values.config ?? DEFAULT_CONFIG_FILE}: invalid configuration:\n  ${problem}`, EXIT.config);
  let credentials: grpc.ServerCredentials;
  let certNotAfter: Date;
  try {
    const material = loadTlsMaterial(resolveTlsFiles(entry.role, config.tls), entry.role);
    credentials = createServerCredentials(material);
    certNotAfter = material.certNotAfter;
  } catch (err) {
    if (err instanceof TlsError) throw new StartupError(err.message, EXIT.config);
    throw err;
  }

  const logger = createLogger({ role: entry.role });
  // Off unless agent.yaml has `tracing`: then a server span per RPC, exported over OTLP/HTTP.
  const tracing = config.tracing ? startTracing(config.tracing, `hostward-${entry.role}`) : undefined;
  const readyFile = values["ready-file"];
  // Signal handlers go in before the server binds: without one, a SIGTERM that arrives right
  // after the ready file appears would kill the process with the default action, uncleanly.
  // A signal before the server is up simply exits (nothing to drain, no ready file yet).
  let server: RunningServer | undefined;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    void (server?.stop(SHUTDOWN_GRACE_MS) ?? Promise.resolve())
      .then(() => tracing?.shutdown())
      .then(() => {
      if (readyFile !== undefined && server !== undefined) rmSync(readyFile, { force: true });
      logger.info("stopped");
      process.exit(0);
    });
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("uncaughtException", (err) => {
    logger.fatal({ err }, "uncaught exception");
    process.exit(EXIT.failure);
  });
  process.on("unhandledRejection", (err) => {
    logger.fatal({ err }, "unhandled rejection");
    process.exit(EXIT.failure);
  });

  const ctx: AgentContext = {
    config,
    logger,
    limit: createConcurrencyLimit(config.limits.maxConcurrentCalls, config.limits.maxConcurrentCallsPerClient),
    agent: { version: VERSION, role: entry.role, startedAt: Date.now(), catalogHash: BUILT_CATALOG_HASH ?? entry.catalogHash() },
  };
  const port = config.listen.port ?? DEFAULT_PORTS[entry.role];
  server = await startServer({
    host: config.listen.host,
    port,
    credentials,
    logger,
    maxReplyBytes: config.limits.maxReplyBytes,
    maxCallMs: config.limits.maxCallSeconds * 1000,
    maxStreamsPerConnection: config.limits.maxStreamsPerConnection,
    revocations: createRevocationList(config.tls.revocationList, logger),
    serviceName: entry.serviceName,
    register: (s) => entry.register(s, ctx),
  });
  if (readyFile !== undefined) writeReadyFile(readyFile, { role: entry.role, port: server.port, pid: process.pid });
  logger.info(
    {
      host: config.listen.host,
      port: server.port,
      version: VERSION,
      service: entry.serviceName,
      catalogHash: ctx.agent.catalogHash,
      certNotAfter: certNotAfter.toISOString(),
      node: process.version,
      startupMs: Math.round(performance.now()),
    },
    "started",
  );
}

/** Runs an agent entry point; startup failures print one precise message on stderr and exit non-zero. */
export function runAgent(entry: AgentEntry, argv: string[] = process.argv.slice(2)): void {
  start(entry, argv).catch((err: unknown) => {
    const code = err instanceof StartupError ? err.exitCode : EXIT.failure;
    // Expected failures (options, config, TLS files) are one precise line; anything else keeps its stack.
    const message = err instanceof StartupError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`hostward-${entry.role}: ${message}\n`);
    process.exitCode = code;
  });
}
