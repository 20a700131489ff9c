// The agent's TLS material: where the files are, checks that fail fast with the file and the
// problem named, and the mutual-TLS server credentials (client certificates required and verified
// against our private CA only). Each role has its own key and certificate (the role is a SAN URI
// of the certificate); the key must be this process's user's (or root's) alone, whatever path it
// comes from: a key others can read or change is refused before the agent serves anything.
import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import { closeSync, constants, fstatSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { certificateNames, roleOf } from "../../shared/cert-names";
import type { AgentConfig } from "./config";
import type { Role } from "./logging";

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  /** When the agent's own certificate stops being valid (logged at startup). */
  certNotAfter: Date;
}

export class TlsError extends Error {
  override name = "TlsError";
}

/** Where an enrolled host keeps its TLS files: ca.crt, and <role>.crt / <role>.key per role. */
const TLS_DIR = "/etc/hostward/tls";

/**
 * systemd's LoadCredential= puts the role's files in $CREDENTIALS_DIRECTORY as ca.crt, agent.crt
 * and agent.key (readable by the unit's user only; the units map /etc/hostward/tls/<role>.* to
 * them); without it the agent reads /etc/hostward/tls/<role>.crt and <role>.key.
 */
function defaultTlsFiles(role: Role, env: NodeJS.ProcessEnv = process.env): TlsFiles {
  const creds = env.CREDENTIALS_DIRECTORY;
  if (creds) return { ca: join(creds, "ca.crt"), cert: join(creds, "agent.crt"), key: join(creds, "agent.key") };
  return { ca: join(TLS_DIR, "ca.crt"), cert: join(TLS_DIR, `${role}.crt`), key: join(TLS_DIR, `${role}.key`) };
}

/** The configured paths, each falling back to its default. */
export function resolveTlsFiles(role: Role, tls: AgentConfig["tls"], env: NodeJS.ProcessEnv = process.env): TlsFiles {
  const defaults = defaultTlsFiles(role, env);
  return { ca: tls.ca ?? defaults.ca, cert: tls.cert ?? defaults.cert, key: tls.key ?? defaults.key };
}

const mode4 = (mode: number) => (mode & 0o7777).toString(8).padStart(4, "0");

/**
 * Reads the private key, refusing one that is not this user's (or root's) alone: checked on the
 * opened descriptor, so the file judged is the file read.
 */
function readPrivateKey(path: string, euid: number): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return readTlsFile("TLS key", path); // names the errno as the other files do
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new TlsError(`TLS key ${path} is not a regular file`);
    if (st.uid !== euid && st.uid !== 0) {
      throw new TlsError(`TLS key ${path} is owned by uid ${st.uid}, not by this agent's user (uid ${euid}) or root; refusing to start: chown ${euid} ${path} (or root), or issue a new key`);
    }
    // systemd >= 256 hands a credential out as root:root 0440 plus an ACL entry for the unit's user
    // (the group bits then show the ACL mask): in $CREDENTIALS_DIRECTORY, group read by root's
    // group is that, not a leak (Debian 13). Anything else open to group or others is refused.
    const credentials = process.env.CREDENTIALS_DIRECTORY;
    const systemdCredential = credentials !== undefined && credentials !== "" && path.startsWith(`${credentials}/`) && st.uid === 0 && st.gid === 0 && (st.mode & 0o037) === 0;
    if ((st.mode & 0o077) !== 0 && !systemdCredential) {
      throw new TlsError(`TLS key ${path} is readable or writable by group or others (mode ${mode4(st.mode)}); refusing to start: chmod 600 ${path}, and issue a new key if others may have read it`);
    }
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

function readTlsFile(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "does not exist" : code === "EACCES" ? "is not readable by this user" : code === "EISDIR" ? "is a directory" : `cannot be read (${code ?? (err as Error).message})`;
    throw new TlsError(`${what} ${path} ${why}`);
  }
}

function parseCertificate(what: string, path: string, pem: Buffer): X509Certificate {
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new TlsError(`${what} ${path} does not contain a PEM certificate`);
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new TlsError(`${what} ${path} is not a valid certificate: ${(err as Error).message}`);
  }
}

/**
 * Reads and checks the three files for `role`; throws TlsError naming the file and what is wrong.
 * `euid`: the user the key must belong to (or root).
 */
export function loadTlsMaterial(files: TlsFiles, role: Role, now = new Date(), euid = process.geteuid?.() ?? 0): TlsMaterial {
  // The key first: refuse a key others can read before anything else happens with it.
  const key = readPrivateKey(files.key, euid);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new TlsError(`TLS key ${files.key} is not a PEM private key: ${(err as Error).message}`);
  }

  const ca = readTlsFile("CA certificate", files.ca);
  const caCert = parseCertificate("CA certificate", files.ca, ca);
  if (!caCert.ca) throw new TlsError(`CA certificate ${files.ca} is not a CA certificate (basicConstraints CA:FALSE)`);

  const cert = readTlsFile("agent certificate", files.cert);
  const agentCert = parseCertificate("agent certificate", files.cert, cert);
  if (!agentCert.checkPrivateKey(privateKey)) {
    throw new TlsError(`agent certificate ${files.cert} does not match the key ${files.key}`);
  }
  if (!agentCert.checkIssued(caCert) || !agentCert.verify(caCert.publicKey)) {
    throw new TlsError(`agent certificate ${files.cert} was not issued by the CA in ${files.ca}`);
  }
  const names = certificateNames(agentCert);
  const proved = names ? roleOf(names) : { ok: false as const, refusal: "has subject alternative names that cannot be read" };
  if (!proved.ok) throw new TlsError(`agent certificate ${files.cert} ${proved.refusal}: issue the host's certificates again with "hostward pki issue-agent" (one per role)`);
  if (proved.role !== role) {
    throw new TlsError(`agent certificate ${files.cert} is the ${proved.role}'s (urn:hostward:role:${proved.role}), but this is the ${role} agent: install ${role}.crt and ${role}.key for it`);
  }
  const notAfter = new Date(agentCert.validTo);
  if (notAfter.getTime() <= now.getTime()) {
    throw new TlsError(`agent certificate ${files.cert} expired on ${notAfter.toISOString()}`);
  }
  return { ca, cert, key, certNotAfter: notAfter };
}

/** Mutual TLS: the third argument makes grpc-js request and verify a client certificate. */
export function createServerCredentials(material: TlsMaterial): grpc.ServerCredentials {
  return grpc.ServerCredentials.createSsl(material.ca, [{ cert_chain: material.cert, private_key: material.key }], true);
}
