// Virtual machine and container detection from files only (a subset of systemd-detect-virt's
// rules; the CPUID leaf it also reads is not reachable from Node without native code).
import { access } from "node:fs/promises";
import { release } from "node:os";
import { readAttribute, readOptional } from "./read";

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** DMI vendor/product strings → systemd-detect-virt's names. */
const DMI_VENDORS: [RegExp, string][] = [
  [/KVM/i, "kvm"],
  [/Amazon EC2/i, "amazon"],
  [/QEMU/i, "qemu"],
  [/VMware/i, "vmware"],
  [/innotek|VirtualBox|Oracle Corporation/i, "oracle"],
  [/Xen/i, "xen"],
  [/Bochs/i, "bochs"],
  [/Parallels/i, "parallels"],
  [/BHYVE/i, "bhyve"],
  [/Google/i, "google"],
  [/Apple Virtualization/i, "apple"],
];

/**
 * The hypervisor's name; "unidentified" when the CPU says it runs under a hypervisor but no
 * vendor string is visible (e.g. no DMI tables); null when no sign of one (bare metal).
 */
export async function detectVm(): Promise<string | null> {
  const dmi = await Promise.all(
    ["sys_vendor", "product_name", "board_vendor", "bios_vendor"].map((f) => readAttribute(`/sys/class/dmi/id/${f}`)),
  );
  const text = dmi.filter((s) => s !== null).join(" ");
  if (/Microsoft Corporation/i.test(text) && /Virtual Machine/i.test(text)) return "microsoft";
  for (const [re, name] of DMI_VENDORS) if (re.test(text)) return name;
  const hypervisor = await readAttribute("/sys/hypervisor/type");
  if (hypervisor) return hypervisor; // "xen"
  const cpuinfo = (await readOptional("/proc/cpuinfo")) ?? "";
  return /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo) ? "unidentified" : null;
}

/** The container manager's name ("docker", "podman", "lxc", "systemd-nspawn", "wsl", …) or null. */
export async function detectContainer(): Promise<string | null> {
  // systemd (and nspawn) write this for every container they start.
  const marker = await readAttribute("/run/systemd/container");
  if (marker) return marker;
  // PID 1's environment carries container=… under most managers; readable by root only.
  const environ = await readOptional("/proc/1/environ").catch(() => null);
  const fromEnv = environ?.split("\0").find((e) => e.startsWith("container="));
  if (fromEnv) return fromEnv.slice("container=".length) || "container";
  if (await exists("/run/.containerenv")) return "podman";
  if (await exists("/.dockerenv")) return "docker";
  const cgroup = (await readOptional("/proc/1/cgroup").catch(() => null)) ?? "";
  if (/\/(?:docker|kubepods)[/-]/.test(cgroup)) return "docker";
  if (/\/lxc[/.]/.test(cgroup)) return "lxc";
  if ((await exists("/proc/vz")) && !(await exists("/proc/bc"))) return "openvz";
  if (/microsoft/i.test(release())) return "wsl";
  return null;
}
