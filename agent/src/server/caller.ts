// Who is calling: read from the client certificate that TLS has already verified against our CA.
// The role is exactly one SAN URI urn:hostward:role:<reader|operator>; the certificate must also
// be meant for client authentication (EKU clientAuth). Anything else identifies no role.
//
// Parsed with Node's own X509Certificate (OpenSSL underneath) rather than @peculiar/x509: the
// agent needs three fields, and loading the pure-JS ASN.1 stack (+ reflect-metadata, tsyringe)
// for them cost the agent about 6 MiB of resident memory (test/bench/results.md).
import { createHash, X509Certificate } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import type { CallerLog, Role } from "../logging";

export const ROLE_URI_PREFIX = "urn:hostward:role:";
const ROLES: readonly string[] = ["reader", "operator"] satisfies Role[];
const CLIENT_AUTH_OID = "1.3.6.1.5.5.7.3.2";

export interface CallerIdentity {
  caller: CallerLog;
  /** The role the certificate proves, or null with `refusal` saying why it proves none. */
  role: Role | null;
  refusal: string | null;
}

const NO_CALLER: CallerLog = { fingerprint: null, cn: null, role: null };

/**
 * Splits Node's `subjectAltName` text ("URI:a, DNS:b, IP Address:1.2.3.4") into [type, value]
 * pairs. Node writes any value containing `,` `"` `\` `'` or a control character as a JSON string
 * (`URI:"urn:x,y"`), so the list splits unambiguously; a quoted value is decoded, so it is judged
 * by its real content (a role URI with a comma in it names an unknown role and is refused).
 * Returns null for text that does not follow that grammar.
 */
export function parseSubjectAltName(text: string): Array<[type: string, value: string]> | null {
  const names: Array<[string, string]> = [];
  let at = 0;
  while (at < text.length) {
    const colon = text.indexOf(":", at);
    if (colon < 0) return null;
    const type = text.slice(at, colon);
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      let j = colon + 2;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (j >= text.length) return null;
      try {
        value = JSON.parse(text.slice(colon + 1, j + 1)) as string;
      } catch {
        return null;
      }
      end = j + 1;
    } else {
      const sep = text.indexOf(", ", colon + 1);
      end = sep < 0 ? text.length : sep;
      value = text.slice(colon + 1, end);
      // Unquoted values never hold these (Node would have quoted them): refuse rather than guess.
      if (/[",\\']/.test(value)) return null;
    }
    names.push([type, value]);
    if (end === text.length) break;
    if (!text.startsWith(", ", end)) return null;
    at = end + 2;
  }
  return names;
}

/**
 * The first CN of Node's multi-line subject ("CN=x\nO=y"): RFC 2253 escapes of printable
 * characters are undone ("a\,b" → "a,b"); control characters stay escaped (it goes to a log line).
 */
function commonName(subject: string): string | null {
  const line = subject.split("\n").find((l) => l.startsWith("CN="));
  return line === undefined ? null : line.slice(3).replace(/\\([ ,+"\\<>;=#])/g, "$1");
}

function inspect(raw: Buffer): CallerIdentity {
  const fingerprint = `sha256:${createHash("sha256").update(raw).digest("hex")}`;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(raw);
  } catch {
    return { caller: { ...NO_CALLER, fingerprint }, role: null, refusal: "client certificate could not be parsed" };
  }
  const cn = commonName(cert.subject);
  const refuse = (refusal: string, role: string | null = null): CallerIdentity => ({
    caller: { fingerprint, cn, role },
    role: null,
    refusal,
  });
  const names = parseSubjectAltName(cert.subjectAltName ?? "");
  if (names === null) return refuse("client certificate's subject alternative names could not be parsed");
  const uris = names.filter(([type, value]) => type === "URI" && value.startsWith(ROLE_URI_PREFIX)).map(([, value]) => value);
  if (uris.length === 0) return refuse(`client certificate has no role SAN URI (${ROLE_URI_PREFIX}<role>)`);
  if (uris.length > 1) return refuse(`client certificate has ${uris.length} role SAN URIs; exactly one is allowed`);
  const role = (uris[0] as string).slice(ROLE_URI_PREFIX.length);
  if (!ROLES.includes(role)) return refuse(`client certificate names unknown role "${role.slice(0, 32)}"`);
  // keyUsage is Node's name for the extended key usage OIDs (undefined without the extension).
  if (!(cert.keyUsage ?? []).includes(CLIENT_AUTH_OID)) {
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
