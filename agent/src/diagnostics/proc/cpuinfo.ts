// /proc/cpuinfo and /sys/devices/system/cpu: model, vendor, topology, clock.
import { parseColonLines, readAttribute, readOptional, readKernelFile } from "./read";

export interface CpuInventory {
  model: string | null;
  vendor: string | null;
  /** CPUs the kernel has online (threads). */
  logicalCpus: number;
  /** Distinct (package, core) pairs; null when the kernel exposes no topology. */
  physicalCores: number | null;
  sockets: number | null;
  /** Average current clock over online CPUs, MHz; null when not exposed (many VMs, ARM). */
  mhz: number | null;
  /** Highest clock the CPU reports (cpufreq), MHz; null when not exposed. */
  maxMhz: number | null;
}

/** ARM "CPU implementer" codes of the common vendors (cpuinfo gives no vendor string on ARM). */
const ARM_IMPLEMENTERS: Readonly<Record<string, string>> = {
  "0x41": "ARM", "0x42": "Broadcom", "0x43": "Cavium", "0x46": "Fujitsu", "0x48": "HiSilicon",
  "0x4e": "NVIDIA", "0x50": "APM", "0x51": "Qualcomm", "0x61": "Apple", "0xc0": "Ampere",
};

/** Each "processor : N" block of /proc/cpuinfo as a key → value map. */
function parseCpuinfo(text: string): Map<string, string>[] {
  return text
    .split(/\n\s*\n/)
    .map(parseColonLines)
    .filter((m) => m.has("processor"));
}

/** Online CPU numbers from a kernel list such as "0-3,8,10-11". */
function parseCpuList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.trim().split(",")) {
    const [a, b] = part.split("-").map(Number);
    if (a === undefined || Number.isNaN(a)) continue;
    for (let i = a; i <= (b ?? a) && out.length < 65536; i++) out.push(i);
  }
  return out;
}

async function topology(cpus: number[]): Promise<{ cores: number | null; sockets: number | null }> {
  const cores = new Set<string>();
  const sockets = new Set<string>();
  for (const cpu of cpus) {
    const base = `/sys/devices/system/cpu/cpu${cpu}/topology`;
    const [pkg, core] = await Promise.all([readAttribute(`${base}/physical_package_id`), readAttribute(`${base}/core_id`)]);
    if (pkg === null || core === null) return { cores: null, sockets: null };
    cores.add(`${pkg}:${core}`);
    sockets.add(pkg);
  }
  return cpus.length > 0 ? { cores: cores.size, sockets: sockets.size } : { cores: null, sockets: null };
}

async function maxClockMhz(): Promise<number | null> {
  const khz = await readAttribute("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq");
  return khz !== null && /^\d+$/.test(khz) ? Math.round(Number(khz) / 1000) : null;
}

export async function readCpuInventory(): Promise<CpuInventory> {
  const blocks = parseCpuinfo((await readOptional("/proc/cpuinfo")) ?? "");
  const first = blocks[0] ?? new Map<string, string>();
  const online = parseCpuList((await readAttribute("/sys/devices/system/cpu/online")) ?? "");
  const cpus = online.length > 0 ? online : blocks.map((b) => Number(b.get("processor")));
  // x86 names the model and vendor; ARM, POWER and others use other keys.
  const model = first.get("model name") ?? first.get("Processor") ?? first.get("cpu model") ?? first.get("cpu") ?? null;
  const implementer = first.get("CPU implementer");
  const vendor = first.get("vendor_id") ?? (implementer ? ARM_IMPLEMENTERS[implementer] ?? implementer : null);
  const clocks = blocks.map((b) => Number(b.get("cpu MHz"))).filter((n) => Number.isFinite(n) && n > 0);
  const topo = await topology(cpus.slice(0, 4096));
  return {
    model,
    vendor,
    logicalCpus: cpus.length,
    physicalCores: topo.cores,
    sockets: topo.sockets,
    mhz: clocks.length > 0 ? Math.round(clocks.reduce((a, b) => a + b, 0) / clocks.length) : null,
    maxMhz: await maxClockMhz(),
  };
}

/** CPUs the kernel has online (host-wide, unlike availableParallelism() which follows affinity). */
export async function onlineCpuCount(): Promise<number> {
  let text = "";
  try {
    text = readKernelFile("/sys/devices/system/cpu/online").trim();
  } catch {
    // no sysfs (some containers): fall back to /proc/cpuinfo
  }
  const online = parseCpuList(text);
  if (online.length > 0) return online.length;
  return parseCpuinfo((await readOptional("/proc/cpuinfo")) ?? "").length || 1;
}
