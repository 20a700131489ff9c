// /proc/self/mountinfo parsing and the "which mounts are real storage" rule of get_disk_usage.
import { readKernelFile } from "./read";

export interface MountEntry {
  /** "major:minor" of the filesystem's device (st_dev); anonymous for btrfs subvolumes, tmpfs… */
  majorMinor: string;
  /** Path inside the filesystem that is mounted (not "/" for bind mounts). */
  root: string;
  mountPoint: string;
  fsType: string;
  /** What was mounted: "/dev/vda1", "server:/export", "tmpfs", "overlay"… */
  source: string;
  readOnly: boolean;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * One line: "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue".
 * Optional fields (master:1 …) run up to the lone "-" separator.
 */
function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const sep = fields.indexOf("-", 6);
    if (fields.length < 10 || sep < 0) continue;
    const options = (fields[5] ?? "").split(",");
    out.push({
      majorMinor: fields[2] ?? "",
      root: unescapeOctal(fields[3] ?? ""),
      mountPoint: unescapeOctal(fields[4] ?? ""),
      fsType: fields[sep + 1] ?? "",
      source: unescapeOctal(fields[sep + 2] ?? ""),
      readOnly: options.includes("ro"),
    });
  }
  return out;
}

export async function readMountinfo(): Promise<MountEntry[]> {
  return parseMountinfo(readKernelFile("/proc/self/mountinfo"));
}

/**
 * Kernel interfaces that look like filesystems but hold no user data, and filesystems whose
 * usage is meaningless (squashfs images are always 100 % full; devtmpfs sizes are nominal).
 */
const PSEUDO_FS_TYPES: ReadonlySet<string> = new Set([
  "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts", "devtmpfs",
  "efivarfs", "fusectl", "hugetlbfs", "mqueue", "nsfs", "proc", "pstore", "ramfs", "rpc_pipefs",
  "securityfs", "selinuxfs", "squashfs", "sysfs", "tracefs", "fuse.lxcfs", "fuse.gvfsd-fuse", "fuse.portal",
]);

/**
 * The rule of get_disk_usage: a mount counts as storage unless its type is in PSEUDO_FS_TYPES or
 * it sits under /proc or /sys (lxcfs and friends). tmpfs is KEPT (a full /run or /dev/shm breaks
 * services), and so are overlay (container roots), network filesystems and fuse mounts.
 */
export function isStorageMount(m: MountEntry): boolean {
  if (PSEUDO_FS_TYPES.has(m.fsType)) return false;
  return !/^\/(?:proc|sys)(?:\/|$)/.test(m.mountPoint);
}

/**
 * One entry per mount point: when a path is mounted over, the last mount is the visible one
 * (mountinfo lists mounts in mount order), which is also what statfs on that path reports.
 */
export function visibleMounts(mounts: readonly MountEntry[]): MountEntry[] {
  const byPoint = new Map<string, MountEntry>();
  for (const m of mounts) {
    byPoint.delete(m.mountPoint);
    byPoint.set(m.mountPoint, m);
  }
  return [...byPoint.values()];
}
