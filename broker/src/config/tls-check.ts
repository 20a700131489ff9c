// Checks the broker's TLS files before a configuration is applied (at a reload: a certificate that
// is missing, unreadable, not a certificate, or not the pair of its key would otherwise be found
// only by the next call, as a TLS error on every host). Each problem names the file.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { configFiles } from "../paths";

function readFile(file: string, what: string, problems: string[]): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch (err) {
    problems.push(`${file}: cannot read the ${what} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    return undefined;
  }
}

/** Problems with DIR/tls: the CA, the reader pair (required) and the operator pair (if present). */
export function checkTlsFiles(configDir: string): string[] {
  const files = configFiles(configDir);
  const problems: string[] = [];
  const ca = readFile(files.caCert, "CA certificate", problems);
  if (ca) {
    try {
      new X509Certificate(ca);
    } catch (err) {
      problems.push(`${files.caCert}: not a PEM certificate (${(err as Error).message})`);
    }
  }
  for (const role of ["reader", "operator"] as const) {
    const certFile = files.clientCert(role);
    const keyFile = files.clientKey(role);
    if (role === "operator" && !existsSync(certFile) && !existsSync(keyFile)) continue;
    const certPem = readFile(certFile, `${role} client certificate`, problems);
    const keyPem = readFile(keyFile, `${role} client key`, problems);
    if (!certPem || !keyPem) continue;
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certPem);
    } catch (err) {
      problems.push(`${certFile}: not a PEM certificate (${(err as Error).message})`);
      continue;
    }
    let matches: boolean;
    try {
      matches = cert.checkPrivateKey(createPrivateKey(keyPem));
    } catch (err) {
      problems.push(`${keyFile}: not a usable private key (${(err as Error).message})`);
      continue;
    }
    if (!matches) problems.push(`${certFile} does not match its key ${keyFile} (the pair was mixed up or only one was replaced)`);
  }
  return problems;
}
