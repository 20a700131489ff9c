// get_disk_usage: mountinfo → storage mounts → statfs each (with a deadline) → df-like rows.
import type { StatsFs } from "node:fs";
import type { OutputOf } from "../../../../proto/catalog/define";
import { DISK_MOUNTS_MAX, STATFS_TIMEOUT_MS, type getDiskUsage } from "../../../../proto/catalog/diagnostics/system";
import { DiagnosticError } from "../context";
import { isStorageMount, readMountinfo, visibleMounts, type MountEntry } from "./mountinfo";
import { round1 } from "./read";
import { statfsWithTimeout } from "./statfs";

type DiskUsage = OutputOf<typeof getDiskUsage>;
type FilesystemRow = DiskUsage["filesystems"][number];

/** df's Use%: used / (used + available to unprivileged users), rounded up like df does. */
function usePercent(used: number, available: number): number | null {
  const denominator = used + available;
  return denominator > 0 ? Math.ceil((used / denominator) * 1000) / 10 : null;
}

function toRow(m: MountEntry, stats: StatsFs | null, error: string | null): FilesystemRow {
  const base = { mountPoint: m.mountPoint, device: m.source, fsType: m.fsType, readOnly: m.readOnly };
  if (stats === null) {
    return {
      ...base, totalBytes: null, usedBytes: null, availableBytes: null, usedPercent: null,
      inodesTotal: null, inodesUsed: null, inodesFree: null, inodesUsedPercent: null, error,
    };
  }
  const totalBytes = stats.blocks * stats.bsize;
  const usedBytes = (stats.blocks - stats.bfree) * stats.bsize;
  const availableBytes = stats.bavail * stats.bsize;
  const inodesUsed = Math.max(0, stats.files - stats.ffree);
  return {
    ...base,
    totalBytes,
    usedBytes,
    availableBytes,
    usedPercent: usePercent(usedBytes, availableBytes),
    inodesTotal: stats.files,
    inodesUsed,
    inodesFree: stats.ffree,
    inodesUsedPercent: stats.files > 0 ? round1((inodesUsed / stats.files) * 100) : null,
    error: null,
  };
}

/** "/var/" → "/var"; "/" stays "/". Mount points in mountinfo never end with a slash. */
function normalise(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, "") : path;
}

export async function readDiskUsage(mountPoint: string | undefined): Promise<DiskUsage> {
  const mounts = visibleMounts(await readMountinfo());
  let chosen: MountEntry[];
  if (mountPoint !== undefined) {
    // An explicit mount point is honoured even for pseudo filesystems: the caller asked for it.
    const wanted = normalise(mountPoint);
    const found = mounts.find((m) => m.mountPoint === wanted);
    if (!found) {
      throw new DiagnosticError("NOT_FOUND", `mountPoint: nothing is mounted at ${wanted} (give the exact mount point, e.g. "/" or "/var")`);
    }
    chosen = [found];
  } else {
    chosen = mounts.filter(isStorageMount);
  }
  const capped = chosen.slice(0, DISK_MOUNTS_MAX);
  const filesystems = await Promise.all(
    capped.map(async (m) => {
      const r = await statfsWithTimeout(m.mountPoint, STATFS_TIMEOUT_MS);
      return r.ok ? toRow(m, r.stats, null) : toRow(m, null, r.error);
    }),
  );
  return { filesystems, totalMounts: chosen.length, truncated: chosen.length > capped.length };
}
