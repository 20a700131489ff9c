// Where the helper's own configuration comes from, and whether it may be trusted. In sudo mode
// every path is fixed and every file must be root's alone (the operator agent's user cannot
// change it); in direct mode (local fleets) the paths come from HOSTWARD_* and the files may
// belong to the helper's own user. Nothing here comes from the request on stdin.
import { X509Certificate } from "node:crypto";
import { fstatSync, closeSync, openSync, readdirSync, readFileSync, constants, lstatSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { canonicalUnit, containerName, unitName } from "../../../proto/catalog/grammar";
import { parseApproverLine, type ApproverKey } from "../../../proto/catalog/approval";
import { HelperRefusal } from "./exit-codes";
import { DIRECT_ENV, type HelperMode, type Invocation } from "./guard";

export const SUDO_PATHS = {
  approversDir: "/etc/hostward/approvers",
  stateDir: "/var/lib/hostward/helper",
  actionsFile: "/etc/hostward/actions.yaml",
  agentCert: "/etc/hostward/tls/agent.crt",
} as const;

export interface HelperSettings {
  mode: HelperMode;
  approversDir: string;
  stateDir: string;
  actionsFile: string;
  /** Fixed host name (direct mode); in sudo mode read from the agent certificate. */
  hostName: string | null;
  /** Owners a trusted file may have: root, plus the helper's own user in direct mode. */
  owners: readonly number[];
}

export function resolveSettings(mode: HelperMode, env: Invocation["env"], euid: number): HelperSettings {
  if (mode === "sudo") return { mode, ...SUDO_PATHS, hostName: null, owners: [0] };
  return {
    mode,
    approversDir: env[DIRECT_ENV.approversDir] ?? "",
    stateDir: env[DIRECT_ENV.stateDir] ?? "",
    actionsFile: env[DIRECT_ENV.actionsFile] ?? "",
    hostName: env[DIRECT_ENV.hostName] ?? "",
    owners: euid === 0 ? [0] : [0, euid],
  };
}

const MAX_CONFIG_BYTES = 64 * 1024;

/** Why a file may not be trusted, or null. Checked on the opened descriptor (no swap after the check). */
function untrusted(st: { uid: number; mode: number }, owners: readonly number[]): string | null {
  if (!owners.includes(st.uid)) return `owned by uid ${st.uid}, expected ${owners.join(" or ")}`;
  if ((st.mode & 0o022) !== 0) return `writable by group or others (mode ${(st.mode & 0o777).toString(8)})`;
  return null;
}

/** Reads a regular file that must be trusted (owner, mode), without following a symlink. */
export function readTrustedFile(path: string, owners: readonly number[], what: string): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    throw new HelperRefusal("CONFIG", `cannot open ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new HelperRefusal("CONFIG", `${what} ${path} is not a regular file`);
    const why = untrusted(st, owners);
    if (why) throw new HelperRefusal("CONFIG", `${what} ${path} is ${why}`);
    if (st.size > MAX_CONFIG_BYTES) throw new HelperRefusal("CONFIG", `${what} ${path} is larger than ${MAX_CONFIG_BYTES} bytes`);
    return readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
}

export interface LoadedApprovers {
  keys: ApproverKey[];
  /** Files or lines ignored, with the reason (the audit line carries them as warnings). */
  warnings: string[];
}

const MAX_APPROVER_FILES = 256;

/** Every valid key in `<dir>/*.pub`; unsafe files are ignored with a warning. */
export function loadApprovers(settings: HelperSettings): LoadedApprovers {
  const dir = settings.approversDir;
  let st;
  try {
    st = lstatSync(dir);
  } catch (err) {
    throw new HelperRefusal("CONFIG", `no approver keys: cannot read ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const dirProblem = st.isDirectory() ? untrusted(st, settings.owners) : "not a directory";
  if (dirProblem) throw new HelperRefusal("CONFIG", `no approver keys: ${dir} is ${dirProblem}`);
  const keys: ApproverKey[] = [];
  const warnings: string[] = [];
  const names = readdirSync(dir).filter((n) => n.endsWith(".pub")).sort().slice(0, MAX_APPROVER_FILES);
  for (const name of names) {
    const path = join(dir, name);
    let text: string;
    try {
      text = readTrustedFile(path, settings.owners, "approver key file");
    } catch (err) {
      warnings.push(`ignored ${(err as Error).message}`);
      continue;
    }
    text.split("\n").forEach((raw, i) => {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) return;
      try {
        keys.push(parseApproverLine(line));
      } catch (err) {
        warnings.push(`ignored ${path}:${i + 1}: ${(err as Error).message}`);
      }
    });
  }
  if (keys.length === 0) {
    throw new HelperRefusal("CONFIG", `no valid approver key in ${dir}${warnings.length ? ` (${warnings.join("; ")})` : ""}`);
  }
  return { keys, warnings };
}

const AllowlistSchema = z.strictObject({
  units: z.array(unitName).max(1024).default([]),
  containers: z.array(containerName).max(1024).default([]),
  reboot: z.boolean().default(false),
});

export interface Allowlist {
  /** Canonical unit names (a name without a suffix gets ".service"). */
  units: ReadonlySet<string>;
  containers: readonly string[];
  reboot: boolean;
}

export function loadAllowlist(settings: HelperSettings): Allowlist {
  const text = readTrustedFile(settings.actionsFile, settings.owners, "allowlist");
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (err) {
    throw new HelperRefusal("CONFIG", `${settings.actionsFile} is not valid YAML: ${(err as Error).message}`);
  }
  const parsed = AllowlistSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(top level)"}: ${i.message}`).join("; ");
    throw new HelperRefusal("CONFIG", `${settings.actionsFile} is invalid: ${issues}`);
  }
  return { units: new Set(parsed.data.units.map(canonicalUnit)), containers: parsed.data.containers, reboot: parsed.data.reboot };
}

/** The name approvals must carry: the first DNS SAN of the agent certificate (sudo mode). */
export function hostIdentity(settings: HelperSettings): string {
  if (settings.hostName !== null) return settings.hostName;
  const pem = readTrustedFile(SUDO_PATHS.agentCert, settings.owners, "agent certificate");
  let san: string | undefined;
  try {
    san = new X509Certificate(pem).subjectAltName;
  } catch (err) {
    throw new HelperRefusal("CONFIG", `${SUDO_PATHS.agentCert} is not a certificate: ${(err as Error).message}`);
  }
  const dns = (san ?? "")
    .split(",")
    .map((s) => s.trim())
    .find((s) => s.startsWith("DNS:"));
  if (!dns) throw new HelperRefusal("CONFIG", `${SUDO_PATHS.agentCert} has no DNS subject alternative name`);
  return dns.slice(4);
}
