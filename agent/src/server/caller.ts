// Who is calling: read from the client certificate that TLS has already verified against our CA.
// The role is exactly one SAN URI urn:hostward:role:<reader|operator>; the certificate must also
// be meant for client authentication (EKU clientAuth). Anything else identifies no role.
import "reflect-metadata";
import { createHash } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import * as x509 from "@peculiar/x509";
import type { CallerLog, Role } from "../logging";

export const ROLE_URI_PREFIX = "urn:hostward:role:";
const ROLES: readonly string[] = ["reader", "operator"] satisfies Role[];

export interface CallerIdentity {
  caller: CallerLog;
  /** The role the certificate proves, or null with `refusal` saying why it proves none. */
  role: Role | null;
  refusal: string | null;
}

const NO_CALLER: CallerLog = { fingerprint: null, cn: null, role: null };

function inspect(raw: Buffer): CallerIdentity {
  const fingerprint = `sha256:${createHash("sha256").update(raw).digest("hex")}`;
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(raw);
  } catch {
    return { caller: { ...NO_CALLER, fingerprint }, role: null, refusal: "client certificate could not be parsed" };
  }
  const cn = cert.subjectName.getField("CN")[0] ?? null;
  const uris = (cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [])
    .filter((n) => n.type === "url" && n.value.startsWith(ROLE_URI_PREFIX))
    .map((n) => n.value);
  const refuse = (refusal: string, role: string | null = null): CallerIdentity => ({
    caller: { fingerprint, cn, role },
    role: null,
    refusal,
  });
  if (uris.length === 0) return refuse(`client certificate has no role SAN URI (${ROLE_URI_PREFIX}<role>)`);
  if (uris.length > 1) return refuse(`client certificate has ${uris.length} role SAN URIs; exactly one is allowed`);
  const role = (uris[0] as string).slice(ROLE_URI_PREFIX.length);
  if (!ROLES.includes(role)) return refuse(`client certificate names unknown role "${role.slice(0, 32)}"`);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  if (!eku || !eku.usages.includes(x509.ExtendedKeyUsage.clientAuth)) {
    return refuse("client certificate is not valid for client authentication (no clientAuth extended key usage)", role);
  }
  return { caller: { fingerprint, cn, role }, role: role as Role, refusal: null };
}

// Parsing is cheap but not free; a bounded cache keyed by the certificate bytes keeps repeated
// calls from the same broker off the parser.
const CACHE_MAX = 256;
const cache = new Map<string, CallerIdentity>();

/** Identity from the verified peer certificate (undefined when the client presented none). */
export function identifyCaller(peer: PeerCertificate | undefined): CallerIdentity {
  if (!peer?.raw) return { caller: NO_CALLER, role: null, refusal: "no verified client certificate" };
  const key = peer.raw.toString("base64");
  const hit = cache.get(key);
  if (hit) return hit;
  const identity = inspect(peer.raw);
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(key, identity);
  return identity;
}
