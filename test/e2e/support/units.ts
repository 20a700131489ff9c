// Questions about systemd units inside a container, asked the way an administrator would
// (systemctl, /proc/PID/status, systemd-analyze), plus installing the packages under test.
import { copyFileSync } from "node:fs";
import { basename } from "node:path";
import type { Container } from "./container";
import { waitFor } from "./run";

export const UNITS = ["hostward-reader.service", "hostward-operator.service"] as const;

export async function activeState(c: Container, unit: string): Promise<string> {
  return (await c.exec(["systemctl", "is-active", unit])).stdout.trim();
}

export async function unitProperty(c: Container, unit: string, property: string): Promise<string> {
  return (await c.execOk(["systemctl", "show", `--property=${property}`, "--value", "--", unit])).stdout.trim();
}

export async function mainPid(c: Container, unit: string): Promise<number> {
  return Number(await unitProperty(c, unit, "MainPID"));
}

/** Waits until every unit is active with a main process; returns their MainPIDs. */
export async function waitActive(c: Container, units: readonly string[], timeoutMs = 30_000): Promise<number[]> {
  return waitFor(
    `${c.name}: ${units.join(", ")} active`,
    async () => {
      const pids: number[] = [];
      for (const u of units) {
        const pid = await mainPid(c, u);
        if ((await activeState(c, u)) !== "active" || pid === 0) return undefined;
        pids.push(pid);
      }
      return pids;
    },
    timeoutMs,
    250,
  );
}

/** Why a unit is not active, for assertion messages. */
export async function unitReport(c: Container, unit: string): Promise<string> {
  const status = await c.exec(["systemctl", "status", "--no-pager", "--lines=30", "--", unit]);
  return `${status.stdout}${status.stderr}`;
}

/** /proc/PID/status of a process inside the container, as a map ("Uid" → "998\t998\t998\t998"). */
export async function procStatus(c: Container, pid: number): Promise<Map<string, string>> {
  const text = (await c.execOk(["cat", `/proc/${pid}/status`])).stdout;
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const i = line.indexOf(":");
    if (i > 0) fields.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return fields;
}

export async function uidOf(c: Container, user: string): Promise<number> {
  return Number((await c.execOk(["id", "-u", "--", user])).stdout.trim());
}

/** `systemd-analyze security UNIT` on the running unit: the "Overall exposure level" number. */
export async function exposure(c: Container, unit: string): Promise<number> {
  const r = await c.exec(["systemd-analyze", "security", "--no-pager", "--", unit]);
  const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(r.stdout);
  if (!m?.[1]) throw new Error(`no exposure level for ${unit}:\n${r.stdout.slice(-2000)}\n${r.stderr}`);
  return Number(m[1]);
}

/**
 * Installs a package file as the README says (`apt install ./hostward-agent_….deb`), copied into
 * the container's /root: apt resolves the dependencies from the distribution's archive (the
 * container's package index; nodejs's .debs are in its apt cache, the container has no network)
 * and runs every maintainer script. Nothing is forced. Returns apt's output.
 */
export async function aptInstall(c: Container, debFile: string): Promise<string> {
  const inside = `/root/${basename(debFile)}`;
  copyFileSync(debFile, c.path(inside));
  const r = await c.execOk(["apt-get", "install", "-y", inside], { timeoutMs: 180_000, env: APT_ENV });
  return r.stdout + r.stderr;
}

/** apt-get's environment inside a container: no debconf questions, no pager. */
export const APT_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8", DEBIAN_FRONTEND: "noninteractive" };

/** VmRSS of a process inside the container, in KiB. */
export async function rssKiB(c: Container, pid: number): Promise<number> {
  const rss = (await procStatus(c, pid)).get("VmRSS") ?? "";
  const m = /^(\d+) kB$/.exec(rss);
  if (!m?.[1]) throw new Error(`no VmRSS for pid ${pid}: "${rss}"`);
  return Number(m[1]);
}
