// A generated log file for the search benchmark: syslog-like lines of varied length and content
// (timestamps, hosts, units, pids, request paths, levels), with a rare needle planted at known
// lines so every tool must read the whole file and finds the same matches.
import { closeSync, openSync, writeSync } from "node:fs";

export const NEEDLE = "kernel: hwbench-needle-7f3a";
const UNITS = ["nginx", "sshd", "cron", "systemd", "app", "postgres", "kernel", "dockerd", "unbound", "caddy"];
const LEVELS = ["INFO", "INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"];
const WORDS = ["request", "completed", "upstream", "timeout", "connection", "accepted", "closed", "session", "opened", "for", "user", "GET", "POST", "/api/v1/items", "status", "bytes", "retry", "cache", "miss", "hit"];

/** Writes at most `bytes` of log, whole lines only; returns the line count and how many needles. */
export function writeLogFile(path: string, bytes: number, needleEvery = 1_000_000): { lines: number; needles: number; bytes: number } {
  // Build a 16 MiB block of lines once (deterministic pseudo-random), then write it repeatedly,
  // planting the needle every `needleEvery` lines.
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const block: string[] = [];
  let blockBytes = 0;
  while (blockBytes < 16 * 1024 * 1024) {
    const words = Array.from({ length: 4 + rnd(14) }, () => WORDS[rnd(WORDS.length)]).join(" ");
    const line = `2026-11-21T${String(rnd(24)).padStart(2, "0")}:${String(rnd(60)).padStart(2, "0")}:${String(rnd(60)).padStart(2, "0")}.${String(rnd(1000)).padStart(3, "0")}Z host${rnd(50)} ${UNITS[rnd(UNITS.length)]}[${1000 + rnd(30000)}]: ${LEVELS[rnd(LEVELS.length)]} ${words} id=${rnd(1e9).toString(16)}`;
    block.push(line);
    blockBytes += line.length + 1;
  }
  const fd = openSync(path, "w", 0o644);
  let written = 0;
  let lines = 0;
  let needles = 0;
  try {
    while (written < bytes) {
      const out: string[] = [];
      for (const l of block) {
        lines++;
        if (lines % needleEvery === 0) {
          needles++;
          out.push(`${l.slice(0, 40)} ${NEEDLE} planted ${needles}`);
        } else out.push(l);
      }
      let buf = Buffer.from(`${out.join("\n")}\n`, "latin1");
      if (written + buf.length > bytes) {
        // The last block is cut after the last whole line that fits.
        buf = buf.subarray(0, buf.lastIndexOf(0x0a, bytes - written - 1) + 1);
        lines -= out.length - buf.toString("latin1").split("\n").length + 1;
        if (buf.length === 0) break;
      }
      writeSync(fd, buf);
      written += buf.length;
    }
  } finally {
    closeSync(fd);
  }
  return { lines, needles, bytes: written };
}
