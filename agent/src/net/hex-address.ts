// Addresses as the kernel prints them in /proc/net/*: hex of the in-memory bytes.
// /proc/net/{tcp,udp} and /proc/net/route print each 32-bit word in host byte order (so on a
// little-endian CPU "0100007F" is 127.0.0.1); /proc/net/ipv6_route prints plain network order.
import { endianness } from "node:os";

const LITTLE_ENDIAN = endianness() === "LE";

function hexBytes(hex: string): number[] | null {
  if (!/^(?:[0-9A-Fa-f]{2})+$/.test(hex)) return null;
  const out: number[] = [];
  for (let i = 0; i < hex.length; i += 2) out.push(Number.parseInt(hex.slice(i, i + 2), 16));
  return out;
}

/** Bytes of an address printed as 32-bit words in host order, put back in network order. */
function wordsToNetworkOrder(bytes: number[], littleEndian: boolean): number[] {
  if (!littleEndian) return bytes;
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i += 4) out.push(...bytes.slice(i, i + 4).reverse());
  return out;
}

function formatIPv4(bytes: readonly number[]): string {
  return bytes.join(".");
}

/** RFC 5952 text: lower case, longest run of zero groups (2 or more) as "::", mapped IPv4 dotted. */
export function formatIPv6(bytes: readonly number[]): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${formatIPv4(bytes.slice(12, 16))}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** "0100007F" → "127.0.0.1"; 32 hex digits → IPv6. Words in host byte order (tcp, udp, route). */
export function decodeHostOrderAddress(hex: string, littleEndian = LITTLE_ENDIAN): string | null {
  const bytes = hexBytes(hex);
  if (!bytes || (bytes.length !== 4 && bytes.length !== 16)) return null;
  const ordered = wordsToNetworkOrder(bytes, littleEndian);
  return ordered.length === 4 ? formatIPv4(ordered) : formatIPv6(ordered);
}

/** 32 hex digits in network order (ipv6_route) → IPv6 text. */
export function decodeNetworkOrderIPv6(hex: string): string | null {
  const bytes = hexBytes(hex);
  return bytes && bytes.length === 16 ? formatIPv6(bytes) : null;
}

/** Number of leading one bits of a netmask given as IPv4 text; null when not contiguous. */
export function prefixLength(mask: string): number | null {
  const parts = mask.split(".").map(Number);
  let bits = 0;
  let seenZero = false;
  for (const p of parts) {
    for (let b = 7; b >= 0; b--) {
      const one = ((p >> b) & 1) === 1;
      if (one && seenZero) return null;
      if (one) bits++;
      else seenZero = true;
    }
  }
  return bits;
}
