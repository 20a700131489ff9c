// Parser of /proc/net/{tcp,tcp6,udp,udp6}: one socket per line after the header.
//   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
//    0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 …
import { readFile } from "node:fs/promises";
import { decodeHostOrderAddress } from "./hex-address";

export type SocketTable = "tcp" | "tcp6" | "udp" | "udp6";

const TCP_STATES: Record<string, string> = {
  "01": "ESTABLISHED",
  "02": "SYN_SENT",
  "03": "SYN_RECV",
  "04": "FIN_WAIT1",
  "05": "FIN_WAIT2",
  "06": "TIME_WAIT",
  "07": "CLOSE",
  "08": "CLOSE_WAIT",
  "09": "LAST_ACK",
  "0A": "LISTEN",
  "0B": "CLOSING",
  "0C": "NEW_SYN_RECV",
};

export interface SocketEntry {
  protocol: SocketTable;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** TCP state name (UDP uses the same numbers: CLOSE = unconnected, ESTABLISHED = connected). */
  state: string;
  uid: number;
  /** Socket inode: matches "socket:[INODE]" links in /proc/PID/fd. */
  inode: number;
}

function endpoint(text: string | undefined): { address: string; port: number } | null {
  if (!text) return null;
  const colon = text.indexOf(":");
  if (colon < 0) return null;
  const address = decodeHostOrderAddress(text.slice(0, colon));
  const port = Number.parseInt(text.slice(colon + 1), 16);
  if (address === null || !Number.isInteger(port)) return null;
  return { address, port };
}

/** Parses one table's text; malformed lines are skipped. */
export function parseSocketTable(text: string, protocol: SocketTable): SocketEntry[] {
  const out: SocketEntry[] = [];
  const lines = text.split("\n");
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.trim().split(/\s+/);
    if (f.length < 10) continue;
    const local = endpoint(f[1]);
    const remote = endpoint(f[2]);
    const st = f[3]?.toUpperCase() ?? "";
    const uid = Number(f[7]);
    const inode = Number(f[9]);
    if (!local || !remote || !Number.isInteger(uid) || !Number.isInteger(inode)) continue;
    out.push({
      protocol,
      localAddress: local.address,
      localPort: local.port,
      remoteAddress: remote.address,
      remotePort: remote.port,
      state: TCP_STATES[st] ?? st,
      uid,
      inode,
    });
  }
  return out;
}

/** Reads and parses tables; a missing table (no IPv6 in the kernel) is an empty list. */
export async function readSocketTables(tables: readonly SocketTable[], procRoot = "/proc"): Promise<SocketEntry[]> {
  const parts = await Promise.all(
    tables.map(async (t) => {
      try {
        return parseSocketTable(await readFile(`${procRoot}/net/${t}`, "utf8"), t);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
        throw err;
      }
    }),
  );
  return parts.flat();
}
