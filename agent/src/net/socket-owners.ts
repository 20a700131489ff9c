// Which process owns a socket: its inode appears as a "socket:[INODE]" link in /proc/PID/fd.
// The reader agent may not read other users' fd directories; those sockets keep a null owner.
// Bounded: at most MAX_PROCESSES processes and MAX_FD_LINKS links are examined per call, and the
// scan stops as soon as every wanted inode is found.
import { readdir, readFile, readlink } from "node:fs/promises";

export const MAX_PROCESSES = 8192;
export const MAX_FD_LINKS = 200_000;

export interface SocketOwner {
  pid: number;
  process: string;
}

/** Maps each wanted socket inode to its first owning process found. */
export async function findSocketOwners(inodes: Iterable<number>, procRoot = "/proc"): Promise<Map<number, SocketOwner>> {
  const wanted = new Set<number>();
  for (const i of inodes) if (i > 0) wanted.add(i);
  const found = new Map<number, SocketOwner>();
  if (wanted.size === 0) return found;

  let pids: number[];
  try {
    pids = (await readdir(procRoot)).filter((n) => /^\d+$/.test(n)).map(Number).slice(0, MAX_PROCESSES);
  } catch {
    return found;
  }
  let links = 0;
  for (const pid of pids) {
    if (found.size === wanted.size || links >= MAX_FD_LINKS) break;
    let fds: string[];
    try {
      fds = await readdir(`${procRoot}/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    let name: string | undefined;
    for (const fd of fds) {
      if (++links > MAX_FD_LINKS) break;
      let target: string;
      try {
        target = await readlink(`${procRoot}/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (!m) continue;
      const inode = Number(m[1]);
      if (!wanted.has(inode) || found.has(inode)) continue;
      name ??= await readFile(`${procRoot}/${pid}/comm`, "utf8").then((s) => s.trim(), () => "?");
      found.set(inode, { pid, process: name });
    }
  }
  return found;
}
