// Facts about the machine a run happened on, read when the run starts (and the load at its end).
import { readFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { run } from "./util";

export interface MachineFacts {
  date: string;
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  os: string;
  node: string;
  openssh: string;
  grep: string;
  ripgrep: string;
  loadAvgStart: number[];
  loadAvgEnd?: number[];
  gitCommit: string;
  gitDirty: boolean;
}

async function firstLine(cmd: string, args: string[]): Promise<string> {
  try {
    const r = await run(cmd, args);
    return `${r.stdout}${r.stderr}`.split("\n")[0]?.trim() ?? "";
  } catch (err) {
    return `unavailable (${(err as Error).message.slice(0, 80)})`;
  }
}

export async function machineFacts(root: string): Promise<MachineFacts> {
  const osRelease = readFileSync("/etc/os-release", "utf8");
  return {
    date: new Date().toISOString(),
    cpuModel: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    os: /^PRETTY_NAME="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? "unknown",
    node: process.version,
    openssh: await firstLine("ssh", ["-V"]),
    grep: await firstLine("grep", ["--version"]),
    ripgrep: await firstLine("rg", ["--version"]),
    loadAvgStart: loadavg().map((x) => Math.round(x * 100) / 100),
    gitCommit: (await firstLine("git", ["-C", root, "rev-parse", "--short", "HEAD"])) || "unknown",
    gitDirty: (await run("git", ["-C", root, "status", "--porcelain", "--", "agent", "broker", "proto"]).catch(() => ({ stdout: "" }))).stdout.trim() !== "",
  };
}
