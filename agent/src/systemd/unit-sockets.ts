// The TCP/UDP sockets a unit listens on, from the kernel: the unit's processes come from its
// cgroup (cgroup.procs), their socket inodes from /proc/PID/fd, and the listening sockets from
// /proc/PID/net/{tcp,tcp6,udp,udp6} (the unit's own network namespace). Nothing is spawned.
import { readdir, readFile, readlink } from "node:fs/promises";
import { endianness } from "node:os";
import { join } from "node:path";

export type SocketProtocol = "tcp" | "tcp6" | "udp" | "udp6";
export const SOCKET_PROTOCOLS: readonly SocketProtocol[] = ["tcp", "tcp6", "udp", "udp6"];

export interface ProcNetSocket {
  protocol: SocketProtocol;
  address: string;
  port: number;
  /** Kernel socket state: 0A = TCP LISTEN, 07 = CLOSE (an unconnected UDP socket). */
  state: string;
  remotePort: number;
  inode: number;
}

interface ListeningSocket {
  protocol: SocketProtocol;
  address: string;
  port: number;
  pid: number;
}

const LITTLE_ENDIAN = endianness() === "LE";

/** Four bytes of a /proc/net address word, in network order (the kernel prints host order). */
function wordBytes(hex8: string): number[] {
  const b = [0, 2, 4, 6].map((i) => parseInt(hex8.slice(i, i + 2), 16));
  return LITTLE_ENDIAN ? b.reverse() : b;
}

