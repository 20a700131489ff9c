// The agent's TLS material: where the files are, checks that fail fast with the file and the
// problem named, and the mutual-TLS server credentials (client certificates required and verified
// against our private CA only).
import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { AgentConfig } from "./config";

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

/**
 * systemd's LoadCredential= puts the files in $CREDENTIALS_DIRECTORY (readable by the unit's user
 * only); without it the agent reads /etc/hostward/tls/.
 */
export function defaultTlsFiles(env: NodeJS.ProcessEnv = process.env): TlsFiles {
  const dir = env.CREDENTIALS_DIRECTORY || "/etc/hostward/tls";
  return { ca: join(dir, "ca.crt"), cert: join(dir, "agent.crt"), key: join(dir, "agent.key") };
}

/** The configured paths, each falling back to its default. */
export function resolveTlsFiles(tls: AgentConfig["tls"], env: NodeJS.ProcessEnv = process.env): TlsFiles {
  const defaults = defaultTlsFiles(env);
  return { ca: tls.ca ?? defaults.ca, cert: tls.cert ?? defaults.cert, key: tls.key ?? defaults.key };
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

/** Reads and checks the three files; throws TlsError naming the file and what is wrong. */
export function loadTlsMaterial(files: TlsFiles, now = new Date()): TlsMaterial {
  // The key first: refuse a key others can read before anything else happens with it.
  let keyMode: number;
  let keyGid = -1;
  try {
    const st = statSync(files.key);
    keyMode = st.mode;
    keyGid = st.gid;
  } catch {
    keyMode = 0;
  }
  const key = readTlsFile("TLS key", files.key);
  // systemd >= 256 hands a credential out as root:root 0440 plus an ACL entry for the unit's user
  // (the group bits then show the ACL mask): in $CREDENTIALS_DIRECTORY, group read by root's
  // group is that, not a leak. Anything else open to group or others is refused.
  const credentials = process.env.CREDENTIALS_DIRECTORY;
  const systemdCredential = credentials !== undefined && credentials !== "" && files.key.startsWith(`${credentials}/`) && keyGid === 0 && (keyMode & 0o037) === 0;
  if ((keyMode & 0o077) !== 0 && !systemdCredential) {
    throw new TlsError(
      `TLS key ${files.key} is accessible by group or others (mode ${(keyMode & 0o777).toString(8).padStart(4, "0")}); refusing to start: chmod 600 it`,
    );
  }
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
