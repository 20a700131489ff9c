// System diagnostics. Everything is read from /proc, /sys, /etc and statfs: nothing is spawned.
// (systeminformation was considered for the inventory diagnostics, but it runs `sh -c` pipelines
// such as `lsblk … 2>/dev/null` and `dmesg | grep …` with child_process.exec: a shell, outside
// exec.ts's program table, environment, deadline and spawn count. The files it parses are read
// here directly instead.)
import { commandPolicy } from "./proc/command-policy";
import { hostname, machine, release, version } from "node:os";
import { BLOCK_DEVICES_MAX, CPU_SAMPLE_MS, PER_CPU_MAX, systemDiagnostics } from "../../../proto/catalog/diagnostics/system";
import type { HandlerMap } from "./context";
import { listBlockDevices } from "./proc/block-devices";
import { readProcStat, utilisation } from "./proc/cpu-times";
import { onlineCpuCount, readCpuInventory } from "./proc/cpuinfo";
import { readDiskUsage } from "./proc/disk-usage";
import { readMeminfo } from "./proc/meminfo";
import { readMountinfo } from "./proc/mountinfo";
import { readOsRelease } from "./proc/os-release";
import { readProcessInfo } from "./proc/process-info";
import { readProcessList } from "./proc/process-list";
import { percent, readAttribute, readKernelFile, sampleDelay } from "./proc/read";
import { readTimezone, utcOffset } from "./proc/timezone";
import { detectContainer, detectVm } from "./proc/virtualization";

/** Seconds since boot, from /proc/uptime (first field). */
async function uptimeSeconds(): Promise<number> {
  return Number(readKernelFile("/proc/uptime").split(/\s+/)[0]);
}

export const systemHandlers: HandlerMap<typeof systemDiagnostics> = {
  async get_system_info() {
    const [osr, vm, container, stat, uptime, timezone, meminfo, cpus, vendor, product] = await Promise.all([
      readOsRelease(),
      detectVm(),
      detectContainer(),
      readProcStat(),
      uptimeSeconds(),
      readTimezone(),
      readMeminfo(),
      onlineCpuCount(),
      readAttribute("/sys/class/dmi/id/sys_vendor"),
      readAttribute("/sys/class/dmi/id/product_name"),
    ]);
    return {
      hostname: hostname(),
      os: {
        prettyName: osr.get("PRETTY_NAME") ?? osr.get("NAME") ?? null,
        id: osr.get("ID") ?? null,
        idLike: (osr.get("ID_LIKE") ?? "").split(/\s+/).filter(Boolean),
        versionId: osr.get("VERSION_ID") ?? null,
        versionCodename: osr.get("VERSION_CODENAME") ?? null,
      },
      kernel: { release: release(), version: version() },
      arch: machine(),
      hardware: { vendor, product },
      virtualization: { vm, container },
      logicalCpus: cpus,
      memoryTotalBytes: meminfo.get("MemTotal") ?? 0,
      bootTime: new Date(stat.bootTimeSeconds * 1000).toISOString(),
      uptimeSeconds: uptime,
      timezone,
      utcOffset: utcOffset(),
    };
  },

  async get_cpu_info(_input, ctx) {
    const [inventory, first] = await Promise.all([readCpuInventory(), readProcStat()]);
    const t0 = performance.now();
    await sampleDelay(CPU_SAMPLE_MS, ctx.signal);
    const second = await readProcStat();
    const perCpu = [...second.perCpu]
      .filter(([cpu]) => first.perCpu.has(cpu))
      .sort(([a], [b]) => a - b)
      .map(([cpu, times]) => {
        const u = utilisation(first.perCpu.get(cpu) ?? times, times);
        return { cpu, busyPercent: u.busyPercent, iowaitPercent: u.iowaitPercent };
      });
    return {
      ...inventory,
      sampleMs: Math.round(performance.now() - t0),
      utilisation: utilisation(first.total, second.total),
      perCpu: perCpu.slice(0, PER_CPU_MAX),
      perCpuTruncated: perCpu.length > PER_CPU_MAX,
    };
  },

  async get_load() {
    const [loadavg, uptime, cpus] = [readKernelFile("/proc/loadavg"), await uptimeSeconds(), await onlineCpuCount()];
    const [l1, l5, l15, tasks] = loadavg.trim().split(/\s+/);
    const [runnable, total] = (tasks ?? "0/0").split("/");
    return {
      load1: Number(l1),
      load5: Number(l5),
      load15: Number(l15),
      // Host-wide online CPUs: the load average counts every CPU, whatever the agent's affinity.
      cpus,
      runnable: Number(runnable),
      tasks: Number(total),
      uptimeSeconds: uptime,
    };
  },

  async get_memory_info() {
    const m = await readMeminfo();
    const get = (k: string) => m.get(k) ?? 0;
    const total = get("MemTotal");
    const cached = get("Cached") + get("SReclaimable");
    // MemAvailable exists since Linux 3.14; before it, free + buffers + cache approximates it.
    const available = m.get("MemAvailable") ?? get("MemFree") + get("Buffers") + cached;
    const swapTotal = get("SwapTotal");
    const swapFree = get("SwapFree");
    return {
      totalBytes: total,
      availableBytes: available,
      usedBytes: Math.max(0, total - available),
      usedPercent: percent(Math.max(0, total - available), total),
      freeBytes: get("MemFree"),
      buffersBytes: get("Buffers"),
      cachedBytes: cached,
      sharedBytes: get("Shmem"),
      swapTotalBytes: swapTotal,
      swapFreeBytes: swapFree,
      swapUsedBytes: Math.max(0, swapTotal - swapFree),
      swapUsedPercent: percent(Math.max(0, swapTotal - swapFree), swapTotal),
    };
  },

  async get_disk_usage(input) {
    return readDiskUsage(input.mountPoint);
  },

  async get_block_devices() {
    return listBlockDevices(await readMountinfo(), BLOCK_DEVICES_MAX);
  },

  async list_processes(input, ctx) {
    return readProcessList(input, ctx.signal, commandPolicy(ctx.config));
  },

  async get_process_info(input, ctx) {
    return readProcessInfo(input.pid, commandPolicy(ctx.config));
  },
};
