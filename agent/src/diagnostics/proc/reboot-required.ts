// get_reboot_required: the distribution's own flag (Debian/Ubuntu) and a kernel check that
// works everywhere (RHEL-like systems included): a newer kernel installed than the one running.
import { release } from "node:os";
import { join } from "node:path";
import type { OutputOf } from "../../../../proto/catalog/define";
import { KERNELS_MAX, REBOOT_PACKAGES_MAX, type getRebootRequired } from "../../../../proto/catalog/diagnostics/health";
import { compareVersions, installedKernels } from "./kernels";
import { readOptional } from "./read";

type Output = OutputOf<typeof getRebootRequired>;

/** /run is the real location; /var/run is a symlink to it on every current distribution. */
const FLAG_FILES = ["/run/reboot-required", "/var/run/reboot-required"];

async function firstReadable(paths: string[]): Promise<string | null> {
  for (const p of paths) {
    const text = await readOptional(p).catch(() => null);
    if (text !== null) return text;
  }
  return null;
}

/** `root` and `running` exist for tests (a prepared tree, a chosen kernel); the handler uses the host's. */
export async function readRebootRequired(root = "/", running = release()): Promise<Output> {
  const reasons: string[] = [];
  const notes: string[] = [];
  let packages: string[] = [];

  const flagFiles = FLAG_FILES.map((f) => join(root, f));
  const flag = await firstReadable(flagFiles);
  if (flag !== null) {
    const pkgs = await firstReadable(flagFiles.map((f) => `${f}.pkgs`));
    const all = [...new Set((pkgs ?? "").split("\n").map((s) => s.trim()).filter(Boolean))];
    packages = all.slice(0, REBOOT_PACKAGES_MAX);
    reasons.push(
      all.length > 0
        ? `/run/reboot-required exists, requested by ${all.length} package(s): ${packages.slice(0, 5).join(", ")}${all.length > 5 ? ", …" : ""}`
        : "/run/reboot-required exists",
    );
  }

  const kernels = await installedKernels(root);
  const newest = kernels.at(-1) ?? null;
  if (newest === null) {
    notes.push("no installed kernel found in /boot or /lib/modules (a container, or kernels managed outside the OS): kernel not compared");
  } else if (compareVersions(newest, running) > 0) {
    reasons.push(`kernel ${newest} is installed but ${running} is running`);
  } else if (!kernels.includes(running)) {
    notes.push(`the running kernel ${running} is not among the installed ones; none of them is newer`);
  }

  return {
    required: reasons.length > 0,
    reasons,
    packages,
    runningKernel: running,
    newestInstalledKernel: newest,
    installedKernels: kernels.slice(-KERNELS_MAX),
    notes,
  };
}
