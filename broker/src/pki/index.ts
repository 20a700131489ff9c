// hostward's private PKI (contract 2): a CA, serverAuth-only agent certificates (one key and
// certificate per role, the role a SAN URI too, so the reader's key cannot serve as the operator
// endpoint) and short-lived clientAuth-only client certificates whose role is one SAN URI
// (urn:hostward:role:<role>).
// ECDSA P-256, PEM, PKCS#8 keys; pure JS, so it runs on Linux, macOS and Windows alike.
import { chmodSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { dirname } from "node:path";
import { describeCertificate, EKU, issueCertificate, type PemPair } from "./certificate";

export type { PemPair };
export { describeCertificate };

export type Role = "reader" | "operator";
export const ROLES: readonly Role[] = ["reader", "operator"];

/** The SAN URI that carries a client's role; the agent accepts exactly one. */
export function roleUri(role: Role): string {
  return `urn:hostward:role:${role}`;
}

export class PkiError extends Error {
  override name = "PkiError";
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** Certificates start a little in the past so a host whose clock lags still accepts them. */
const BACKDATE_MS = 5 * 60_000;

export const LIMITS = {
  caDays: { default: 3650, max: 36500 },
  agentDays: { default: 365, max: 3650 },
  /** Client certificates are short-lived on purpose: re-issue rather than revoke. */
  clientHours: { default: 24, max: 720 },
} as const;

function checkCount(field: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new PkiError(`${field} must be a whole number from 1 to ${max} (got ${value})`);
  }
  return value;
}

const DNS_NAME = /^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const COMMON_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$/;

function checkDns(field: string, name: string): string {
  if (!DNS_NAME.test(name)) throw new PkiError(`${field} ${JSON.stringify(name)} is not a DNS name (letters, digits, "-" and ".")`);
  return name;
}

function validity(now: number, ms: number): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(now - BACKDATE_MS), notAfter: new Date(now + ms) };
}

/** A new self-signed CA (keyCertSign, path length 0). */
export async function createCa(opts: { commonName?: string; validityDays?: number } = {}): Promise<PemPair> {
  const commonName = opts.commonName ?? "hostward CA";
  if (!COMMON_NAME.test(commonName)) throw new PkiError(`commonName ${JSON.stringify(commonName)} must be 1-64 letters, digits, space . _ @ -`);
  const days = checkCount("validityDays", opts.validityDays ?? LIMITS.caDays.default, LIMITS.caDays.max);
  return issueCertificate(null, { commonName, isCa: true, ...validity(Date.now(), days * DAY_MS) });
}

/**
 * One role's server certificate for an agent: serverAuth only; SAN DNS = host + dns, SAN IP = ips,
 * SAN URI urn:hostward:role:<role> (the broker checks it against the port it connected to, the
 * agent against the role it runs as). A fresh key each time.
 */
export async function issueAgentCert(
  ca: PemPair,
  opts: { host: string; role: Role; dns?: string[]; ips?: string[]; validityDays?: number },
): Promise<PemPair> {
  if (!ROLES.includes(opts.role)) throw new PkiError(`role must be one of ${ROLES.join(", ")} (got ${JSON.stringify(opts.role)})`);
  const host = checkDns("host", opts.host);
  const dns = (opts.dns ?? []).map((d) => checkDns("dns name", d));
  const ips = opts.ips ?? [];
  for (const ip of ips) {
    if (isIP(ip) === 0) throw new PkiError(`ip ${JSON.stringify(ip)} is not an IPv4 or IPv6 address`);
  }
  const days = checkCount("validityDays", opts.validityDays ?? LIMITS.agentDays.default, LIMITS.agentDays.max);
  return issueCertificate(ca, {
    commonName: host,
    dns: [...new Set([host, ...dns])],
    ips: [...new Set(ips)],
    uris: [roleUri(opts.role)],
    extendedKeyUsages: [EKU.serverAuth],
    ...validity(Date.now(), days * DAY_MS),
  });
}

/** Both roles' certificates for one host, each with its own key. */
export async function issueAgentCerts(
  ca: PemPair,
  opts: { host: string; dns?: string[]; ips?: string[]; validityDays?: number },
): Promise<Record<Role, PemPair>> {
  return { reader: await issueAgentCert(ca, { ...opts, role: "reader" }), operator: await issueAgentCert(ca, { ...opts, role: "operator" }) };
}

/** A client certificate: clientAuth only, exactly one SAN URI urn:hostward:role:<role>. */
export async function issueClientCert(
  ca: PemPair,
  opts: { role: Role; name?: string; validityHours?: number },
): Promise<PemPair> {
  if (!ROLES.includes(opts.role)) throw new PkiError(`role must be one of ${ROLES.join(", ")} (got ${JSON.stringify(opts.role)})`);
  const name = opts.name ?? `hostward-${opts.role}`;
  if (!COMMON_NAME.test(name)) throw new PkiError(`name ${JSON.stringify(name)} must be 1-64 letters, digits, space . _ @ -`);
  const hours = checkCount("validityHours", opts.validityHours ?? LIMITS.clientHours.default, LIMITS.clientHours.max);
  return issueCertificate(ca, {
    commonName: name,
    uris: [roleUri(opts.role)],
    extendedKeyUsages: [EKU.clientAuth],
    ...validity(Date.now(), hours * HOUR_MS),
  });
}

/**
 * Writes a PEM file atomically (temp file + rename). Private keys get mode 0600 (and their
 * directory 0700 when it is created); certificates 0644.
 */
export function writePem(path: string, pem: string, opts: { private: boolean }): void {
  const mode = opts.private ? 0o600 : 0o644;
  mkdirSync(dirname(path), { recursive: true, mode: opts.private ? 0o700 : 0o755 });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, pem, { mode, flag: "w" });
    // mode only applies when the file is created; chmod covers a leftover temp file.
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
