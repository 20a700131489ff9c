// Whether a client certificate's cryptography is strong enough to identify a caller: the agent
// refuses RSA keys under 2048 bits, any curve but P-256, P-384 (and Ed25519 keys), and signatures
// made with SHA-1 or MD5 (or any algorithm not listed below), whatever the CA that signed it. The
// TLS layer has already verified the chain; this is the agent's own floor on top of OpenSSL's.
//
// Node's X509Certificate says the key type and size, not the signature algorithm: that is read
// from the DER here (Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }),
// strictly and bounded: anything that does not parse is refused.
import type { X509Certificate } from "node:crypto";

/** Signature algorithms accepted, by OID. */
const SIGNATURE_ALGORITHMS: Readonly<Record<string, string>> = {
  "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
  "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
  "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
  "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
  "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
  "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
  "1.3.101.112": "Ed25519",
};

/** Names of refused algorithms worth naming in the message. */
const KNOWN_WEAK: Readonly<Record<string, string>> = {
  "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
  "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
  "1.2.840.10045.4.1": "ecdsa-with-SHA1",
  "1.2.840.10040.4.3": "dsa-with-SHA1",
  "1.2.840.113549.1.1.10": "RSASSA-PSS",
};

const MIN_RSA_BITS = 2048;
const CURVES: Readonly<Record<string, string>> = { prime256v1: "P-256", secp384r1: "P-384" };

interface Tlv {
  tag: number;
  start: number;
  end: number;
}

function tlv(der: Buffer, at: number, limit: number): Tlv {
  if (at + 2 > limit) throw new Error("truncated");
  const tag = der[at] as number;
  let len = der[at + 1] as number;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw new Error("bad length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (der[start + i] as number);
    start += n;
  }
  if (start + len > limit) throw new Error("truncated");
  return { tag, start, end: start + len };
}

function oidText(bytes: Buffer): string {
  if (bytes.length === 0 || bytes.length > 64) throw new Error("bad OID");
  const parts: number[] = [];
  let value = 0;
  for (const b of bytes) {
    value = value * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  const first = parts.shift() ?? 0;
  return [first < 80 ? Math.floor(first / 40) : 2, first < 80 ? first % 40 : first - 80, ...parts].join(".");
}

/** The OID of the certificate's outer signatureAlgorithm. Throws on DER it cannot read. */
export function signatureAlgorithmOid(der: Buffer): string {
  const cert = tlv(der, 0, der.length);
  if (cert.tag !== 0x30) throw new Error("not a SEQUENCE");
  const tbs = tlv(der, cert.start, cert.end);
  const alg = tlv(der, tbs.end, cert.end);
  if (alg.tag !== 0x30) throw new Error("signatureAlgorithm is not a SEQUENCE");
  const oid = tlv(der, alg.start, alg.end);
  if (oid.tag !== 0x06) throw new Error("signatureAlgorithm has no OID");
  return oidText(der.subarray(oid.start, oid.end));
}

/** Why the certificate's cryptography is too weak to identify a caller, or null. */
export function weakCertificate(cert: X509Certificate): string | null {
  const key = cert.publicKey;
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === "rsa" || type === "rsa-pss") {
    const bits = details.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) return `its key is RSA ${bits} bits; at least ${MIN_RSA_BITS} are required`;
  } else if (type === "ec") {
    const curve = details.namedCurve ?? "unknown";
    if (!(curve in CURVES)) return `its key is on the curve ${curve}; only P-256 and P-384 are accepted (or Ed25519)`;
  } else if (type !== "ed25519") {
    return `its key type ${type ?? "unknown"} is not accepted (RSA of at least ${MIN_RSA_BITS} bits, P-256, P-384 or Ed25519)`;
  }
  let oid: string;
  try {
    oid = signatureAlgorithmOid(cert.raw);
  } catch (err) {
    return `its signature algorithm cannot be read (${(err as Error).message})`;
  }
  if (!(oid in SIGNATURE_ALGORITHMS)) return `it is signed with ${KNOWN_WEAK[oid] ?? `the algorithm ${oid}`}, which is not accepted (SHA-256 or stronger with RSA or ECDSA, or Ed25519)`;
  return null;
}
