// The three TLS files an enrolled host needs: the private CA's certificate, the agent's
// certificate and its key. Each is parsed and cross-checked the way the agent and the broker will
// use it, so a problem shows up here rather than as a unit that fails to start or a broker that
// cannot connect.
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import type { TlsFiles } from "../tls";
import { checkOwnership, statOrReport } from "./file-checks";
import type { Findings } from "./findings";

const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const DAY_MS = 86_400_000;
/** A certificate that expires sooner than this gets a warning. */
export const EXPIRY_WARNING_DAYS = 30;

export interface TlsCheckOptions {
  now: Date;
  rootUid: number;
}

function readChecked(findings: Findings, path: string, what: string, kind: "certificate" | "key", opts: TlsCheckOptions): Buffer | null {
  const stats = statOrReport(findings, path, what);
  if (stats === null) return null;
  checkOwnership(findings, path, stats, kind, opts.rootUid);
  if (!stats.isFile()) return null;
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    findings.error(path, `${what} cannot be read${code === "EACCES" ? " by this user (run the check as root)" : ` (${code ?? (err as Error).message})`}`);
    return null;
  }
}

function parseCertificate(findings: Findings, path: string, what: string, pem: Buffer): X509Certificate | null {
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    findings.error(path, `${what} does not contain a PEM certificate ("-----BEGIN CERTIFICATE-----")`);
    return null;
  }
  try {
    return new X509Certificate(pem);
  } catch (err) {
    findings.error(path, `${what} is not a valid certificate: ${(err as Error).message}`);
    return null;
  }
}

/** Validity window: not yet valid or expired are errors; expiring soon is a warning. */
function checkValidity(findings: Findings, path: string, what: string, cert: X509Certificate, now: Date): boolean {
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  if (notAfter.getTime() <= now.getTime()) {
    findings.error(path, `${what} expired on ${notAfter.toISOString()}: issue a new one`);
    return false;
  }
  if (notBefore.getTime() > now.getTime()) {
    findings.error(path, `${what} is not valid before ${notBefore.toISOString()} (is this host's clock right?)`);
    return false;
  }
  const daysLeft = Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
  if (daysLeft < EXPIRY_WARNING_DAYS) findings.warn(path, `${what} expires in ${daysLeft} day${daysLeft === 1 ? "" : "s"} (${notAfter.toISOString()}): renew it soon`);
  return true;
}

function checkKey(findings: Findings, path: string, opts: TlsCheckOptions): KeyObject | null {
  const pem = readChecked(findings, path, "agent key", "key", opts);
  if (pem === null) return null;
  try {
    const key = createPrivateKey(pem);
    findings.ok(path, `agent key: a ${key.asymmetricKeyType ?? "private"} key`);
    return key;
  } catch (err) {
    findings.error(path, `agent key is not a PEM private key: ${(err as Error).message}`);
    return null;
  }
}

function checkCa(findings: Findings, path: string, opts: TlsCheckOptions): X509Certificate | null {
  const pem = readChecked(findings, path, "CA certificate", "certificate", opts);
  if (pem === null) return null;
  const ca = parseCertificate(findings, path, "CA certificate", pem);
  if (ca === null) return null;
  if (!ca.ca) {
    findings.error(path, "CA certificate is not a CA certificate (basicConstraints CA:FALSE): copy the ca.crt of `hostward pki init`, not an agent or client certificate");
    return null;
  }
  if (!checkValidity(findings, path, "CA certificate", ca, opts.now)) return null;
  findings.ok(path, `CA certificate: ${ca.subject.replace(/\n/g, ", ")}, valid until ${new Date(ca.validTo).toISOString()}`);
  return ca;
}

/** The SAN entries a TLS client can match the host against (DNS names and IP addresses). */
export function hostNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? "")
    .split(", ")
    .filter((s) => s.startsWith("DNS:") || s.startsWith("IP Address:"))
    .map((s) => s.replace(/^IP Address:/, "IP:"));
}

function checkAgentCert(findings: Findings, path: string, key: KeyObject | null, ca: X509Certificate | null, files: TlsFiles, opts: TlsCheckOptions): void {
  const pem = readChecked(findings, path, "agent certificate", "certificate", opts);
  if (pem === null) return;
  const cert = parseCertificate(findings, path, "agent certificate", pem);
  if (cert === null) return;
  let good = checkValidity(findings, path, "agent certificate", cert, opts.now);
  if (cert.ca) {
    findings.error(path, "agent certificate is a CA certificate: copy the agent certificate from `hostward pki issue-agent`");
    good = false;
  }
  const ekus = cert.keyUsage;
  if (!Array.isArray(ekus) || !ekus.includes(SERVER_AUTH)) {
    findings.error(path, `agent certificate does not allow server authentication (extended key usage serverAuth missing${Array.isArray(ekus) ? `; it has ${ekus.join(", ") || "none"}` : ""}): issue it with \`hostward pki issue-agent\``);
    good = false;
  }
  const names = hostNames(cert);
  if (names.length === 0) {
    findings.error(path, "agent certificate has no DNS or IP subject alternative name, so no broker can verify it: issue it with --dns NAME and/or --ip ADDRESS");
    good = false;
  }
  if (key !== null && !cert.checkPrivateKey(key)) {
    findings.error(path, `agent certificate does not match the key ${files.key}: copy the key issued with this certificate`);
    good = false;
  }
  if (ca !== null && (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))) {
    findings.error(path, `agent certificate was not issued by the CA in ${files.ca}: copy the ca.crt of the CA that issued it, or issue a new certificate`);
    good = false;
  }
  if (good && key !== null && ca !== null) {
    findings.ok(path, `agent certificate: ${names.join(", ")}, serverAuth, issued by the CA, matches the key, valid until ${new Date(cert.validTo).toISOString()}`);
  }
}

/** Checks the three files, their permissions and how they fit together. */
export function checkTls(findings: Findings, files: TlsFiles, opts: TlsCheckOptions): void {
  const key = checkKey(findings, files.key, opts);
  const ca = checkCa(findings, files.ca, opts);
  checkAgentCert(findings, files.cert, key, ca, files, opts);
}
