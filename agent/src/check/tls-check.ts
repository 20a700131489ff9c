// The TLS files an enrolled host needs: the private CA's certificate, and for each role its own
// certificate and key. Each is parsed and cross-checked the way the agent and the broker will use
// it (the role SAN URI included), so a problem shows up here rather than as a unit that fails to
// start or a broker that cannot connect.
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { certificateNames, roleOf, type RoleName } from "../../../shared/cert-names";
import { checkOwnership, statOrReport } from "./file-checks";
import type { Findings } from "./findings";

interface RoleFiles {
  cert: string;
  key: string;
}

/** The CA certificate and each role's certificate and key. */
export interface HostTlsFiles {
  ca: string;
  roles: Partial<Record<RoleName, RoleFiles>>;
}

const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const DAY_MS = 86_400_000;
/** A certificate that expires sooner than this gets a warning. */
const EXPIRY_WARNING_DAYS = 30;

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

function checkKey(findings: Findings, path: string, role: RoleName, opts: TlsCheckOptions): KeyObject | null {
  const pem = readChecked(findings, path, `${role} key`, "key", opts);
  if (pem === null) return null;
  try {
    const key = createPrivateKey(pem);
    findings.ok(path, `${role} key: a ${key.asymmetricKeyType ?? "private"} key`);
    return key;
  } catch (err) {
    findings.error(path, `${role} key is not a PEM private key: ${(err as Error).message}`);
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

/** The SAN entries a TLS client can match the host against (DNS names and IP addresses), by the shared parser. */
function hostNames(cert: X509Certificate): string[] {
  const names = certificateNames(cert);
  return names ? [...names.dns.map((d) => `DNS:${d}`), ...names.ips.map((ip) => `IP:${ip}`)] : [];
}

function checkAgentCert(findings: Findings, role: RoleName, files: RoleFiles, key: KeyObject | null, ca: X509Certificate | null, caPath: string, opts: TlsCheckOptions): void {
  const path = files.cert;
  const what = `${role} certificate`;
  const pem = readChecked(findings, path, what, "certificate", opts);
  if (pem === null) return;
  const cert = parseCertificate(findings, path, what, pem);
  if (cert === null) return;
  let good = checkValidity(findings, path, what, cert, opts.now);
  if (cert.ca) {
    findings.error(path, `${what} is a CA certificate: copy the ${role}.crt from \`hostward pki issue-agent\``);
    good = false;
  }
  const names = certificateNames(cert);
  const proved = names ? roleOf(names) : { ok: false as const, refusal: "has subject alternative names that cannot be read" };
  if (!proved.ok) {
    findings.error(path, `${what} ${proved.refusal}: issue the host's certificates again with \`hostward pki issue-agent\` (one per role)`);
    good = false;
  } else if (proved.role !== role) {
    findings.error(path, `${what} is the ${proved.role}'s certificate (urn:hostward:role:${proved.role}): copy ${role}.crt and ${role}.key from \`hostward pki issue-agent\``);
    good = false;
  }
  const ekus = cert.keyUsage;
  if (!Array.isArray(ekus) || !ekus.includes(SERVER_AUTH)) {
    findings.error(path, `${what} does not allow server authentication (extended key usage serverAuth missing${Array.isArray(ekus) ? `; it has ${ekus.join(", ") || "none"}` : ""}): issue it with \`hostward pki issue-agent\``);
    good = false;
  }
  if (hostNames(cert).length === 0) {
    findings.error(path, `${what} has no DNS or IP subject alternative name, so no broker can verify it: issue it with --dns NAME and/or --ip ADDRESS`);
    good = false;
  }
  if (key !== null && !cert.checkPrivateKey(key)) {
    findings.error(path, `${what} does not match the key ${files.key}: copy the key issued with this certificate`);
    good = false;
  }
  if (ca !== null && (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))) {
    findings.error(path, `${what} was not issued by the CA in ${caPath}: copy the ca.crt of the CA that issued it, or issue a new certificate`);
    good = false;
  }
  if (good && key !== null && ca !== null) {
    findings.ok(path, `${what}: ${hostNames(cert).join(", ")}, role ${role}, serverAuth, issued by the CA, matches the key, valid until ${new Date(cert.validTo).toISOString()}`);
  }
}

/** Checks the files, their permissions and how they fit together; each role's key must be its own. */
export function checkTls(findings: Findings, files: HostTlsFiles, opts: TlsCheckOptions): void {
  const ca = checkCa(findings, files.ca, opts);
  const keys = new Map<RoleName, KeyObject>();
  for (const [role, roleFiles] of Object.entries(files.roles) as Array<[RoleName, RoleFiles]>) {
    const key = checkKey(findings, roleFiles.key, role, opts);
    if (key) keys.set(role, key);
    checkAgentCert(findings, role, roleFiles, key, ca, files.ca, opts);
  }
  const reader = keys.get("reader");
  const operator = keys.get("operator");
  if (reader && operator && createPublicKey(reader).export({ type: "spki", format: "der" }).equals(createPublicKey(operator).export({ type: "spki", format: "der" }))) {
    findings.error(
      files.roles.operator?.key ?? "operator key",
      `the reader and the operator hold the same key (${files.roles.reader?.key} and ${files.roles.operator?.key}): each role needs its own, so a compromised reader cannot act as the operator; issue both with \`hostward pki issue-agent\``,
    );
  }
}
