// Where the helper's own configuration comes from, and whether it may be trusted. In sudo mode
// every path is fixed and every file must be root's alone (the operator agent's user cannot
// change it); in direct mode (local fleets) the paths come from HOSTWARD_* and the files may
// belong to the helper's own user. Nothing here comes from the request on stdin.
import { X509Certificate } from "node:crypto";
import { fstatSync, closeSync, openSync, readdirSync, readFileSync, constants, lstatSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { absolutePath, canonicalUnit, containerName, unitName } from "../../../proto/catalog/grammar";
import { packageName } from "../../../proto/catalog/actions/packages";
import { DEFAULT_REQUIRED_APPROVALS, MAX_COSIGNATURES, parseApproverLine, type ApproverKey, type RequiredApprovals } from "../../../proto/catalog/approval";
import { certificateNames, publicKeyFingerprint } from "../../../shared/cert-names";
import { describeIssues } from "../../../shared/zod-issues";
import { HelperRefusal } from "./exit-codes";
import { DIRECT_ENV, type HelperMode, type Invocation } from "./guard";
import { untrustedAncestor } from "./trust";

const SUDO_PATHS = {
  approversDir: "/etc/hostward/approvers",
  stateDir: "/var/lib/hostward/helper",
  actionsFile: "/etc/hostward/actions.yaml",
  /** The operator role's certificate (root-only; the unit receives a copy via LoadCredential=). */
  agentCert: "/etc/hostward/tls/operator.crt",
} as const;

export interface HelperSettings {
  mode: HelperMode;
  approversDir: string;
  stateDir: string;
  actionsFile: string;
  /** The host's operator certificate: approvals must name its first DNS name and its key. */
  agentCert: string;
  /** Owners a trusted file may have: root, plus the helper's own user in direct mode. */
  owners: readonly number[];
}

export function resolveSettings(mode: HelperMode, env: Invocation["env"], euid: number): HelperSettings {
  if (mode === "sudo") return { mode, ...SUDO_PATHS, owners: [0] };
  return {
    mode,
    approversDir: env[DIRECT_ENV.approversDir] ?? "",
    stateDir: env[DIRECT_ENV.stateDir] ?? "",
    actionsFile: env[DIRECT_ENV.actionsFile] ?? "",
    agentCert: env[DIRECT_ENV.agentCert] ?? "",
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

/**
 * Reads a regular file that must be trusted (owner, mode, and every directory above it: trust.ts),
 * without following a symlink.
 */
function readTrustedFile(path: string, owners: readonly number[], what: string): string {
  const above = untrustedAncestor(path, owners);
  if (above) throw new HelperRefusal("CONFIG", `${what} ${path} cannot be trusted: ${above}`);
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
  const above = untrustedAncestor(dir, settings.owners);
  if (above) throw new HelperRefusal("CONFIG", `no approver keys: ${dir} cannot be trusted: ${above}`);
  const keys: ApproverKey[] = [];
  /** Where each key was found: the same key twice is a configuration error, not "first file wins". */
  const seen = new Map<string, string>();
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
      let key: ApproverKey;
      try {
        key = parseApproverLine(line);
      } catch (err) {
        warnings.push(`ignored ${path}:${i + 1}: ${(err as Error).message}`);
        return;
      }
      const first = seen.get(key.keyId);
      if (first !== undefined) {
        throw new HelperRefusal(
          "CONFIG",
          `approver key ${key.keyId} is listed twice, in ${first} and ${path}:${i + 1}: one key has one max-impact; remove one of the lines`,
        );
      }
      seen.set(key.keyId, `${path}:${i + 1}`);
      keys.push(key);
    });
  }
  if (keys.length === 0) {
    throw new HelperRefusal("CONFIG", `no valid approver key in ${dir}${warnings.length ? ` (${warnings.join("; ")})` : ""}`);
  }
  return { keys, warnings };
}

/** How this host judges an approval's times (actions.yaml `approvals:`), with the defaults. */
const APPROVAL_DEFAULTS = { maxLifetimeSeconds: 3600, maxClockSkewSeconds: 120, required: DEFAULT_REQUIRED_APPROVALS } as const;
const approversNeeded = z.number().int().min(1).max(MAX_COSIGNATURES + 1);

