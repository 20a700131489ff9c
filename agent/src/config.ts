// /etc/hostward/agent.yaml (or --config FILE): validated at start with precise errors.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { describeIssues } from "../../shared/zod-issues";
import { TracingConfigSchema } from "../../shared/tracing-config";

const absPath = z.string().startsWith("/", { message: "must be an absolute path" });

/** The one way the operator reaches root in a package: sudo, no arguments, fixed paths. */
export const SUDO_HELPER = { sudo: "/usr/bin/sudo", helper: "/usr/libexec/hostward/hostward-action" } as const;

/**
 * How the operator agent runs the root helper. "sudo" (the default, every package) has no
 * settings: the sudoers line names the helper and allows no arguments. "direct" is for local
 * development fleets only: the helper bundle runs as the agent's own user, with its approvers,
 * state and allowlist in the directories named here (the agent logs a warning at start).
 */
const HelperConfigSchema = z.discriminatedUnion("mode", [
  z.strictObject({ mode: z.literal("sudo") }),
  z.strictObject({
    mode: z.literal("direct"),
    /** The helper bundle (dist/agent/hostward-action.cjs). */
    path: absPath,
    /** The node binary that runs it; default: the one running the agent. */
    node: absPath.optional(),
    approversDir: absPath,
    stateDir: absPath,
    actionsFile: absPath,
    /**
     * The host's operator certificate: approvals must name its first DNS name and its key (in sudo
     * mode the helper reads /etc/hostward/tls/operator.crt).
     */
    agentCert: absPath,
  }),
]);
export type HelperConfig = z.output<typeof HelperConfigSchema>;

export const AgentConfigSchema = z.strictObject({
  /** The role is fixed by the entry point (hostward-reader / hostward-operator); when set here it
   *  must match it, so a config written for one unit cannot silently configure the other. */
  role: z.enum(["reader", "operator"]).optional(),
  listen: z
    .strictObject({
      host: z.string().min(1).default("0.0.0.0"),
      /** 0 picks a free port (local fleets); the bound port is written to --ready-file. */
      port: z.number().int().min(0).max(65535).optional(),
    })
    .default({ host: "0.0.0.0" }),
  tls: z
    .strictObject({
      /** Defaults resolve inside $CREDENTIALS_DIRECTORY (systemd LoadCredential=) when set. */
      ca: absPath.optional(),
      cert: absPath.optional(),
      key: absPath.optional(),
      /**
       * Client certificates this host refuses (serials or SHA-256 fingerprints, from `hostward pki
       * revoke`), re-read without a restart; root's, not writable by others. A missing file revokes nothing.
       */
      revocationList: absPath.default("/etc/hostward/revoked.list"),
    })
    .default({ revocationList: "/etc/hostward/revoked.list" }),
  logs: z
    .strictObject({
      /** Roots that read_log_file and search_logs may read below (regular files only). */
      roots: z.array(absPath).max(32).default(["/var/log"]),
      /** Bytes search_logs may scan in one call. */
      maxScanBytes: z.number().int().min(1024).max(16 * 1024 ** 3).default(1024 ** 3),
    })
    .default({ roots: ["/var/log"], maxScanBytes: 1024 ** 3 }),
  network: z
    .strictObject({
      /** Allow probes of link-local and cloud-metadata addresses (169.254.0.0/16, fe80::/10). */
      allowLinkLocal: z.boolean().default(false),
      /** Allow probes of loopback addresses (127.0.0.0/8, ::1). */
      allowLoopback: z.boolean().default(true),
      /** test_connectivity ports and check_http requests to one address, per sliding minute (a port scan). */
      probesPerTargetPerMinute: z.number().int().min(1).max(10_000).default(30),
      /** Different addresses probed per sliding minute (a sweep of the network). */
      probeTargetsPerMinute: z.number().int().min(1).max(10_000).default(10),
    })
    .default({ allowLinkLocal: false, allowLoopback: true, probesPerTargetPerMinute: 30, probeTargetsPerMinute: 10 }),
  processes: z
    .strictObject({
      /**
       * Command lines of login users' processes (uid UID_MIN..UID_MAX of /etc/login.defs, default
       * 1000..60000): false (the default) returns only their program name; true returns them
       * redacted like every other command line.
       */
      showLoginUserCommandLines: z.boolean().default(false),
      /**
       * More secret patterns (RE2 syntax) applied to every argument after the built-in rules
       * (agent/src/redact.ts). Compiled when the reader starts (main-reader.ts), so a bad one stops
       * it naming the field; not here, so the operator bundle carries no regex engine.
       */
      redactPatterns: z.array(z.string().min(1).max(512)).max(64).default([]),
    })
    .default({ showLoginUserCommandLines: false, redactPatterns: [] }),
  limits: z
    .strictObject({
      /** Concurrent RPCs served; beyond it callers get RESOURCE_EXHAUSTED. */
      maxConcurrentCalls: z.number().int().min(1).max(1024).default(16),
      /** Of those, the most one client certificate may hold, so another client cannot starve the broker. */
      maxConcurrentCallsPerClient: z.number().int().min(1).max(1024).default(8),
      /**
       * The longest a call may last on this agent, whatever deadline the caller set (or none):
       * past it the call ends with DEADLINE_EXCEEDED and its work is cancelled. The operator's
       * actions (up to 120 s + the helper's slack) need more than the reader's diagnostics.
       */
      maxCallSeconds: z.number().int().min(1).max(3600).default(300),
      /** HTTP/2 streams (calls) one connection may have open at once; more are refused by the transport. */
      maxStreamsPerConnection: z.number().int().min(1).max(1000).default(32),
      /** Largest reply, bytes of JSON. */
      maxReplyBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(4 * 1024 * 1024),
    })
    .default({ maxConcurrentCalls: 16, maxConcurrentCallsPerClient: 8, maxCallSeconds: 300, maxStreamsPerConnection: 32, maxReplyBytes: 4 * 1024 * 1024 }),
  /** Operator only: how actions reach the root helper. */
  helper: HelperConfigSchema.default({ mode: "sudo" }),
  /** OpenTelemetry traces over OTLP/HTTP: a server span per RPC, continuing the broker's trace. Absent: off. */
  tracing: TracingConfigSchema.optional(),
});

export type AgentConfig = z.output<typeof AgentConfigSchema>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

function parseAgentConfig(text: string, source: string): AgentConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError(`${source}: not valid YAML: ${(err as Error).message}`);
  }
  const parsed = AgentConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`${source}: invalid configuration:\n  ${describeIssues(parsed.error, { separator: "\n  " })}`);
  return parsed.data;
}

export function loadAgentConfig(file: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseAgentConfig(text, file);
}

/** The configuration used when no file exists at the default path and no --config was given. */
export function defaultAgentConfig(): AgentConfig {
  return AgentConfigSchema.parse({});
}
