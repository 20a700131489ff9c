// A Debian container booted with systemd-nspawn, as ENVIRONMENT.md prescribes for a machine whose
// PID 1 is not systemd: `setsid systemd-nspawn -D DIR -b -M NAME --register=no --keep-unit
// --console=pipe …`, commands inside through `nsenter -t <its systemd> -a`
// (machinectl / systemd-run -M need a host systemd), stop with SIGTERM to nspawn (~2 s).
//
//   const c = await bootContainer({ name: "web1", rootDir, netnsPath: "/run/netns/X", logFile });
//   await c.exec(["systemctl", "is-active", "nginx"]);   // {code, stdout, stderr}
//   c.path("/etc/hostward/agent.yaml")                     // the same file seen from the host
//   await c.stop();
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CLEAN_PATH, describeRun, run, waitFor, type RunOptions, type RunResult } from "./run";

export interface BootOptions {
  /** Machine name, also the container's host name (its /etc/hostname is removed). */
  name: string;
  rootDir: string;
  /** Join this network namespace (a path under /run/netns); default: a private one. */
  netnsPath?: string;
  logFile: string;
}

export interface Container {
  name: string;
  rootDir: string;
  /** The systemd-nspawn process (SIGTERM stops the container). */
  nspawnPid: number;
  /** The container's PID 1 (systemd), as seen from the host. */
  systemdPid: number;
  /** Runs argv inside every namespace of the container, with a clean environment. */
  exec(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Like exec, but throws unless the exit code is 0. */
  execOk(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** A path inside the container, reachable from the host through /proc/PID/root. */
  path(inside: string): string;
  /** The boot log so far (nspawn's console). */
  log(): string;
  stop(): Promise<void>;
}

/** The child of `parent` whose comm is `name` (pgrep -P PARENT -x NAME, without procps). */
function childNamed(parent: number, name: string): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // "PID (COMM) STATE PPID …": COMM may contain spaces and parentheses, so split at the last ")".
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      if (ppid === parent && comm === name) return Number(entry);
    } catch {
      // The process exited while we looked.
    }
  }
  return undefined;
}

/** Resolves when the child has exited, or could not be started at all ("error" without "exit"). */
function exitOf(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else {
      child.once("exit", () => resolve());
      child.once("error", () => resolve());
    }
  });
}

export async function bootContainer(opts: BootOptions): Promise<Container> {
  const args = [
    "systemd-nspawn",
    "-D",
    opts.rootDir,
    "-b",
    "-M",
    opts.name,
    "--register=no",
    "--keep-unit",
    "--console=pipe",
    opts.netnsPath ? `--network-namespace-path=${opts.netnsPath}` : "--private-network",
  ];
  const out = openSync(opts.logFile, "a");
  // Unattended, as ENVIRONMENT.md prescribes: its own session (setsid), no TTY, no stdin. setsid
  // execs in place here (its caller is not a group leader), so child.pid is nspawn's pid.
  const child = spawn("setsid", args, { stdio: ["ignore", out, out], env: { PATH: CLEAN_PATH, LANG: "C.UTF-8" } });
  closeSync(out);
  const exited = exitOf(child);
  const nspawnPid = child.pid;
  if (nspawnPid === undefined) throw new Error(`cannot start systemd-nspawn for ${opts.name}`);
  let gone = false;
  void exited.then(() => (gone = true));
  const log = () => (existsSync(opts.logFile) ? readFileSync(opts.logFile, "utf8") : "");

  const stop = async () => {
    if (!gone) {
      process.kill(nspawnPid, "SIGTERM");
      const timer = setTimeout(() => {
        if (!gone) process.kill(nspawnPid, "SIGKILL");
      }, 20_000);
      await exited;
      clearTimeout(timer);
    }
  };

  let systemdPid: number;
  try {
    systemdPid = await waitFor(
      `${opts.name}: systemd inside systemd-nspawn`,
      async () => {
        if (gone) throw new Error(`systemd-nspawn exited:\n${log()}`);
        return childNamed(nspawnPid, "systemd");
      },
      15_000,
      100,
    );
  } catch (err) {
    await stop();
    throw err;
  }

  const env = { PATH: CLEAN_PATH, LANG: "C.UTF-8", SYSTEMD_PAGER: "", SYSTEMD_COLORS: "0" };
  const exec = (argv: readonly string[], o: RunOptions = {}) => run("nsenter", ["-t", String(systemdPid), "-a", "--", ...argv], { env, ...o });
  const container: Container = {
    name: opts.name,
    rootDir: opts.rootDir,
    nspawnPid,
    systemdPid,
    exec,
    async execOk(argv, o) {
      const r = await exec(argv, o);
      if (r.code !== 0) throw new Error(`[${opts.name}] ${describeRun("", argv, r)}`);
      return r;
    },
    path: (inside) => join(`/proc/${systemdPid}/root`, inside),
    log,
    stop,
  };
  try {
    // "running" or "degraded" (a unit of the minimal image may fail; the tests check their own).
    // systemd is found before it has opened its bus socket: until then systemctl cannot connect.
    const state = await waitFor(
      `${opts.name}: the boot to finish (systemctl is-system-running --wait)`,
      async () => {
        if (gone) throw new Error(`systemd-nspawn exited:\n${log()}`);
        const r = await exec(["systemctl", "is-system-running", "--wait"], { timeoutMs: 60_000 });
        // "Failed to connect to bus" (systemd 252), "… to system scope bus via local transport" (257).
        if (r.stdout.trim() === "" && /connect to (?:system scope )?bus/i.test(r.stderr)) return undefined;
        // "offline": systemctl reached no manager yet (seen when three containers boot at once on a
        // loaded machine); systemd is PID 1 there, so wait for it like for the bus.
        if (r.stdout.trim() === "offline") return undefined;
        return r;
      },
      60_000,
      100,
    );
    const s = state.stdout.trim();
    if (s !== "running" && s !== "degraded") throw new Error(`${opts.name}: system state "${s}" ${state.stderr}\n${log()}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return container;
}
