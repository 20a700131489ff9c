// The broker's only module that starts processes: it launches local agents for `hostward local up`
// (a development/demo fleet on loopback). The MCP serving path never spawns anything.
import { spawn } from "node:child_process";
import { existsSync, openSync, closeSync, readFileSync } from "node:fs";
import { join } from "node:path";

export type Role = "reader" | "operator";

/** dist/agent/ next to the CLI bundle (dist/hostward.cjs), or $HOSTWARD_AGENT_DIR. */
export function agentBundle(role: Role | "action"): string {
  const dir = process.env.HOSTWARD_AGENT_DIR ?? join(__dirname, "agent");
  const file = join(dir, `hostward-${role}.cjs`);
  if (!existsSync(file)) {
    throw new Error(`agent bundle not found: ${file} (run "npm run build" first, or set HOSTWARD_AGENT_DIR)`);
  }
  return file;
}

/** Starts a detached agent whose stdout/stderr go to `logFile`; returns its pid. */
export function launchAgent(role: Role, configFile: string, readyFile: string, logFile: string): number {
  const fd = openSync(logFile, "a", 0o600);
  try {
    const child = spawn(process.execPath, [agentBundle(role), "--config", configFile, "--ready-file", readyFile], {
      detached: true,
      stdio: ["ignore", fd, fd],
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" },
      windowsHide: true,
    });
    if (child.pid === undefined) throw new Error(`could not start the ${role} agent`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** True when `pid` is alive and is one of our agents (guards against pid reuse). */
export function isOurAgent(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return /hostward-(reader|operator)\.cjs/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8"));
  } catch {
    // No /proc (macOS): trust the pid recorded by `local up`.
    return process.platform !== "linux";
  }
}
