// Which addresses a network probe (test_connectivity, dns_lookup's server, check_http) may reach.
// Every address a name resolves to is checked, not only the one used, so a name that resolves to
// a public address and to the metadata service is refused as a whole. IPv4-mapped (::ffff:a.b.c.d)
// and NAT64 (64:ff9b::a.b.c.d) IPv6 addresses are judged as the IPv4 address they carry.
import { BlockList, isIPv4, isIPv6 } from "node:net";
import { DiagnosticError } from "./diagnostics/context";

export interface AddressPolicy {
  /** Link-local (169.254.0.0/16, fe80::/10) and cloud metadata addresses. */
  allowLinkLocal: boolean;
  /** 127.0.0.0/8 and ::1. */
  allowLoopback: boolean;
}

export type AddressCategory =
  | "unspecified"
  | "broadcast"
  | "multicast"
  | "reserved"
  | "metadata"
  | "link-local"
  | "loopback"
  | "private"
  | "public";

export interface AddressVerdict {
  /** The address as judged: IPv4-mapped/NAT64 forms are given as their IPv4 address. */
  address: string;
  family: 4 | 6;
  category: AddressCategory;
  allowed: boolean;
  /** Why it is refused; null when allowed. */
  reason: string | null;
}

function list(entries: [string, number, "ipv4" | "ipv6"][]): BlockList {
  const b = new BlockList();
  for (const [net, prefix, type] of entries) b.addSubnet(net, prefix, type);
  return b;
}

// Checked in this order; the first list that contains the address names its category (::1 and
// :: lie inside ::/96, so they come first).
const CATEGORIES: [AddressCategory, BlockList][] = [
  ["unspecified", list([["0.0.0.0", 8, "ipv4"], ["::", 128, "ipv6"]])],
  ["loopback", list([["127.0.0.0", 8, "ipv4"], ["::1", 128, "ipv6"]])],
  ["broadcast", list([["255.255.255.255", 32, "ipv4"]])],
  ["multicast", list([["224.0.0.0", 4, "ipv4"], ["ff00::", 8, "ipv6"]])],
  // 240/4 is not routable; ::/96 holds the deprecated IPv4-compatible addresses.
  ["reserved", list([["240.0.0.0", 4, "ipv4"], ["::", 96, "ipv6"]])],
  [
    "metadata",
    list([
      ["169.254.169.254", 32, "ipv4"], // AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean
      ["169.254.170.2", 32, "ipv4"], // AWS ECS task metadata
      ["168.63.129.16", 32, "ipv4"], // Azure wire server
      ["100.100.100.200", 32, "ipv4"], // Alibaba Cloud
      ["fd00:ec2::254", 128, "ipv6"], // AWS IMDS over IPv6
    ]),
  ],
  ["link-local", list([["169.254.0.0", 16, "ipv4"], ["fe80::", 10, "ipv6"]])],
  [
    "private",
    list([
      ["10.0.0.0", 8, "ipv4"],
      ["172.16.0.0", 12, "ipv4"],
      ["192.168.0.0", 16, "ipv4"],
      ["100.64.0.0", 10, "ipv4"],
      ["fc00::", 7, "ipv6"],
    ]),
  ],
];

/** Expands an IPv6 literal (no zone) into its 8 16-bit groups; null when malformed. */
function ipv6Groups(address: string): number[] | null {
  // A trailing dotted quad (::ffff:1.2.3.4) stands for the last two groups.
  let text = address;
  let tail: [number, number] | null = null;
  const v4 = /:(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    tail = [(a << 8) | b, (c << 8) | d];
    text = `${text.slice(0, v4.index)}:0:0`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parse = (s: string) => (s === "" ? [] : s.split(":").map((g) => Number.parseInt(g, 16)));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const fill = 8 - head.length - rest.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return null;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...rest];
  if (groups.length !== 8 || groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) return null;
  if (tail) [groups[6], groups[7]] = tail;
  return groups;
}

/**
 * The address a probe would really reach, as family + text: IPv4-mapped (::ffff:0:0/96) and
 * NAT64 well-known-prefix (64:ff9b::/96) IPv6 addresses become their IPv4 address; a zone
 * ("%eth0") is dropped. Null when `address` is not an IP literal.
 */
export function normaliseAddress(address: string): { address: string; family: 4 | 6 } | null {
  const bare = address.includes("%") ? address.slice(0, address.indexOf("%")) : address;
  if (isIPv4(bare)) return { address: bare, family: 4 };
  if (!isIPv6(bare)) return null;
  const g = ipv6Groups(bare.toLowerCase());
  if (!g) return { address: bare.toLowerCase(), family: 6 };
  const embedsV4 =
    (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) ||
    (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0);
  if (embedsV4) {
    const v4 = [g[6]! >> 8, g[6]! & 0xff, g[7]! >> 8, g[7]! & 0xff].join(".");
    return { address: v4, family: 4 };
  }
  return { address: bare.toLowerCase(), family: 6 };
}

/** The category of an IP literal; throws INVALID_ARGUMENT when it is not one. */
export function classifyAddress(address: string): { address: string; family: 4 | 6; category: AddressCategory } {
  const n = normaliseAddress(address);
  if (!n) throw new DiagnosticError("INVALID_ARGUMENT", `${JSON.stringify(address.slice(0, 64))} is not an IP address`);
  const type = n.family === 4 ? "ipv4" : "ipv6";
  for (const [category, blocks] of CATEGORIES) {
    if (blocks.check(n.address, type)) return { ...n, category };
  }
  return { ...n, category: "public" };
}

/** The policy's verdict on one IP literal. */
export function checkAddress(address: string, policy: AddressPolicy): AddressVerdict {
  const c = classifyAddress(address);
  const refuse = (reason: string): AddressVerdict => ({ ...c, allowed: false, reason });
  switch (c.category) {
    case "unspecified":
    case "broadcast":
    case "multicast":
    case "reserved":
      return refuse(`${c.address} is a ${c.category} address; probes to it are always refused`);
    case "metadata":
      if (!policy.allowLinkLocal) {
        return refuse(`${c.address} is a cloud metadata address; refused unless network.allowLinkLocal is true in the agent config`);
      }
      break;
    case "link-local":
      if (!policy.allowLinkLocal) {
        return refuse(`${c.address} is a link-local address; refused unless network.allowLinkLocal is true in the agent config`);
      }
      break;
    case "loopback":
      if (!policy.allowLoopback) {
        return refuse(`${c.address} is a loopback address; refused because network.allowLoopback is false in the agent config`);
      }
      break;
    case "private":
    case "public":
      break;
  }
  return { ...c, allowed: true, reason: null };
}

/**
 * Checks every address (all that a name resolved to); throws PERMISSION_DENIED naming `field`,
 * the value the caller gave and the first refused address with the reason.
 */
export function assertAddressesAllowed(
  addresses: readonly string[],
  policy: AddressPolicy,
  field: string,
  value: string,
): AddressVerdict[] {
  const verdicts = addresses.map((a) => checkAddress(a, policy));
  const refused = verdicts.find((v) => !v.allowed);
  if (refused) {
    const via = refused.address === value ? "" : ` (${JSON.stringify(value)} resolves to ${refused.address})`;
    throw new DiagnosticError("PERMISSION_DENIED", `${field}: refused${via}: ${refused.reason}`);
  }
  return verdicts;
}
