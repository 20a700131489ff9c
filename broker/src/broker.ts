// The broker's long-lived parts, created once per process and shared by every MCP session: the
// live configuration, the channel pool, the audit log and the logger.
import { diagnostics } from "../../proto/catalog/diagnostics/index";
import { catalogHash } from "../../proto/catalog/hash";
import { VERSION } from "../../proto/catalog/version";

/**
 * The diagnostics catalog's hash (what ping_hosts compares with each reader's), computed by
 * scripts/build.mjs and defined into the bundle as for the agents: computing it at start builds
 * every diagnostic's JSON schema (~20 ms of each `hostward serve` start). Unbundled (tests, tsx):
 * computed here.
 */
declare const HOSTWARD_CATALOG_HASH: string | undefined;
const BUILT_CATALOG_HASH: string | undefined = typeof HOSTWARD_CATALOG_HASH === "string" ? HOSTWARD_CATALOG_HASH : undefined;
import { ChannelPool } from "./agents/channels";
import { expiryWarning } from "./agents/client-cert";
import { MAX_REPLY_BYTES } from "./agents/diagnostic-call";
import { openState } from "./state/open";
import type { ActionStateStore, AuditStore, RolloutRecordStore, StateStore, StateWatch } from "./state/store";
import { loadBrokerConfig } from "./config/load";
import type { BrokerConfig } from "./config/schema";
import { ConfigStore } from "./config/store";
import { createLogger, type Logger } from "./logger";
import { configFiles, defaultStateDir } from "./paths";
import { Notifier } from "./notify/webhook";
import { BrokerMetrics, countedAudit } from "./metrics";

export interface Broker {
  config: ConfigStore;
  pool: ChannelPool;
  /** The state seam (state/store.ts): the audit chain and the action requests. */
  audit: AuditStore;
  actions: ActionStateStore;
  rollouts: RolloutRecordStore;
  /** The whole store (its kind, and close() for a broker stopping). */
  state: StateStore;
  /** Notices of changed action requests and roll-outs (resources/updated for subscribed clients). */
  changes: StateWatch;
  /** Tells a human that a proposal waits (broker.yaml notify.webhook). */
  notifier: Notifier;
  logger: Logger;
  /** This process's Prometheus registry (metrics.ts), served at GET /metrics by `serve --http`. */
  metrics: BrokerMetrics;
  stateDir: string;
  version: string;
  /** The catalog hash this broker was built with; agents report theirs (ping_hosts compares). */
  catalogHash: string;
}

export { AUDIT_FILE } from "./state/files";

export function stateDirOf(config: BrokerConfig): string {
  return config.settings.stateDir ?? defaultStateDir();
}

/** Loads DIR (throws ConfigError with every problem), opens the audit log and the logger. */
export function createBroker(configDir: string, options: { logger?: Logger } = {}): Broker {
  const initial = loadBrokerConfig(configDir);
  const logger = options.logger ?? createLogger({ file: initial.settings.logFile });
  const stateDir = stateDirOf(initial);
  // The anchor key and the signed head live in the configuration directory, apart from the log.
  const metrics = new BrokerMetrics();
  const opened = openState(initial.settings, stateDir, configDir, { warn: (m) => logger.warn(m) });
  const { actions, changes, rollouts } = opened;
  const audit = countedAudit(opened.audit, metrics);
  const pool = new ChannelPool(configFiles(configDir), { maxReceiveBytes: MAX_REPLY_BYTES + 64 * 1024 });
  // The client certificate is short-lived: say so at start while there is time to renew it.
  const certWarning = expiryWarning(pool.clientCertificate("reader"));
  if (certWarning) logger.warn(certWarning);
  const config = new ConfigStore(initial);
  config.onChange((next, changes) => {
    // Client certificates are short-lived: a reload also re-reads DIR/tls, so every channel is
    // re-created on next use with the current files.
    pool.resetCredentials();
    logger.info({ changes, hosts: next.hosts.length, rules: next.policy.rules.length }, "configuration reloaded");
  });
  const notifier = new Notifier(() => config.current, audit, (m) => logger.warn(m));
  // Read only (the records as stored): a scrape never expires a roll-out nor writes an audit record.
  metrics.attach({ actions, pool, rollouts });
  return { config, pool, audit, actions, rollouts, state: opened, changes, notifier, logger, metrics, stateDir, version: VERSION, catalogHash: BUILT_CATALOG_HASH ?? catalogHash(diagnostics) };
}
