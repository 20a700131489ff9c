// Host health diagnostics on this real machine (no systemd as PID 1), plus get_reboot_required's
// rules on prepared directory trees laid out as Debian and RHEL-like hosts lay them out.
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { z } from "zod";
import * as catalog from "../../proto/catalog/diagnostics/health";
import { healthHandlers } from "../../agent/src/diagnostics/health";
import { agentCounters } from "../../agent/src/server/counters";
import { compareVersions } from "../../agent/src/diagnostics/proc/kernels";
import { readRebootRequired } from "../../agent/src/diagnostics/proc/reboot-required";
import { systemdIsRunning } from "../../agent/src/diagnostics/proc/systemd";
import { parseTimedatectl } from "../../agent/src/diagnostics/proc/time-sync";
import { callDiagnostic, testContext } from "../support/diagnostics";

const startedAt = Date.now() - 42_000;

/** Runs a health diagnostic as the agent's server does (test/support/diagnostics.ts), with these agent facts. */
const call = <D extends (typeof catalog.healthDiagnostics)[number]>(def: D, input: z.input<D["input"]>) =>
  callDiagnostic(healthHandlers, def, input, testContext({ agent: { version: "9.9.9-test", startedAt, catalogHash: "sha256:abc" } }));

/** Runs a copy of /bin/sleep under `name`, so /proc shows a process with that comm. */
const children: ChildProcess[] = [];
const dirs: string[] = [];
async function runAs(name: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "hw-health-"));
  dirs.push(dir);
  const exe = join(dir, name);
  copyFileSync("/bin/sleep", exe);
  chmodSync(exe, 0o755);
  children.push(spawn(exe, ["30"], { stdio: "ignore" }));
  await new Promise((r) => setTimeout(r, 100));
}
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("get_time_sync", () => {
  it("answers without systemd, from files, spawning nothing", async () => {
    expect(await systemdIsRunning()).toBe(false); // this machine: no systemd as PID 1
    const { out, spawns } = await call(catalog.getTimeSync, {});
    expect(spawns).toBe(0);
    expect(out.source).toBe("files");
    expect(out.notes.join("\n")).toMatch(/systemd is not PID 1/);
    expect(out.synchronized).toBe(existsSync("/run/systemd/timesync/synchronized") ? true : null);
    expect(Math.abs(Date.parse(out.systemTime) - Date.now())).toBeLessThan(5000);
    expect(out.timezone.length).toBeGreaterThan(0);
  });

  it("names a running chronyd and says its state is unknown without systemd", async () => {
    await runAs("chronyd");
    const { out } = await call(catalog.getTimeSync, {});
    expect(out.ntpDaemons).toContain("chronyd");
    expect(out.synchronized).toBeNull();
    expect(out.notes.join("\n")).toMatch(/chronyd runs, but its state cannot be read/);
  });

  it("recognises systemd-timesyncd by its 15-character kernel name and reports it unsynchronised without its flag file", async () => {
    await runAs("systemd-timesyncd");
    const { out } = await call(catalog.getTimeSync, {});
    expect(out.ntpDaemons).toContain("systemd-timesyncd");
    if (!existsSync("/run/systemd/timesync/synchronized")) expect(out.synchronized).toBe(false);
  });

  it("parses timedatectl show as systemd 252 prints it", () => {
    const props = parseTimedatectl(
      "Timezone=Europe/Berlin\nLocalRTC=no\nCanNTP=yes\nNTP=yes\nNTPSynchronized=yes\nTimeUSec=Sat 2026-11-21 23:46:43 CET\nRTCTimeUSec=Sat 2026-11-21 22:46:43 CET\n",
    );
    expect(props.get("Timezone")).toBe("Europe/Berlin");
    expect(props.get("NTPSynchronized")).toBe("yes");
    expect(props.get("TimeUSec")).toBe("Sat 2026-11-21 23:46:43 CET");
  });

  it("takes no arguments", () => {
    expect(catalog.getTimeSync.input.safeParse({ server: "x" }).success).toBe(false);
  });
});

