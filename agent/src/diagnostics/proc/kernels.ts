// Installed kernels (for get_reboot_required): /lib/modules/<version> directories that hold a
// real module tree, and /boot/vmlinuz-<version> images.
import { access, readdir } from "node:fs/promises";
import { join } from "node:path";

async function names(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

/**
 * Package removal can leave an empty /lib/modules/<version> (or one holding only DKMS leftovers),
 * so a version counts only when its modules.dep exists or /boot holds its image. `root` lets tests
 * point at a prepared tree; the diagnostic always reads "/".
 */
export async function installedKernels(root = "/"): Promise<string[]> {
  const found = new Set<string>();
  for (const f of await names(join(root, "boot"))) {
    if (f.startsWith("vmlinuz-")) found.add(f.slice("vmlinuz-".length));
  }
  for (const v of await names(join(root, "lib/modules"))) {
    const hasTree = await access(join(root, "lib/modules", v, "modules.dep")).then(() => true, () => false);
    if (hasTree) found.add(v);
  }
  return [...found].filter((v) => v !== "" && !v.endsWith(".old")).sort(compareVersions);
}

/**
 * Orders version strings by their runs of digits numerically and the rest as text, so
 * "6.1.0-18-amd64" > "6.1.0-9-amd64" and "5.14.0-362.8.1.el9_3" > "5.14.0-70.13.1.el9_0".
 */
export function compareVersions(a: string, b: string): number {
  const split = (s: string) => s.match(/\d+|\D+/g) ?? [];
  const pa = split(a);
  const pb = split(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return Math.sign(d);
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return 0;
}
