// `hostward-agent check`: is this host ready for the units to start? The configuration, the TLS
// directory, the three TLS files and their permissions, each reported with what is wrong.
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { ROLE_NAMES, type RoleName } from "../../../shared/cert-names";
import { loadAgentConfig, ConfigError, type AgentConfig } from "../config";
import { compilePatterns } from "../redact";
import { checkOwnership, statOrReport } from "./file-checks";
import { Findings } from "./findings";
import { checkTls, type HostTlsFiles } from "./tls-check";

export const DEFAULT_CONFIG_FILE = "/etc/hostward/agent.yaml";
/** Where the units' LoadCredential= lines read the TLS files. */
export const UNIT_TLS_DIR = "/etc/hostward/tls";

/**
 * The files the units' LoadCredential= lines read (DIR/ca.crt, DIR/<role>.crt, DIR/<role>.key),
 * unless the configuration names others. Not tls.ts's resolver: the check runs outside the units,
 * where $CREDENTIALS_DIRECTORY never applies, and importing tls.ts would pull grpc-js into this
 * small bundle.
 */
function tlsFiles(config: AgentConfig | null, roles: readonly RoleName[] = ROLE_NAMES, dir = UNIT_TLS_DIR): HostTlsFiles {
  const tls: Partial<AgentConfig["tls"]> = config?.tls ?? {};
  const files: HostTlsFiles = { ca: tls.ca ?? `${dir}/ca.crt`, roles: {} };
  for (const role of roles) files.roles[role] = { cert: tls.cert ?? `${dir}/${role}.crt`, key: tls.key ?? `${dir}/${role}.key` };
  return files;
}

export interface CheckOptions {
  /** The configuration file; DEFAULT_CONFIG_FILE when undefined. */
  configFile?: string;
  /** Only these roles' files (a unit's ExecStartPre= checks its own); default both. */
  roles?: readonly RoleName[];
  /** Where the TLS files are (default /etc/hostward/tls, where the units' LoadCredential= read them). */
  tlsDir?: string;
  now?: Date;
  /** The uid that must own every file (root; a parameter only so tests can say what they mean). */
  rootUid?: number;
}

function checkConfig(findings: Findings, file: string, explicit: boolean, rootUid: number): AgentConfig | null {
  if (!explicit && !existsSync(file)) {
    findings.warn(file, "does not exist: the agents use built-in defaults (reinstall the package to restore the default file)");
    return null;
  }
  const stats = statOrReport(findings, file, "configuration");
  if (stats === null) return null;
  checkOwnership(findings, file, stats, "config", rootUid);
  let config: AgentConfig;
  try {
    config = loadAgentConfig(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    findings.error(file, err.message.replace(`${file}: `, ""));
    return null;
  }
  try {
    compilePatterns(config.processes.redactPatterns);
  } catch (err) {
    findings.error(file, `invalid configuration: ${(err as Error).message}`);
    return null;
  }
  findings.ok(file, "valid configuration");
  // Both units read the same file: a setting that fits one role breaks the other.
  if (config.role !== undefined) {
    const other = config.role === "reader" ? "operator" : "reader";
    findings.warn(file, `role is "${config.role}": hostward-${other}.service reads this file too and will refuse to start; remove the line unless only one role runs here`);
  }
  if (config.listen.port !== undefined) {
    findings.warn(file, `listen.port is ${config.listen.port}: both units read this file and cannot bind the same port; remove it to use 7443 (reader) and 7444 (operator)`);
  }
  for (const [name, path] of Object.entries(config.tls)) {
    if (path !== undefined && name !== "revocationList") {
      findings.warn(file, `tls.${name} is set (${path}): the units then read that file as their own unprivileged user instead of receiving ${UNIT_TLS_DIR}/ through LoadCredential=`);
    }
  }
  return config;
}

/** Runs every check; never throws for a problem on the host, only reports it. */
export function runCheck(opts: CheckOptions = {}): Findings {
  const findings = new Findings();
  const rootUid = opts.rootUid ?? 0;
  const configFile = opts.configFile ?? DEFAULT_CONFIG_FILE;
  const config = checkConfig(findings, configFile, opts.configFile !== undefined, rootUid);
  const files = tlsFiles(config, opts.roles, opts.tlsDir);
  const tlsDir = dirname(files.ca);
  const dirStats = statOrReport(findings, tlsDir, "TLS directory");
  if (dirStats !== null && checkOwnership(findings, tlsDir, dirStats, "directory", rootUid) && (dirStats.mode & 0o007) !== 0) {
    findings.warn(tlsDir, `is open to others (mode ${(dirStats.mode & 0o7777).toString(8).padStart(4, "0")}): chmod 750 ${tlsDir}`);
  }
  checkTls(findings, files, { now: opts.now ?? new Date(), rootUid });
  return findings;
}