describe("get_reboot_required", () => {
  it("on this host: no flag file and no installed kernel, so no reboot, with a note; nothing spawned", async () => {
    const { out, spawns } = await call(catalog.getRebootRequired, {});
    expect(spawns).toBe(0);
    expect(out.runningKernel).toBe(release());
    expect(out.required).toBe(out.reasons.length > 0);
    if (!existsSync("/run/reboot-required") && !existsSync("/lib/modules") && !existsSync("/boot/vmlinuz")) {
      expect(out.required).toBe(false);
      expect(out.newestInstalledKernel).toBeNull();
      expect(out.notes.join("\n")).toMatch(/no installed kernel found/);
    }
  });

  /** A directory tree with the given files (relative path → content). */
  function tree(files: Record<string, string>): string {
    const root = mkdtempSync(join(tmpdir(), "hw-reboot-"));
    dirs.push(root);
    for (const [rel, content] of Object.entries(files)) {
      mkdirSync(dirname(join(root, rel)), { recursive: true });
      writeFileSync(join(root, rel), content);
    }
    return root;
  }

  it("Debian: the reboot-required flag and the packages that set it", async () => {
    const root = tree({
      "run/reboot-required": "*** System restart required ***\n",
      "run/reboot-required.pkgs": "linux-image-6.1.0-18-amd64\nlibc6\nlibc6\n",
    });
    const out = catalog.getRebootRequired.output.parse(await readRebootRequired(root, "6.1.0-18-amd64"));
    expect(out.required).toBe(true);
    expect(out.packages).toEqual(["linux-image-6.1.0-18-amd64", "libc6"]);
    expect(out.reasons[0]).toMatch(/requested by 2 package\(s\): linux-image-6.1.0-18-amd64, libc6/);
  });

  it("Debian: a newer kernel in /boot than the running one", async () => {
    const root = tree({ "boot/vmlinuz-6.1.0-9-amd64": "", "boot/vmlinuz-6.1.0-18-amd64": "", "boot/vmlinuz-6.1.0-18-amd64.old": "" });
    const out = await readRebootRequired(root, "6.1.0-9-amd64");
    expect(out).toMatchObject({ required: true, newestInstalledKernel: "6.1.0-18-amd64", installedKernels: ["6.1.0-9-amd64", "6.1.0-18-amd64"] });
    expect(out.reasons).toEqual(["kernel 6.1.0-18-amd64 is installed but 6.1.0-9-amd64 is running"]);
    expect((await readRebootRequired(root, "6.1.0-18-amd64")).required).toBe(false);
  });

  it("RHEL-like: module trees in /lib/modules; an empty leftover directory does not count", async () => {
    const root = tree({
      "lib/modules/5.14.0-70.13.1.el9_0.x86_64/modules.dep": "",
      "lib/modules/5.14.0-362.8.1.el9_3.x86_64/modules.dep": "",
      "lib/modules/5.14.0-999.el9_9.x86_64/extra/leftover.ko": "",
    });
    const old = await readRebootRequired(root, "5.14.0-70.13.1.el9_0.x86_64");
    expect(old.required).toBe(true);
    expect(old.newestInstalledKernel).toBe("5.14.0-362.8.1.el9_3.x86_64");
    const current = await readRebootRequired(root, "5.14.0-362.8.1.el9_3.x86_64");
    expect(current).toMatchObject({ required: false, reasons: [] });
  });

  it("caps the package list", async () => {
    const pkgs = Array.from({ length: 150 }, (_, i) => `pkg${i}`).join("\n");
    const out = await readRebootRequired(tree({ "run/reboot-required": "", "run/reboot-required.pkgs": pkgs }), "1.0");
    expect(out.packages).toHaveLength(catalog.REBOOT_PACKAGES_MAX);
    expect(out.reasons[0]).toMatch(/150 package/);
  });

  it("orders kernel versions by their numbers", () => {
    expect(compareVersions("6.1.0-18-amd64", "6.1.0-9-amd64")).toBe(1);
    expect(compareVersions("5.14.0-362.8.1.el9_3.x86_64", "5.14.0-70.13.1.el9_0.x86_64")).toBe(1);
    expect(compareVersions("6.8.0-45-generic", "6.8.0-45-generic")).toBe(0);
    expect(compareVersions("6.8.0", "6.8.0-45-generic")).toBe(-1);
    expect(compareVersions("4.19.0", "10.0.0")).toBe(-1);
  });
});

describe("get_agent_info", () => {
  it("reports the agent's own facts from its context", async () => {
    const { out, spawns } = await call(catalog.getAgentInfo, {});
    expect(spawns).toBe(0);
    expect(out).toMatchObject({ version: "9.9.9-test", role: "reader", catalogHash: "sha256:abc", pid: process.pid, nodeVersion: process.version });
    expect(out.uptimeSeconds).toBeGreaterThanOrEqual(42);
    expect(out.uptimeSeconds).toBeLessThan(120);
  });
});

describe("get_agent_metrics", () => {
  it("answers the interceptor's counters (calls by method and outcome, refusals, spawns) and the uptime", async () => {
    agentCounters.record("GetLoad", "OK", false, 0);
    agentCounters.record("GetLoad", "OK", false, 2);
    agentCounters.record("RestartService", "PERMISSION_DENIED", true, 0);
    const { out, spawns } = await call(catalog.getAgentMetrics, {});
    expect(spawns).toBe(0);
    expect(out.role).toBe("reader");
    expect(out.uptimeSeconds).toBeGreaterThanOrEqual(42);
    expect(out.calls).toEqual(
      expect.arrayContaining([
        { method: "GetLoad", outcome: "OK", count: 2 },
        { method: "RestartService", outcome: "PERMISSION_DENIED", count: 1 },
      ]),
    );
    expect(out.callsTotal).toBe(out.calls.reduce((n, c) => n + c.count, 0));
    expect(out.refusals).toBeGreaterThanOrEqual(1);
    expect(out.spawns).toBeGreaterThanOrEqual(2);
  });
});
