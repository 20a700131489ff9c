// Client certificates the host no longer accepts, picked up without a restart: the revocation list
// /etc/hostward/revoked.list (tls.revocationList in agent.yaml), written by `hostward pki revoke`
// and copied to every host. One entry a line:
//
//   serial 5F3A0C…            # a certificate's serial number (hex, as `openssl x509 -serial` prints it)
//   sha256 9b1c…              # or the SHA-256 fingerprint of the certificate (its DER)
//
// '#' starts a comment. The file is public data (serials and fingerprints, no secret), but it must be
// root's (or, on a local fleet, the agent's own user's) and writable by nobody else: a list someone else could empty protects nothing, so such a
// file is not used (an error line says so, and the last good list stays in force). The file is
// looked at again at most every `checkEveryMs` (by its size, mtime and inode) on the next call.
import { closeSync, constants, fstatSync, openSync, readFileSync, statSync } from "node:fs";

const MAX_BYTES = 4 * 1024 * 1024;

export interface RevocationLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RevocationList {
  /** Why this certificate is revoked ("serial …" / "sha256 …" with the line's comment), or null. */
  revoked(cert: { serial: string | null; fingerprint: string | null }): string | null;
  /** Entries in force (for tests and the startup line). */
  readonly size: number;
}

interface Parsed {
  serials: Map<string, string>;
  fingerprints: Map<string, string>;
}

/** Parses the list; throws naming the first bad line. */
export function parseRevocationList(text: string, file = "revocation list"): Parsed {
  const serials = new Map<string, string>();
  const fingerprints = new Map<string, string>();
  text.split("\n").forEach((raw, i) => {
    const [body = "", ...comment] = raw.split("#");
    const line = body.trim();
    if (line === "") return;
    const m = /^(serial|sha256)[ \t]+([0-9A-Fa-f:]+)$/.exec(line);
    if (!m) throw new Error(`${file}:${i + 1}: not "serial HEX" or "sha256 HEX"`);
    const value = (m[2] as string).replace(/:/g, "").toLowerCase();
    const note = comment.join("#").trim();
    if (m[1] === "serial") serials.set(value.replace(/^0+(?=.)/, ""), note);
    else {
      if (!/^[0-9a-f]{64}$/.test(value)) throw new Error(`${file}:${i + 1}: a sha256 fingerprint is 64 hex digits`);
      fingerprints.set(value, note);
    }
  });
  return { serials, fingerprints };
}

export function createRevocationList(file: string, log: RevocationLog, checkEveryMs = 1_000, now: () => number = Date.now): RevocationList {
  let current: Parsed = { serials: new Map(), fingerprints: new Map() };
  let seen = "";
  let checkedAt = -Infinity;
  // Root's (a package), or this agent's own user's (a local development fleet).
  const owner = process.geteuid?.() ?? 0;

  const refresh = () => {
    if (now() - checkedAt < checkEveryMs) return;
    checkedAt = now();
    let stamp: string;
    try {
      const st = statSync(file);
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (err) {
      stamp = `missing:${(err as NodeJS.ErrnoException).code ?? ""}`;
    }
    if (stamp === seen) return;
    seen = stamp;
    if (stamp.startsWith("missing:")) {
      if (current.serials.size + current.fingerprints.size > 0) log.error({ file }, "revocation list removed: the entries read before stay in force until the agent restarts");
      return;
    }
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      log.error({ file, error: (err as NodeJS.ErrnoException).code }, "revocation list cannot be opened: the last good list stays in force");
      return;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || (st.uid !== 0 && st.uid !== owner) || (st.mode & 0o022) !== 0 || st.size > MAX_BYTES) {
        log.error({ file, uid: st.uid, mode: (st.mode & 0o7777).toString(8) }, "revocation list is not a regular file of root's that only root can write: not used (chown root:root and chmod 644 it); the last good list stays in force");
        return;
      }
      const parsed = parseRevocationList(readFileSync(fd, "utf8"), file);
      current = parsed;
      log.info({ file, serials: parsed.serials.size, fingerprints: parsed.fingerprints.size }, "revocation list loaded");
    } catch (err) {
      log.error({ file, error: (err as Error).message }, "revocation list is invalid: the last good list stays in force");
    } finally {
      closeSync(fd);
    }
  };

  return {
    revoked(cert) {
      refresh();
      const serial = cert.serial?.toLowerCase().replace(/^0+(?=.)/, "");
      if (serial !== undefined && current.serials.has(serial)) return `serial ${serial}${current.serials.get(serial) ? ` (${current.serials.get(serial)})` : ""}`;
      const fp = cert.fingerprint?.replace(/^sha256:/, "");
      if (fp !== undefined && current.fingerprints.has(fp)) return `sha256 ${fp}${current.fingerprints.get(fp) ? ` (${current.fingerprints.get(fp)})` : ""}`;
      return null;
    },
    get size() {
      refresh();
      return current.serials.size + current.fingerprints.size;
    },
  };
}
