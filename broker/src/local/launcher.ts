// The broker's only module that starts processes: it launches local agents for `hostward local up`
// (a development/demo fleet on loopback). The MCP serving path never spawns anything.
import { spawn } from "node:child_process";
import { existsSync, openSync, closeSync, readFileSync } from "node:fs";
import { join } from "node:path";

export type Role = "reader" | "operator";

/**
 * How node runs every agent unit, in one place: the systemd units' ExecStart= and Environment=
 * (systemd/hostward-*.service; test/packaging/units.test.ts checks they say exactly this),
 * `hostward local up` (launchAgent below) and the bench's agent measurement (test/bench/agent-self.ts).
 *
 * --max-semi-space-size=1: V8's young generation grows its semi-spaces to 8 MiB while the agent
 *   starts and never gives them back; the agent's per-call garbage is small and short-lived, so 1 MiB
 *   semi-spaces cost a few more (sub-millisecond) scavenges and ~6 MiB less idle RSS.
 */
export const AGENT_NODE_OPTIONS: readonly string[] = ["--max-semi-space-size=1"];

/**
 * glibc malloc's mmap threshold fixed at 32 KiB. By default glibc raises it to the size of the
 * largest mapped block freed so far (the agent's start frees multi-megabyte ones), after which
 * every block goes to the main heap; compiling the bundle at start takes ~9 MiB of V8 zone memory
 * in 32 KiB segments, which, freed in the middle of that heap, stays resident (~10 MiB of an idle
 * agent's RSS, more or less by chance). At 32 KiB those segments are mapped and unmapped instead.
 */
export const AGENT_ENVIRONMENT: Readonly<Record<string, string>> = { GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=32768" };

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
    const child = spawn(process.execPath, [...AGENT_NODE_OPTIONS, agentBundle(role), "--config", configFile, "--ready-file", readyFile], {
      detached: true,
      stdio: ["ignore", fd, fd],
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8", ...AGENT_ENVIRONMENT },
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
