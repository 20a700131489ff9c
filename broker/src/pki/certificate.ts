// The one place that builds X.509 certificates (pure JS: @peculiar/x509 over WebCrypto, no openssl
// binary). index.ts turns the three kinds hostward issues into specs for issueCertificate(); tests
// use issueCertificate() directly to make deliberately wrong certificates.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** ECDSA P-256 with SHA-256: small keys, supported by every TLS stack hostward talks to. */
const KEY_ALGORITHM = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNING_ALGORITHM = { name: "ECDSA", hash: "SHA-256" } as const;

/** A certificate and its private key, both PEM (the key PKCS#8 "PRIVATE KEY"). */
export interface PemPair {
  cert: string;
  key: string;
}

export const EKU = { serverAuth: x509.ExtendedKeyUsage.serverAuth, clientAuth: x509.ExtendedKeyUsage.clientAuth } as const;

export interface CertificateSpec {
  /** Subject common name. */
  commonName: string;
  notBefore: Date;
  notAfter: Date;
  /** Subject alternative names. */
  dns?: readonly string[];
  ips?: readonly string[];
  uris?: readonly string[];
  /** Extended key usages (OIDs); omitted when empty. */
  extendedKeyUsages?: readonly string[];
  /** A CA certificate (keyCertSign, basicConstraints CA) instead of an end-entity one. */
  isCa?: boolean;
  /**
   * Tests only (deliberately weak certificates): the subject key's algorithm (default ECDSA P-256)
   * and the hash the issuer signs with (default SHA-256). `hostward pki` never sets them.
   */
  keyAlgorithm?: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams;
  signingHash?: "SHA-1" | "SHA-256" | "SHA-384";
}

/** The signer: null for a self-signed certificate (a CA). */
export type Issuer = PemPair | null;

async function generateKeys(algorithm: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams = KEY_ALGORITHM): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as CryptoKeyPair;
}

function keyToPem(pkcs8: ArrayBuffer): string {
  return x509.PemConverter.encode(pkcs8, "PRIVATE KEY");
}

async function importSigningKey(pem: string): Promise<CryptoKey> {
  const ders = x509.PemConverter.decode(pem);
  const der = ders[0];
  if (der === undefined) throw new Error("the CA key is not a PEM private key");
  return (await webcrypto.subtle.importKey("pkcs8", der, KEY_ALGORITHM, false, ["sign"])) as CryptoKey;
}

function randomSerial(): string {
  // 16 random bytes, top bit cleared so the DER INTEGER stays positive.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString("hex");
}

/** Escapes a value for an X.500 name string ("CN=..."). */
function dnValue(value: string): string {
  return value.replace(/([,+"\\<>;=#])/g, "\\$1");
}

/** Issues one certificate with a fresh P-256 key, signed by `issuer` (or self-signed). */
export async function issueCertificate(issuer: Issuer, spec: CertificateSpec): Promise<PemPair> {
  const keys = await generateKeys(spec.keyAlgorithm);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(spec.isCa === true, spec.isCa === true ? 0 : undefined, true),
    new x509.KeyUsagesExtension(
      spec.isCa === true
        ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature
        : x509.KeyUsageFlags.digitalSignature,
      true,
    ),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (spec.extendedKeyUsages && spec.extendedKeyUsages.length > 0) {
    extensions.push(new x509.ExtendedKeyUsageExtension([...spec.extendedKeyUsages], false));
  }
  const names: x509.JsonGeneralName[] = [
    ...(spec.dns ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(spec.ips ?? []).map((value) => ({ type: "ip" as const, value })),
    ...(spec.uris ?? []).map((value) => ({ type: "url" as const, value })),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));

  const subject = `CN=${dnValue(spec.commonName)}`;
  let cert: x509.X509Certificate;
  if (issuer === null) {
    cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: subject,
      notBefore: spec.notBefore,
      notAfter: spec.notAfter,
      signingAlgorithm: SIGNING_ALGORITHM,
      keys,
      extensions,
    });
  } else {
    const caCert = new x509.X509Certificate(issuer.cert);
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(caCert, false));
    cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject,
      issuer: caCert.subject,
      notBefore: spec.notBefore,
      notAfter: spec.notAfter,
      signingAlgorithm: spec.signingHash ? { ...SIGNING_ALGORITHM, hash: spec.signingHash } : SIGNING_ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: await importSigningKey(issuer.key),
      extensions,
    });
  }
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { cert: cert.toString("pem"), key: keyToPem(pkcs8) };
}

/** What a summary line needs to say about a certificate. */
export interface CertificateFacts {
  subject: string;
  notBefore: Date;
  notAfter: Date;
  sans: string[];
}

export function describeCertificate(pem: string): CertificateFacts {
  const cert = new x509.X509Certificate(pem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return {
    subject: cert.subject,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    sans: san ? san.names.items.map((n) => `${n.type === "url" ? "URI" : n.type.toUpperCase()}:${n.value}`) : [],
  };
}