function formatIPv6(bytes: number[]): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  // ::ffff:a.b.c.d (an IPv4 client on a dual-stack socket)
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes.slice(12).join(".")}`;
  }
  // Longest run of two or more zero groups becomes "::" (RFC 5952).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j += 1;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** "0100007F:1F90" → { address: "127.0.0.1", port: 8080 }; 32 hex digits for IPv6. */
export function decodeProcNetAddress(field: string): { address: string; port: number } | null {
  const m = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(field);
  if (!m || m[1] === undefined || m[2] === undefined) return null;
  const hex = m[1];
  const port = parseInt(m[2], 16);
  if (hex.length === 8) return { address: wordBytes(hex).join("."), port };
  const bytes: number[] = [];
  for (let i = 0; i < 32; i += 8) bytes.push(...wordBytes(hex.slice(i, i + 8)));
  return { address: formatIPv6(bytes), port };
}

/** Parses one /proc/net/{tcp,tcp6,udp,udp6} table (header line first). */
export function parseProcNet(text: string, protocol: SocketProtocol, maxRows = 65536): ProcNetSocket[] {
  const out: ProcNetSocket[] = [];
  const lines = text.split("\n");
  for (let i = 1; i < lines.length && out.length < maxRows; i += 1) {
    const cols = (lines[i] ?? "").trim().split(/\s+/);
    if (cols.length < 10) continue;
    const local = decodeProcNetAddress(cols[1] ?? "");
    const remote = decodeProcNetAddress(cols[2] ?? "");
    const inode = Number(cols[9]);
    if (!local || !remote || !Number.isSafeInteger(inode)) continue;
    out.push({ protocol, address: local.address, port: local.port, state: (cols[3] ?? "").toUpperCase(), remotePort: remote.port, inode });
  }
  return out;
}

/** TCP sockets in LISTEN, and UDP sockets bound to a port but not connected. */
export function isListening(s: ProcNetSocket): boolean {
  return s.protocol.startsWith("tcp") ? s.state === "0A" : s.state === "07" && s.remotePort === 0 && s.port !== 0;
}

/** Socket inodes from /proc/PID/fd link targets ("socket:[30431]"). */
export function socketInodeOf(linkTarget: string): number | null {
  const m = /^socket:\[(\d{1,20})\]$/.exec(linkTarget);
  return m ? Number(m[1]) : null;
}

/** Where a unit's cgroup may live: unified (cgroup v2), hybrid, legacy (name=systemd). */
const CGROUP_ROOTS = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"] as const;

const MAX_PIDS = 256;
const MAX_CGROUP_DIRS = 64;
const MAX_FDS_PER_PID = 4096;

/** A ControlGroup value from systemd, checked before it becomes part of a path. */
function isSafeControlGroup(cg: string): boolean {
  return cg.startsWith("/") && cg.length <= 1024 && !cg.includes("\u0000") && !cg.split("/").some((s) => s === ".." || s === ".");
}

/**
 * The pids in a unit's cgroup and its sub-cgroups (bounded), from the first root that has it;
 * null when no root has the cgroup.
 */
export async function cgroupPids(controlGroup: string, roots: readonly string[] = CGROUP_ROOTS): Promise<{ dir: string; pids: number[] } | null> {
  if (!isSafeControlGroup(controlGroup)) return null;
  for (const root of roots) {
    const dir = join(root, controlGroup);
    let first: string;
    try {
      first = await readFile(join(dir, "cgroup.procs"), "utf8");
    } catch {
      continue;
    }
    const pids = new Set<number>();
    const add = (text: string) => {
      for (const l of text.split("\n")) if (/^\d{1,10}$/.test(l) && pids.size < MAX_PIDS) pids.add(Number(l));
    };
    add(first);
    // Breadth-first over sub-cgroups (a service's processes may sit in child cgroups).
    const queue = [dir];
    let visited = 0;
    while (queue.length > 0 && visited < MAX_CGROUP_DIRS && pids.size < MAX_PIDS) {
      const d = queue.shift() as string;
      visited += 1;
      let children: string[];
      try {
        children = (await readdir(d, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => join(d, e.name));
      } catch {
        continue;
      }
      for (const c of children) {
        queue.push(c);
        try {
          add(await readFile(join(c, "cgroup.procs"), "utf8"));
        } catch {
          // a child cgroup that vanished meanwhile
        }
      }
    }
    return { dir, pids: [...pids] };
  }
  return null;
}

/** Socket inodes held open by a process. Throws the fs error (EACCES, ENOENT) to the caller. */
async function socketInodes(pid: number, procRoot = "/proc"): Promise<Set<number>> {
  const fdDir = join(procRoot, String(pid), "fd");
  const fds = (await readdir(fdDir)).slice(0, MAX_FDS_PER_PID);
  const inodes = new Set<number>();
  for (const fd of fds) {
    try {
      const inode = socketInodeOf(await readlink(join(fdDir, fd)));
      if (inode !== null) inodes.add(inode);
    } catch {
      // the fd was closed between readdir and readlink
    }
  }
  return inodes;
}

export interface UnitSockets {
  readable: boolean;
  note: string | null;
  sockets: ListeningSocket[];
}

/** Listening sockets owned by the given pids; `readable` false when some pid could not be read. */
export async function listeningSocketsOfPids(pids: readonly number[], procRoot = "/proc"): Promise<UnitSockets> {
  const owner = new Map<number, number>();
  const unreadable: string[] = [];
  for (const pid of pids.slice(0, MAX_PIDS)) {
    try {
      for (const inode of await socketInodes(pid, procRoot)) if (!owner.has(inode)) owner.set(inode, pid);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT") unreadable.push(`${pid} (${code ?? "error"})`);
    }
  }
  const sockets: ListeningSocket[] = [];
  const seen = new Set<number>();
  // Tables of the first pid's network namespace: a unit with PrivateNetwork= has its own.
  const tableDir = pids[0] !== undefined ? join(procRoot, String(pids[0]), "net") : join(procRoot, "net");
  for (const protocol of SOCKET_PROTOCOLS) {
    let table: string;
    try {
      table = await readFile(join(tableDir, protocol), "utf8");
    } catch {
      try {
        table = await readFile(join(procRoot, "net", protocol), "utf8");
      } catch {
        continue; // e.g. tcp6 without IPv6
      }
    }
    for (const s of parseProcNet(table, protocol)) {
      const pid = owner.get(s.inode);
      if (pid === undefined || !isListening(s) || seen.has(s.inode)) continue;
      seen.add(s.inode);
      sockets.push({ protocol, address: s.address, port: s.port, pid });
    }
  }
  const note =
    unreadable.length > 0
      ? `could not read the open files of ${unreadable.length} process(es): ${unreadable.slice(0, 5).join(", ")} — the agent's user may not see other users' processes`
      : null;
  return { readable: unreadable.length === 0, note, sockets };
}

/** The listening sockets of a unit from its ControlGroup property. */
export async function unitListeningSockets(controlGroup: string | null, roots: readonly string[] = CGROUP_ROOTS): Promise<UnitSockets> {
  if (controlGroup === null) return { readable: true, note: "the unit has no processes (no control group)", sockets: [] };
  const cg = await cgroupPids(controlGroup, roots);
  if (cg === null) {
    return { readable: false, note: `cgroup ${controlGroup} was not found under ${roots.join(", ")}`, sockets: [] };
  }
  if (cg.pids.length === 0) return { readable: true, note: "the unit's cgroup has no processes", sockets: [] };
  return listeningSocketsOfPids(cg.pids);
}
