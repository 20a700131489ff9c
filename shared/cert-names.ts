// THE certificate-name parser: what a certificate says about who it belongs to, read the same way
// by the agent (which role a client proves, which role its own certificate serves), the root helper
// (the host name and key an approval must name), `hostward-agent check` and the broker (which role
// and key the agent it connected to presented). Node's X509Certificate (OpenSSL underneath) decodes
// the DER; this module only reads Node's text forms, strictly, and refuses text it cannot read
// unambiguously rather than guess.
import { createHash, X509Certificate } from "node:crypto";

const ROLE_URI_PREFIX = "urn:hostward:role:";
export const ROLE_NAMES = ["reader", "operator"] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

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

export interface CertificateNames {
  dns: string[];
  /** IP addresses as Node prints them (IPv6 uncompressed: 0:0:0:0:0:0:0:1). */
  ips: string[];
  uris: string[];
}

/** The DNS, IP and URI subject alternative names of a certificate; null when the SAN text is unreadable. */
export function certificateNames(cert: Pick<X509Certificate, "subjectAltName">): CertificateNames | null {
  const pairs = parseSubjectAltName(cert.subjectAltName ?? "");
  if (pairs === null) return null;
  const names: CertificateNames = { dns: [], ips: [], uris: [] };
  for (const [type, value] of pairs) {
    if (type === "DNS") names.dns.push(value);
    else if (type === "IP Address") names.ips.push(value);
    else if (type === "URI") names.uris.push(value);
  }
  return names;
}

/** The one role a certificate's SAN URIs name, or why it names none (no role URI, several, unknown). */
export function roleOf(names: CertificateNames): { ok: true; role: RoleName } | { ok: false; refusal: string } {
  const uris = names.uris.filter((u) => u.startsWith(ROLE_URI_PREFIX));
  if (uris.length === 0) return { ok: false, refusal: `has no role SAN URI (${ROLE_URI_PREFIX}<role>)` };
  if (uris.length > 1) return { ok: false, refusal: `has ${uris.length} role SAN URIs; exactly one is allowed` };
  const role = (uris[0] as string).slice(ROLE_URI_PREFIX.length);
  if (!(ROLE_NAMES as readonly string[]).includes(role)) return { ok: false, refusal: `names unknown role "${role.slice(0, 32)}"` };
  return { ok: true, role: role as RoleName };
}

/**
 * The first CN of Node's multi-line subject ("CN=x\nO=y"): RFC 2253 escapes of printable
 * characters are undone ("a\,b" → "a,b"); control characters stay escaped.
 */
export function commonName(subject: string): string | null {
  const line = subject.split("\n").find((l) => l.startsWith("CN="));
  return line === undefined ? null : line.slice(3).replace(/\\([ ,+"\\<>;=#])/g, "$1");
}

/**
 * "sha256:<64 hex>" of the certificate's SubjectPublicKeyInfo (DER): the identity of its KEY, the
 * same for every certificate re-issued for one key and different for a re-enrolled host. Approvals
 * bind it (the host's operator key), so an approval for a host's old key is refused after a
 * re-enrolment.
 */
export function publicKeyFingerprint(cert: X509Certificate): string {
  const spki = cert.publicKey.export({ type: "spki", format: "der" });
  return `sha256:${createHash("sha256").update(spki).digest("hex")}`;
}

export const KEY_FINGERPRINT = /^sha256:[0-9a-f]{64}$/;
