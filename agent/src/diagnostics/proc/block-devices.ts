// Block devices from /sys/block (disks and their partitions), with mount points matched from
// mountinfo. Read from sysfs rather than lsblk so nothing is spawned.
import { readdir } from "node:fs/promises";
import type { MountEntry } from "./mountinfo";
import { readAttribute } from "./read";

export interface BlockDevice {
  name: string;
  type: string;
  /** The disk a partition belongs to; null for whole devices. */
  parent: string | null;
  sizeBytes: number;
  model: string | null;
  vendor: string | null;
  removable: boolean;
  rotational: boolean | null;
  readOnly: boolean;
  mountPoints: string[];
  fsType: string | null;
}

/** The device's kind from its kernel name (what lsblk shows as TYPE, roughly). */
function deviceType(name: string): string {
  if (name.startsWith("loop")) return "loop";
  if (name.startsWith("dm-")) return "dm";
  if (name.startsWith("md")) return "raid";
  if (name.startsWith("sr")) return "rom";
  if (name.startsWith("zram")) return "zram";
  if (name.startsWith("nbd")) return "nbd";
  if (name.startsWith("ram")) return "ram";
  return "disk";
}

/** Bus vendor ids sysfs shows instead of a name (virtio disks report the PCI id of Red Hat). */
const VENDOR_IDS: Readonly<Record<string, string>> = { "0x1af4": "virtio" };

/** sysfs "size" is always in 512-byte sectors, whatever the device's logical block size. */
const SECTOR = 512;

async function describe(dir: string, name: string, parent: string | null, mounts: readonly MountEntry[]): Promise<BlockDevice> {
  const attr = (f: string) => readAttribute(`${dir}/${f}`);
  const [size, dev, removable, ro, rotational, model, vendor, dmName] = await Promise.all([
    attr("size"), attr("dev"), attr("removable"), attr("ro"), attr("queue/rotational"),
    attr("device/model"), attr("device/vendor"), attr("dm/name"),
  ]);
  // Match by device number, and by source path for filesystems (btrfs) that report an
  // anonymous st_dev in mountinfo.
  const sources = new Set([`/dev/${name}`, ...(dmName ? [`/dev/mapper/${dmName}`] : [])]);
  const mine = mounts.filter((m) => m.majorMinor === dev || sources.has(m.source));
  return {
    name: dmName ?? name,
    type: parent ? "part" : deviceType(name),
    parent,
    sizeBytes: Number(size ?? 0) * SECTOR,
    model,
    vendor: vendor === null ? null : VENDOR_IDS[vendor.toLowerCase()] ?? vendor,
    // Partitions inherit the disk's removable and rotational flags (the caller fills them).
    removable: removable === "1",
    rotational: rotational === null ? null : rotational === "1",
    readOnly: ro === "1",
    mountPoints: [...new Set(mine.map((m) => m.mountPoint))],
    fsType: mine[0]?.fsType ?? null,
  };
}

/**
 * Every device under /sys/block and its partitions, at most `max` entries. Empty loop devices
 * (size 0, nothing attached) are left out: on most hosts they are unused placeholders.
 */
export async function listBlockDevices(mounts: readonly MountEntry[], max: number): Promise<{ devices: BlockDevice[]; truncated: boolean }> {
  const devices: BlockDevice[] = [];
  const names = (await readdir("/sys/block")).sort();
  for (const name of names) {
    if (devices.length >= max) return { devices, truncated: true };
    const dir = `/sys/block/${name}`;
    const disk = await describe(dir, name, null, mounts);
    if (disk.type === "loop" && disk.sizeBytes === 0) continue;
    devices.push(disk);
    const children = (await readdir(dir)).filter((c) => c.startsWith(name)).sort();
    for (const child of children) {
      if ((await readAttribute(`${dir}/${child}/partition`)) === null) continue;
      if (devices.length >= max) return { devices, truncated: true };
      const part = await describe(`${dir}/${child}`, child, disk.name, mounts);
      devices.push({ ...part, removable: disk.removable, rotational: disk.rotational, model: null, vendor: null });
    }
  }
  return { devices, truncated: false };
}
