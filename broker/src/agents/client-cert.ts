// The broker's own client certificates (DIR/tls/reader.crt, operator.crt) are short-lived on
// purpose (24 h by default). Their validity is read with the credentials, so that a certificate
// that expired, or is not valid yet, is reported as exactly that ("renew with …") instead of as an
// unreachable host (the agent's TLS layer just drops the handshake), and so that the broker warns
// at start and in ping_hosts while there is still time to renew.
import { X509Certificate } from "node:crypto";

export type ClientRole = "reader" | "operator";

export interface ClientCertValidity {
  role: ClientRole;
  file: string;
  notBefore: Date;
  notAfter: Date;
}

/** A day: the broker warns when its certificate has less than this left — or less than a quarter
 *  of its lifetime, when that is shorter (a default 24 h certificate would otherwise be "expiring"
 *  from the moment it is issued: it warns in its last 6 hours). */
const EXPIRY_WARNING_MS = 24 * 3_600_000;

function warningWindowMs(v: ClientCertValidity): number {
  return Math.min(EXPIRY_WARNING_MS, (v.notAfter.getTime() - v.notBefore.getTime()) / 4);
}

export function readValidity(role: ClientRole, file: string, pem: Buffer | string): ClientCertValidity | undefined {
  try {
    const cert = new X509Certificate(pem);
    return { role, file, notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo), };
  } catch {
    return undefined; // createSsl reports an unusable file itself
  }
}

const renew = (role: ClientRole) => `renew it with: hostward pki issue-client --role ${role} (then the reload_config tool, or restart the broker)`;

/** Why the certificate cannot be used now, or undefined. */
export function validityProblem(v: ClientCertValidity | undefined, now = new Date()): string | undefined {
  if (!v) return undefined;
  if (now.getTime() > v.notAfter.getTime()) return `the broker's ${v.role} client certificate ${v.file} expired at ${v.notAfter.toISOString()}; ${renew(v.role)}`;
  if (now.getTime() < v.notBefore.getTime()) return `the broker's ${v.role} client certificate ${v.file} is not valid before ${v.notBefore.toISOString()} (is this machine's clock right?)`;
  return undefined;
}

/** A warning when less than warningWindowMs is left (or it is already unusable), else undefined. */
export function expiryWarning(v: ClientCertValidity | undefined, now = new Date()): string | undefined {
  if (!v) return undefined;
  const problem = validityProblem(v, now);
  if (problem) return problem;
  const left = v.notAfter.getTime() - now.getTime();
  if (left < warningWindowMs(v)) return `the broker's ${v.role} client certificate ${v.file} expires at ${v.notAfter.toISOString()} (in ${Math.max(1, Math.round(left / 60_000))} min); ${renew(v.role)}`;
  return undefined;
}