/** A container entry: a name, or a full 64-hex ID. A shorter hex string would match by prefix. */
const containerEntry = containerName.refine((s) => !/^[0-9a-f]{12,63}$/.test(s), {
  message: "container entries are names or full 64-character IDs, not ID prefixes (podman ps --no-trunc shows the full ID)",
});

const AllowlistSchema = z.strictObject({
  units: z.array(unitName).max(1024).default([]),
  containers: z.array(containerEntry).max(1024).default([]),
  reboot: z.boolean().default(false),
  /** Roots under which truncate_log may empty a regular file (each an absolute directory). */
  logFiles: z.array(absolutePath).max(64).default([]),
  /** Package names upgrade_packages may upgrade. */
  packages: z.array(packageName).max(1024).default([]),
  /** Allow vacuum_journal. */
  journal: z.boolean().default(false),
  /** Allow clean_package_cache. */
  packageCache: z.boolean().default(false),
  approvals: z
    .strictObject({
      /** The longest an approval may be valid (notAfter − issuedAt, and notAfter − now). */
      maxLifetimeSeconds: z.number().int().min(60).max(86_400).default(APPROVAL_DEFAULTS.maxLifetimeSeconds),
      /** The clock error allowed between this host and the approvers; expiry is judged with it. */
      maxClockSkewSeconds: z.number().int().min(0).max(3600).default(APPROVAL_DEFAULTS.maxClockSkewSeconds),
      /** Distinct approver keys an approval needs, by impact (two people for HIGH unless this says otherwise). */
      required: z
        .strictObject({
          LOW: approversNeeded.default(DEFAULT_REQUIRED_APPROVALS.LOW),
          MEDIUM: approversNeeded.default(DEFAULT_REQUIRED_APPROVALS.MEDIUM),
          HIGH: approversNeeded.default(DEFAULT_REQUIRED_APPROVALS.HIGH),
        })
        .default(DEFAULT_REQUIRED_APPROVALS),
    })
    .refine((a) => a.maxClockSkewSeconds < a.maxLifetimeSeconds, {
      message: "maxClockSkewSeconds must be less than maxLifetimeSeconds (expiry is judged with the skew: no approval could be valid)",
    })
    .default(APPROVAL_DEFAULTS),
});

export interface Allowlist {
  /** Canonical unit names (a name without a suffix gets ".service"). */
  units: ReadonlySet<string>;
  /** Container names and full IDs; a container matches by its exact name or its exact full ID. */
  containers: readonly string[];
  reboot: boolean;
  logFiles: readonly string[];
  packages: ReadonlySet<string>;
  journal: boolean;
  packageCache: boolean;
  approvals: { maxLifetimeSeconds: number; maxClockSkewSeconds: number; required: RequiredApprovals };
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
    throw new HelperRefusal("CONFIG", `${settings.actionsFile} is invalid: ${describeIssues(parsed.error)}`);
  }
  const d = parsed.data;
  return {
    units: new Set(d.units.map(canonicalUnit)),
    containers: d.containers,
    reboot: d.reboot,
    logFiles: d.logFiles.map((r) => r.replace(/\/+$/, "") || "/"),
    packages: new Set(d.packages),
    journal: d.journal,
    packageCache: d.packageCache,
    approvals: d.approvals,
  };
}

export interface HostIdentity {
  /** The first DNS SAN of the operator certificate. */
  name: string;
  /** "sha256:<hex>" of its public key (shared/cert-names.ts publicKeyFingerprint). */
  key: string;
}

/** What approvals must name: the operator certificate's first DNS SAN and its key, read with the shared parser. */
export function hostIdentity(settings: HelperSettings): HostIdentity {
  const file = settings.agentCert;
  const pem = readTrustedFile(file, settings.owners, "operator certificate");
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    throw new HelperRefusal("CONFIG", `${file} is not a certificate: ${(err as Error).message}`);
  }
  const names = certificateNames(cert);
  if (names === null) throw new HelperRefusal("CONFIG", `${file}: its subject alternative names cannot be read`);
  const name = names.dns[0];
  if (name === undefined) throw new HelperRefusal("CONFIG", `${file} has no DNS subject alternative name`);
  return { name, key: publicKeyFingerprint(cert) };
}
