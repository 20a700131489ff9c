// Parsers of /proc/net/route (IPv4, words in host byte order) and /proc/net/ipv6_route
// (network order). Only the main-table view `ip route` shows: the kernel's local-address and
// null entries of ipv6_route are left out.
import { readFile } from "node:fs/promises";
import { decodeHostOrderAddress, decodeNetworkOrderIPv6, prefixLength } from "./hex-address";

export interface Route {
  family: "ipv4" | "ipv6";
  destination: string;
  gateway: string | null;
  interface: string;
  metric: number;
  flags: string[];
}

// <linux/route.h> and <linux/ipv6_route.h>
const RTF_UP = 0x0001;
const RTF_GATEWAY = 0x0002;
const RTF_HOST = 0x0004;
const RTF_DYNAMIC = 0x0010;
const RTF_MODIFIED = 0x0020;
const RTF_REJECT = 0x0200;
const RTF_DEFAULT = 0x00010000;
const RTF_ADDRCONF = 0x00040000;
const RTF_EXPIRES = 0x00400000;
const RTF_CACHE = 0x01000000;
const RTF_LOCAL = 0x80000000;

const FLAG_NAMES: [number, string][] = [
  [RTF_UP, "up"],
  [RTF_GATEWAY, "gateway"],
  [RTF_HOST, "host"],
  [RTF_REJECT, "reject"],
  [RTF_DYNAMIC, "dynamic"],
  [RTF_MODIFIED, "modified"],
  [RTF_ADDRCONF, "addrconf"],
  [RTF_DEFAULT, "default"],
  [RTF_EXPIRES, "expires"],
];

function flagNames(flags: number): string[] {
  return FLAG_NAMES.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name);
}

/** Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT */
export function parseIPv4Routes(text: string): Route[] {
  const out: Route[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const dest = decodeHostOrderAddress(f[1]!);
    const gw = decodeHostOrderAddress(f[2]!);
    const mask = decodeHostOrderAddress(f[7]!);
    const flags = Number.parseInt(f[3]!, 16);
    const metric = Number(f[6]);
    if (dest === null || gw === null || mask === null || !Number.isFinite(flags)) continue;
    out.push({
      family: "ipv4",
      destination: `${dest}/${prefixLength(mask) ?? mask}`,
      gateway: (flags & RTF_GATEWAY) !== 0 && gw !== "0.0.0.0" ? gw : null,
      interface: f[0]!,
      metric: Number.isFinite(metric) ? metric : 0,
      flags: flagNames(flags),
    });
  }
  return out;
}

/** dest dest_plen src src_plen next_hop metric refcnt use flags iface (all hex) */
export function parseIPv6Routes(text: string): Route[] {
  const out: Route[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const dest = decodeNetworkOrderIPv6(f[0]!);
    const plen = Number.parseInt(f[1]!, 16);
    const hop = decodeNetworkOrderIPv6(f[4]!);
    const metric = Number.parseInt(f[5]!, 16);
    const flags = Number.parseInt(f[8]!, 16);
    const iface = f[9]!;
    if (dest === null || hop === null || !Number.isFinite(plen) || !Number.isFinite(flags)) continue;
    // Addresses of this host (table "local"), cached clones, and the kernel's null entry.
    if ((flags & RTF_LOCAL) !== 0 || (flags & RTF_CACHE) !== 0) continue;
    if ((flags & RTF_REJECT) !== 0 && iface === "lo" && metric === 0xffffffff) continue;
    out.push({
      family: "ipv6",
      destination: `${dest}/${plen}`,
      gateway: hop === "::" ? null : hop,
      interface: iface,
      metric: Number.isFinite(metric) ? metric : 0,
      flags: flagNames(flags),
    });
  }
  return out;
}

async function readOptional(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw err;
  }
}

export async function readRoutes(procRoot = "/proc"): Promise<Route[]> {
  const [v4, v6] = await Promise.all([readOptional(`${procRoot}/net/route`), readOptional(`${procRoot}/net/ipv6_route`)]);
  return [...parseIPv4Routes(v4), ...parseIPv6Routes(v6)];
}

/** Routes to 0.0.0.0/0 or ::/0 that are not reject routes. */
export function defaultRoutes(routes: readonly Route[]): { family: "ipv4" | "ipv6"; gateway: string | null; interface: string }[] {
  return routes
    .filter((r) => (r.destination === "0.0.0.0/0" || r.destination === "::/0") && !r.flags.includes("reject"))
    .map((r) => ({ family: r.family, gateway: r.gateway, interface: r.interface }));
}
