// Which process owns a socket: its inode appears as a "socket:[INODE]" link in /proc/PID/fd.
// The reader agent may not read other users' fd directories; those sockets keep a null owner.
// Bounded: at most MAX_PROCESSES processes and MAX_FD_LINKS links are examined per call, a few
// processes at a time, and the scan stops as soon as every wanted inode is found.
import { readdir, readFile, readlink } from "node:fs/promises";

const MAX_PROCESSES = 8192;
const MAX_FD_LINKS = 200_000;
const CONCURRENT_PROCESSES = 16;

export interface SocketOwner {
  pid: number;
  process: string;
}

/** Socket inodes held open by one process (empty when its fd directory cannot be read). */
async function socketInodes(procRoot: string, pid: number, budget: { links: number }): Promise<number[]> {
  let fds: string[];
  try {
    fds = await readdir(`${procRoot}/${pid}/fd`);
  } catch {
    return []; // gone, or not ours to read
  }
  const take = fds.slice(0, Math.max(budget.links, 0));
  budget.links -= take.length;
  const targets = await Promise.all(take.map((fd) => readlink(`${procRoot}/${pid}/fd/${fd}`).catch(() => "")));
  const out: number[] = [];
  for (const t of targets) {
    const m = /^socket:\[(\d+)\]$/.exec(t);
    if (m) out.push(Number(m[1]));
  }
  return out;
}

/** Maps each wanted socket inode to its first owning process found (lowest pid first). */
export async function findSocketOwners(inodes: Iterable<number>, procRoot = "/proc"): Promise<Map<number, SocketOwner>> {
  const wanted = new Set<number>();
  for (const i of inodes) if (i > 0) wanted.add(i);
  const found = new Map<number, SocketOwner>();
  if (wanted.size === 0) return found;

  let pids: number[];
  try {
    pids = (await readdir(procRoot))
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .sort((a, b) => a - b)
      .slice(0, MAX_PROCESSES);
  } catch {
    return found;
  }
  const budget = { links: MAX_FD_LINKS };
  for (let i = 0; i < pids.length && found.size < wanted.size && budget.links > 0; i += CONCURRENT_PROCESSES) {
    const batch = pids.slice(i, i + CONCURRENT_PROCESSES);
    const held = await Promise.all(batch.map((pid) => socketInodes(procRoot, pid, budget)));
    for (const [k, pid] of batch.entries()) {
      const mine = held[k]!.filter((inode) => wanted.has(inode) && !found.has(inode));
      if (mine.length === 0) continue;
      const name = await readFile(`${procRoot}/${pid}/comm`, "utf8").then(
        (s) => s.trim(),
        () => "?",
      );
      for (const inode of mine) found.set(inode, { pid, process: name });
    }
  }
  return found;
}
