// The host's DNS client configuration from /etc: resolv.conf, the nsswitch.conf hosts line and
// the number of address lines in /etc/hosts. Each file is read up to 64 KiB.
import { open, readlink } from "node:fs/promises";

const MAX_CONFIG_BYTES = 64 * 1024;

export interface ResolvConf {
  nameservers: string[];
  search: string[];
  domain: string | null;
  options: string[];
}

/** resolv.conf(5): the last "search"/"domain" wins; comments start with # or ;. */
export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], domain: null, options: [] };
  for (const raw of text.split("\n")) {
    const line = raw.replace(/[#;].*$/, "").trim();
    const [key, ...values] = line.split(/\s+/);
    switch (key) {
      case "nameserver":
        if (values[0]) out.nameservers.push(values[0]);
        break;
      case "search":
        out.search = values;
        out.domain = null;
        break;
      case "domain":
        out.domain = values[0] ?? null;
        out.search = [];
        break;
      case "options":
        out.options.push(...values);
        break;
      default:
        break;
    }
  }
  return out;
}

/** The sources of the "hosts:" database ("files", "dns", "[NOTFOUND=return]", …); null if absent. */
export function parseNsswitchHosts(text: string): string[] | null {
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    const m = /^hosts\s*:\s*(.*)$/.exec(line);
    if (m) return m[1]!.split(/\s+/).filter(Boolean);
  }
  return null;
}

/** Lines of /etc/hosts that map an address to at least one name. */
export function countHostsEntries(text: string): number {
  return text
    .split("\n")
    .map((l) => l.replace(/#.*$/, "").trim())
    .filter((l) => l.split(/\s+/).length >= 2).length;
}

/** systemd-resolved's stub listens on 127.0.0.53 (and 127.0.0.54); other loopback: a local resolver. */
export function localStubKind(nameservers: readonly string[]): "systemd-resolved" | "loopback" | null {
  if (nameservers.some((n) => n === "127.0.0.53" || n === "127.0.0.54")) return "systemd-resolved";
  if (nameservers.some((n) => n.startsWith("127.") || n === "::1")) return "loopback";
  return null;
}

/** Reads up to MAX_CONFIG_BYTES of a file; null when it does not exist or cannot be read. */
export async function readSmallFile(path: string): Promise<string | null> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch {
    return null;
  }
  try {
    const buf = Buffer.alloc(MAX_CONFIG_BYTES);
    let len = 0;
    while (len < buf.length) {
      const { bytesRead } = await fh.read(buf, len, buf.length - len, len);
      if (bytesRead === 0) break;
      len += bytesRead;
    }
    return buf.subarray(0, len).toString("utf8");
  } catch {
    return null;
  } finally {
    await fh.close();
  }
}

export async function symlinkTarget(path: string): Promise<string | null> {
  try {
    return await readlink(path);
  } catch {
    return null; // not a symlink, or missing
  }
}
