// /proc/meminfo → bytes. Lines are "Name:   1234 kB"; HugePages_* counts carry no unit.
import { readKernelFile } from "./read";

function parseMeminfo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([^:]+):\s+(\d+)(?:\s+kB)?\s*$/.exec(line);
    if (!m) continue;
    const value = Number(m[2]);
    out.set(m[1] as string, line.trimEnd().endsWith("kB") ? value * 1024 : value);
  }
  return out;
}

export async function readMeminfo(): Promise<Map<string, number>> {
  return parseMeminfo(readKernelFile("/proc/meminfo"));
}
