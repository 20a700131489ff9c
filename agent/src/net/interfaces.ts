// Network interfaces: every link in /sys/class/net (including those without an address, which
// os.networkInterfaces() omits) with its sysfs state and counters, plus its addresses.
import { readdir, readFile } from "node:fs/promises";
import { networkInterfaces } from "node:os";

const MAX_INTERFACES = 512;

export interface InterfaceInfo {
  name: string;
  operState: string;
  mtu: number | null;
  macAddress: string | null;
  speedMbps: number | null;
  addresses: { family: "IPv4" | "IPv6"; address: string; cidr: string | null; internal: boolean }[];
  rxBytes: number | null;
  txBytes: number | null;
  rxErrors: number | null;
  txErrors: number | null;
}

async function sysText(path: string): Promise<string | null> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch {
    return null; // EINVAL for speed on virtual links, ENOENT on old kernels
  }
}

async function sysNumber(path: string): Promise<number | null> {
  const t = await sysText(path);
  if (t === null || t === "") return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
}

export async function readInterfaces(sysRoot = "/sys/class/net"): Promise<{ interfaces: InterfaceInfo[]; truncated: boolean }> {
  const os = networkInterfaces();
  let names: string[];
  try {
    names = await readdir(sysRoot);
  } catch {
    names = Object.keys(os);
  }
  names = [...new Set([...names, ...Object.keys(os)])].sort();
  const truncated = names.length > MAX_INTERFACES;
  const interfaces = await Promise.all(
    names.slice(0, MAX_INTERFACES).map(async (name): Promise<InterfaceInfo> => {
      const dir = `${sysRoot}/${name}`;
      const [operState, mtu, mac, speed, rxBytes, txBytes, rxErrors, txErrors] = await Promise.all([
        sysText(`${dir}/operstate`),
        sysNumber(`${dir}/mtu`),
        sysText(`${dir}/address`),
        sysNumber(`${dir}/speed`),
        sysNumber(`${dir}/statistics/rx_bytes`),
        sysNumber(`${dir}/statistics/tx_bytes`),
        sysNumber(`${dir}/statistics/rx_errors`),
        sysNumber(`${dir}/statistics/tx_errors`),
      ]);
      const addrs = os[name] ?? [];
      return {
        name,
        operState: operState ?? "unknown",
        mtu,
        macAddress: mac || (addrs[0]?.mac ?? null),
        // The kernel reports -1 (or 4294967295) when the speed is unknown.
        speedMbps: speed !== null && speed > 0 && speed < 0xffffffff ? speed : null,
        addresses: addrs.map((a) => ({
          family: a.family === "IPv4" ? ("IPv4" as const) : ("IPv6" as const),
          address: a.address,
          cidr: a.cidr,
          internal: a.internal,
        })),
        rxBytes,
        txBytes,
        rxErrors,
        txErrors,
      };
    }),
  );
  return { interfaces, truncated };
}
