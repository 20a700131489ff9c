// /proc/stat: CPU time counters (utilisation from two samples) and the boot time.
import { readFile } from "node:fs/promises";
import { percent } from "./read";

/** Ticks (USER_HZ) spent per state since boot. guest/guest_nice are already inside user/nice. */
export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

export interface ProcStatSnapshot {
  total: CpuTimes;
  /** Online CPUs only, keyed by CPU number (offline CPUs have no line). */
  perCpu: Map<number, CpuTimes>;
  /** Boot time, seconds since the epoch ("btime"). */
  bootTimeSeconds: number;
}

function toTimes(fields: string[]): CpuTimes {
  const n = (i: number) => Number(fields[i] ?? 0) || 0;
  return { user: n(0), nice: n(1), system: n(2), idle: n(3), iowait: n(4), irq: n(5), softirq: n(6), steal: n(7) };
}

function parseProcStat(text: string): ProcStatSnapshot {
  let total: CpuTimes | undefined;
  const perCpu = new Map<number, CpuTimes>();
  let bootTimeSeconds = 0;
  for (const line of text.split("\n")) {
    const [key, ...fields] = line.trim().split(/\s+/);
    if (key === "cpu") total = toTimes(fields);
    else if (key?.startsWith("cpu")) perCpu.set(Number(key.slice(3)), toTimes(fields));
    else if (key === "btime") bootTimeSeconds = Number(fields[0]);
  }
  if (!total) throw new Error("/proc/stat has no aggregate cpu line");
  return { total, perCpu, bootTimeSeconds };
}

export async function readProcStat(): Promise<ProcStatSnapshot> {
  return parseProcStat(await readFile("/proc/stat", "utf8"));
}

export interface Utilisation {
  userPercent: number;
  systemPercent: number;
  iowaitPercent: number;
  stealPercent: number;
  idlePercent: number;
  busyPercent: number;
}

/** Share of each state between two samples of the same counters (nice counts as user). */
export function utilisation(a: CpuTimes, b: CpuTimes): Utilisation {
  const d = (k: keyof CpuTimes) => Math.max(0, b[k] - a[k]);
  const all = d("user") + d("nice") + d("system") + d("idle") + d("iowait") + d("irq") + d("softirq") + d("steal");
  const idle = d("idle") + d("iowait");
  return {
    userPercent: percent(d("user") + d("nice"), all),
    systemPercent: percent(d("system") + d("irq") + d("softirq"), all),
    iowaitPercent: percent(d("iowait"), all),
    stealPercent: percent(d("steal"), all),
    idlePercent: percent(d("idle"), all),
    busyPercent: percent(all - idle, all),
  };
}
