// Who is calling: read from the client certificate that TLS has already verified against our CA.
// The role is exactly one SAN URI urn:hostward:role:<reader|operator>; the certificate must also
// be meant for client authentication (EKU clientAuth). Anything else identifies no role.
//
// Parsed with Node's own X509Certificate (OpenSSL underneath) rather than @peculiar/x509: the
// agent needs three fields, and loading the pure-JS ASN.1 stack (+ reflect-metadata, tsyringe)
// for them cost the agent about 6 MiB of resident memory (test/bench/results.md).
import { createHash, X509Certificate } from "node:crypto";
import { certificateNames, commonName, roleOf } from "../../../shared/cert-names";
import type { PeerCertificate } from "node:tls";
import type { CallerLog, Role } from "../logging";
import { weakCertificate } from "./cert-strength";

/** Re-exported: the one parser lives in shared/cert-names.ts. */
export { parseSubjectAltName } from "../../../shared/cert-names";
const CLIENT_AUTH_OID = "1.3.6.1.5.5.7.3.2";

export interface CallerIdentity {
  caller: CallerLog;
  /** The certificate's serial number (hex, lowercase), for the revocation list; null without one. */
  serial: string | null;
  /** The role the certificate proves, or null with `refusal` saying why it proves none. */
  role: Role | null;
  refusal: string | null;
}

const NO_CALLER: CallerLog = { fingerprint: null, cn: null, role: null };

/**
 * The refusal of a client whose certificate cannot identify it. Said in the call's log line (the
 * interceptor writes the reason as its error) and to the caller (PERMISSION_DENIED).
 */

function inspect(raw: Buffer): CallerIdentity {
  const fingerprint = `sha256:${createHash("sha256").update(raw).digest("hex")}`;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(raw);
  } catch {
    return { caller: { ...NO_CALLER, fingerprint }, serial: null, role: null, refusal: "client certificate could not be parsed" };
  }
  const serial = cert.serialNumber.toLowerCase();
  const cn = commonName(cert.subject);
  const refuse = (refusal: string, role: string | null = null): CallerIdentity => ({
    caller: { fingerprint, cn, role },
    serial,
    role: null,
    refusal,
  });
  const names = certificateNames(cert);
  if (names === null) return refuse("client certificate's subject alternative names could not be parsed");
  const proved = roleOf(names);
  if (!proved.ok) return refuse(`client certificate ${proved.refusal}`);
  const role = proved.role;
  // keyUsage is Node's name for the extended key usage OIDs (undefined without the extension).
  if (!(cert.keyUsage ?? []).includes(CLIENT_AUTH_OID)) {
    return refuse("client certificate is not valid for client authentication (no clientAuth extended key usage)", role);
  }
  // The agent's own floor on key size, curve and signature algorithm (cert-strength.ts).
  const weak = weakCertificate(cert);
  if (weak) return refuse(`client certificate is too weak: ${weak}`, role);
  return { caller: { fingerprint, cn, role }, serial, role, refusal: null };
}

// Parsing is cheap but not free; a bounded cache keyed by the certificate bytes keeps repeated
// calls from the same broker off the parser.
const CACHE_MAX = 256;
const cache = new Map<string, CallerIdentity>();

/** Identity from the verified peer certificate (undefined when the client presented none). */
export function identifyCaller(peer: PeerCertificate | undefined): CallerIdentity {
  if (!peer?.raw) return { caller: NO_CALLER, serial: null, role: null, refusal: "no verified client certificate" };
  const key = peer.raw.toString("base64");
  const hit = cache.get(key);
  if (hit) return hit;
  const identity = inspect(peer.raw);
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(key, identity);
  return identity;
}
