// Services and containers. The parsers are tested against output recorded from a real systemd 252
// and podman 4.3 (test/fixtures/systemd/README.md says how); the handlers run on this machine,
// where PID 1 is not systemd and podman is not installed, and must say so precisely. Every input
// field is refused with its name for bad values, and a refused input starts no process.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { createSocket, type Socket } from "node:dgram";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import * as catalog from "../../proto/catalog/diagnostics/services";
import { DiagnosticError } from "../../agent/src/diagnostics/context";
import { servicesHandlers } from "../../agent/src/diagnostics/services";
import { run } from "../../agent/src/exec";
import { runDiagnostic, type AnyDef } from "../support/diagnostics";
import { dependenciesOf, failedDependencies, healthVerdict } from "../../agent/src/systemd/health-verdict";
import { matchesState, mergeServices, parseListTimers, parseListUnitFiles, parseListUnits } from "../../agent/src/systemd/list-json";
import { inspectFailure } from "../../agent/src/systemd/podman";
import { parsePodmanInspect, parsePodmanPs } from "../../agent/src/systemd/podman-parse";
import { parseShow, STATUS_PROPERTIES, toServiceStatus, type ServiceStatus } from "../../agent/src/systemd/show";
import { checkSystemctlResult, notRunningError, requireKnown } from "../../agent/src/systemd/systemctl";
import {
  cgroupPids,
  decodeProcNetAddress,
  isListening,
  listeningSocketsOfPids,
  parseProcNet,
  socketInodeOf,
  SOCKET_PROTOCOLS,
  unitListeningSockets,
} from "../../agent/src/systemd/unit-sockets";

const FIX = join(import.meta.dirname, "..", "fixtures", "systemd");
const fixture = (name: string) => readFileSync(join(FIX, name), "utf8");
const SYSTEMD_RUNNING = existsSync("/run/systemd/system");
const PODMAN_INSTALLED = existsSync("/usr/bin/podman");

function status(file: string): ServiceStatus {
  const blocks = parseShow(fixture(file));
  expect(blocks).toHaveLength(1);
  return toServiceStatus(blocks[0]!);
}

describe("systemctl show parser (recorded systemd 252 output)", () => {
  it("reads a running service with a restart, dependencies and its cgroup", () => {
    const web = status("show-hw-web-service.txt");
    const mainPid = Number(fixture("hw-web-cgroup.procs").trim().split("\n")[0]);
    expect(web).toMatchObject({
      unit: "hw-web.service",
      names: ["hw-web.service"],
      description: "hostward fixture web server",
      loadState: "loaded",
      loadError: null,
      activeState: "active",
      subState: "running",
      result: "success",
      unitFileState: "enabled",
      type: "simple",
      restartPolicy: "on-failure",
      mainPid,
      lastExit: null,
      restarts: 1,
      fragmentPath: "/etc/systemd/system/hw-web.service",
      controlGroup: "/system.slice/hw-web.service",
      wants: ["hw-broken.service"],
      bindsTo: [],
      // accounting is off in the container: "[not set]"
      memoryBytes: null,
      cpuNanoseconds: null,
      tasks: null,
    });
    expect(web.requires).toContain("hw-db.service");
    expect(web.after).toContain("hw-db.service");
    // "Sat 2026-11-21 23:53:21.092331 UTC" (--timestamp=us+utc) → ISO, the same instant.
    const raw = /^ExecMainStartTimestamp=\w{3} (\S+) (\S+) UTC$/m.exec(fixture("show-hw-web-service.txt"));
    expect(raw).not.toBeNull();
    expect(web.execMainStartedAt).toBe(new Date(`${raw![1]}T${raw![2]!.slice(0, 12)}Z`).toISOString());
    expect(web.activeEnteredAt).toMatch(/^2026-11-21T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it("reads a failed service's result and how its main process ended", () => {
    const broken = status("show-hw-broken-service.txt");
    expect(broken).toMatchObject({
      unit: "hw-broken.service",
      activeState: "failed",
      subState: "failed",
      result: "exit-code",
      mainPid: null,
      lastExit: { code: "exited", status: 3 },
      controlGroup: null,
      wants: [],
    });
  });

  it("reads masked and unknown units; an unknown unit is NOT_FOUND", () => {
    const masked = status("show-hw-masked-service.txt");
    expect(masked).toMatchObject({ loadState: "masked", unitFileState: "masked", activeState: "inactive", type: null, execMainStartedAt: null });
    expect(masked.loadError).toContain("is masked");

    const [missing] = parseShow(fixture("show-no-such-unit-service.txt"));
    expect(missing?.get("LoadState")).toBe("not-found");
    expect(() => requireKnown(missing, "no-such-unit.service")).toThrow(/no-such-unit\.service is not known to systemd/);
    try {
      requireKnown(missing, "no-such-unit.service");
    } catch (err) {
      expect((err as DiagnosticError).code).toBe("NOT_FOUND");
    }
    expect(requireKnown(parseShow(fixture("show-hw-web-service.txt"))[0], "hw-web.service").get("Id")).toBe("hw-web.service");
  });

  it("reads a timer (no service-only properties)", () => {
    const timer = status("show-hw-tick-timer.txt");
    expect(timer).toMatchObject({ unit: "hw-tick.timer", activeState: "active", subState: "waiting", type: null, mainPid: null, restarts: null });
  });

  it("parses the full property dump the same way as the narrow one", () => {
    const [all] = parseShow(fixture("show-hw-web-all.txt"));
    expect(all!.size).toBeGreaterThan(150);
    expect(all!.get("ExecStart")).toContain("path=/usr/bin/node");
    const fromAll = toServiceStatus(all!);
    const narrow = status("show-hw-web-service.txt");
    for (const key of ["unit", "activeState", "mainPid", "restarts", "controlGroup", "execMainStartedAt", "fragmentPath"] as const) {
      expect(fromAll[key]).toEqual(narrow[key]);
    }
    // Every property the agent asks for exists under that exact name: systemd's full dump omits
    // empty values, so each property non-empty in the narrow output must be in the full one.
    const [narrowRaw] = parseShow(fixture("show-hw-web-service.txt"));
    for (const p of STATUS_PROPERTIES) {
      expect(narrowRaw!.has(p), p).toBe(true);
      if (narrowRaw!.get(p) !== "") expect(all!.get(p), p).toBe(narrowRaw!.get(p));
    }
  });

  it("splits multi-unit output on blank lines: Result (printed before Id) stays with its unit", () => {
    const blocks = parseShow(fixture("show-deps.txt"));
    expect(blocks.map((b) => b.get("Id"))).toEqual(["sysinit.target", "system.slice", "hw-db.service", "hw-broken.service"]);
    expect(blocks[2]!.get("Result")).toBe("success");
    expect(blocks[3]!.get("Result")).toBe("exit-code");
    expect(blocks[0]!.has("Result")).toBe(false);
  });
});

describe("check_service_health verdict (recorded units)", () => {
  const deps = parseShow(fixture("show-deps.txt"));

  it("hw-web: degraded by its failed Wants= dependency and its automatic restart", () => {
    const web = status("show-hw-web-service.txt");
    const wanted = dependenciesOf(web);
    expect(wanted.get("hw-broken.service")).toBe("wants");
    expect(wanted.get("hw-db.service")).toBe("requires");
    const failed = failedDependencies(wanted, deps);
    expect(failed).toEqual([{ unit: "hw-broken.service", relation: "wants", activeState: "failed", result: "exit-code" }]);
    const v = healthVerdict({ status: web, recentErrors: 0, since: "-1h", failedDependencies: failed });
    expect(v.verdict).toBe("degraded");
    expect(v.reasons).toEqual([
      "wanted unit hw-broken.service is failed (result: exit-code)",
      "restarted automatically 1 time(s) since it was last started",
    ]);
  });

  it("healthy only when active with no errors, restarts or failed dependencies", () => {
    const web = { ...status("show-hw-web-service.txt"), restarts: 0 };
    expect(healthVerdict({ status: web, recentErrors: 0, since: "-1h", failedDependencies: [] })).toEqual({ verdict: "healthy", reasons: [] });
    const noisy = healthVerdict({ status: web, recentErrors: 3, since: "-1h", failedDependencies: [] });
    expect(noisy).toEqual({ verdict: "degraded", reasons: ["3 journal entries at priority err or worse since -1h"] });
  });

  it("failed and masked units", () => {
    const broken = healthVerdict({ status: status("show-hw-broken-service.txt"), recentErrors: 1, since: "-1h", failedDependencies: [] });
    expect(broken.verdict).toBe("failed");
    expect(broken.reasons[0]).toBe("the unit is failed (result: exit-code)");
    expect(broken.reasons).toContain("1 journal entry at priority err or worse since -1h");
    expect(healthVerdict({ status: status("show-hw-masked-service.txt"), recentErrors: 0, since: "-1h", failedDependencies: [] })).toEqual({
      verdict: "inactive",
      reasons: ["the unit is masked"],
    });
  });

  it("never passes a dependency starting with '-' (the root mount/slice) toward an argv", () => {
    const web = { ...status("show-hw-web-service.txt"), requires: ["-.mount", "hw-db.service"], after: ["-.slice"] };
    expect([...dependenciesOf(web).keys()]).not.toContain("-.mount");
  });
});

describe("systemctl list-* --output=json parsers (recorded)", () => {
  const units = parseListUnits(fixture("list-units-services.json"));
  const files = parseListUnitFiles(fixture("list-unit-files-services.json"));

  it("reads every service row", () => {
    expect(units).toHaveLength((JSON.parse(fixture("list-units-services.json")) as unknown[]).length);
    expect(units.find((u) => u.unit === "hw-web.service")).toEqual({
      unit: "hw-web.service",
      load: "loaded",
      active: "active",
      sub: "running",
      description: "hostward fixture web server",
    });
    expect(units.find((u) => u.unit === "auditd.service")?.load).toBe("not-found");
  });

  it("merges unit files: enablement, unloaded units, no templates or aliases", () => {
    const services = mergeServices(units, files);
    expect(services.find((s) => s.unit === "hw-web.service")?.unitFileState).toBe("enabled");
    expect(services.find((s) => s.unit === "hw-tick.service")?.unitFileState).toBe("static");
    // installed but never loaded by systemd
    expect(services.find((s) => s.unit === "hw-masked.service")).toMatchObject({ load: "masked", active: "inactive", unitFileState: "masked" });
    expect(services.find((s) => s.unit === "debug-shell.service")).toMatchObject({ load: "not-loaded", unitFileState: "disabled" });
    expect(services.some((s) => s.unit === "getty@.service" || s.unit === "autovt@.service")).toBe(false);
    const names = services.map((s) => s.unit);
    expect(names).toEqual([...names].sort());
    expect(new Set(names).size).toBe(names.length);
  });

  it("filters by state", () => {
    const services = mergeServices(units, files);
    expect(services.filter((s) => matchesState(s, "running")).map((s) => s.unit)).toEqual(["hw-web.service", "systemd-journald.service"]);
    expect(services.filter((s) => matchesState(s, "failed")).map((s) => s.unit)).toEqual(["hw-broken.service"]);
    expect(services.filter((s) => matchesState(s, "active")).map((s) => s.unit)).toContain("hw-db.service");
    expect(services.filter((s) => matchesState(s, "all"))).toHaveLength(services.length);
  });

  it("reads the failed units", () => {
    expect(parseListUnits(fixture("list-units-failed.json"))).toEqual([
      { unit: "hw-broken.service", load: "loaded", active: "failed", sub: "failed", description: "hostward fixture service that fails" },
    ]);
  });

  it("reads timers: µs timestamps to ISO, 0/null to null", () => {
    const timers = parseListTimers(fixture("list-timers.json"));
    expect(timers).toHaveLength(7);
    const tick = timers.find((t) => t.unit === "hw-tick.timer")!;
    expect(tick.activates).toBe("hw-tick.service");
    expect(Date.parse(tick.next!) - Date.parse(tick.last!)).toBeCloseTo(3600_000, -3); // OnUnitActiveSec=1h
    expect(timers.find((t) => t.unit === "fstrim.timer")).toEqual({ unit: "fstrim.timer", activates: "fstrim.service", next: null, last: null });
    expect(timers.find((t) => t.unit === "apt-daily.timer")?.last).toBeNull();
  });

  it("refuses output that is not a JSON array, skips rows that do not validate", () => {
    expect(() => parseListUnits("System has not been booted")).toThrow(/invalid JSON/);
    expect(() => parseListUnits('{"unit":"x"}')).toThrow(/JSON array/);
    expect(parseListUnits('[{"unit":"ok.service","load":"loaded","active":"active","sub":"running"},{"unit":5},null]')).toHaveLength(1);
    expect(parseListUnits("")).toEqual([]);
  });
});

describe("listening sockets of a unit", () => {
  it("finds hw-web's three sockets in the recorded /proc tables through its fd links", () => {
    const inodes = new Set(
      fixture("hw-web-fd-links.txt")
        .split("\n")
        .map((l) => socketInodeOf(l.split(" ")[1] ?? ""))
        .filter((n): n is number => n !== null),
    );
    const listening = SOCKET_PROTOCOLS.flatMap((p) => parseProcNet(fixture(`proc-net-${p}.txt`), p)).filter((s) => inodes.has(s.inode) && isListening(s));
    expect(listening.map((s) => `${s.protocol} ${s.address} ${s.port}`).sort()).toEqual([
      "tcp 127.0.0.1 8080",
      "tcp6 ::1 8081",
      "udp 127.0.0.1 5353",
    ]);
  });

  it("decodes /proc/net addresses", () => {
    expect(decodeProcNetAddress("0100007F:1F90")).toEqual({ address: "127.0.0.1", port: 8080 });
    expect(decodeProcNetAddress("00000000000000000000000001000000:1F91")).toEqual({ address: "::1", port: 8081 });
    expect(decodeProcNetAddress("00000000000000000000000000000000:0016")).toEqual({ address: "::", port: 22 });
    expect(decodeProcNetAddress("0000000000000000FFFF00000100007F:0050")).toEqual({ address: "::ffff:127.0.0.1", port: 80 });
    expect(decodeProcNetAddress("B80D0120000000000000000001000000:01BB")).toEqual({ address: "2001:db8::1", port: 443 });
    expect(decodeProcNetAddress("garbage")).toBeNull();
  });

  describe("live, on this machine's /proc", () => {
    let tcp: Server;
    let udp: Socket;
    let tcpPort = 0;
    let udpPort = 0;
    beforeAll(async () => {
      tcp = createServer();
      await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", r));
      tcpPort = (tcp.address() as { port: number }).port;
      udp = createSocket("udp4");
      await new Promise<void>((r) => udp.bind(0, "127.0.0.1", r));
      udpPort = udp.address().port;
    });
    afterAll(() => {
      tcp.close();
      udp.close();
    });

    it("finds this process's TCP listener and bound UDP socket by inode", async () => {
      const found = await listeningSocketsOfPids([process.pid]);
      expect(found.readable).toBe(true);
      expect(found.sockets).toContainEqual({ protocol: "tcp", address: "127.0.0.1", port: tcpPort, pid: process.pid });
      expect(found.sockets).toContainEqual({ protocol: "udp", address: "127.0.0.1", port: udpPort, pid: process.pid });
    });

    it("a pid that has gone is skipped, not an error", async () => {
      const found = await listeningSocketsOfPids([2 ** 22 + 12345]);
      expect(found).toMatchObject({ readable: true, sockets: [] });
    });
  });

  describe("cgroup discovery (real directories laid out like cgroupfs)", () => {
    let base: string;
    beforeAll(() => {
      base = mkdtempSync(join(tmpdir(), "hostward-cgroup-"));
      // hybrid layout: the unit lives under unified/, with a child cgroup
      const unit = join(base, "unified", "system.slice", "hw-web.service");
      mkdirSync(join(unit, "worker"), { recursive: true });
      mkdirSync(join(base, "v2"), { recursive: true });
      writeFileSync(join(unit, "cgroup.procs"), `${process.pid}\n`);
      writeFileSync(join(unit, "worker", "cgroup.procs"), "424242\nnot-a-pid\n");
      mkdirSync(join(base, "unified", "system.slice", "empty.service"), { recursive: true });
      writeFileSync(join(base, "unified", "system.slice", "empty.service", "cgroup.procs"), "");
    });
    afterAll(() => rmSync(base, { recursive: true, force: true }));

    it("tries each root in turn and includes sub-cgroups", async () => {
      const roots = [join(base, "v2"), join(base, "unified")];
      const cg = await cgroupPids("/system.slice/hw-web.service", roots);
      expect(cg?.dir).toBe(join(base, "unified", "system.slice", "hw-web.service"));
      expect(cg?.pids.sort()).toEqual([process.pid, 424242].sort());
    });

    it("refuses a ControlGroup that would leave the root", async () => {
      expect(await cgroupPids("/../../etc", [base])).toBeNull();
      expect(await cgroupPids("system.slice", [base])).toBeNull();
    });

    it("says why when sockets cannot be listed", async () => {
      expect(await unitListeningSockets(null)).toEqual({ readable: true, note: "the unit has no processes (no control group)", sockets: [] });
      const missing = await unitListeningSockets("/system.slice/none.service", [base]);
      expect(missing.readable).toBe(false);
      expect(missing.note).toContain("cgroup /system.slice/none.service was not found");
      const empty = await unitListeningSockets("/system.slice/empty.service", [join(base, "unified")]);
      expect(empty).toEqual({ readable: true, note: "the unit's cgroup has no processes", sockets: [] });
    });
  });
});

describe("podman JSON parsers (recorded podman 4.3.1)", () => {
  it("ps --all: three containers with ports, state and times", () => {
    const all = parsePodmanPs(fixture("podman/ps-all.json"));
    expect(all.map((c) => c.names[0])).toEqual(["hw-web", "hw-job", "hw-idle"]);
    const [web, job, idle] = all;
    expect(web).toMatchObject({ image: "localhost/hw-base:latest", state: "running", ports: ["127.0.0.1:18080->8080/tcp"] });
    expect(web!.status).toMatch(/^Up .*\(healthy\)$/);
    expect(web!.id).toMatch(/^[0-9a-f]{64}$/);
    expect(job).toMatchObject({ state: "exited", ports: [] });
    expect(job!.status).toMatch(/^Exited \(2\)/);
    expect(idle).toMatchObject({ state: "created", status: "Created" });
    expect(idle!.createdAt).toMatch(/^2026-11-21T/);
    expect(parsePodmanPs(fixture("podman/ps.json")).map((c) => c.names[0])).toEqual(["hw-web"]);
  });

  it("container inspect: health, ports, exit code, Go zero times as null", () => {
    const web = parsePodmanInspect(fixture("podman/inspect-hw-web.json"));
    expect(web).toMatchObject({
      name: "hw-web",
      image: "localhost/hw-base:latest",
      state: "running",
      status: "Up (healthy)",
      health: "healthy",
      exitCode: null,
      finishedAt: null,
      restartCount: 0,
      ports: ["127.0.0.1:18080->8080/tcp"],
    });
    expect(web!.startedAt).toMatch(/^2026-11-21T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const job = parsePodmanInspect(fixture("podman/inspect-hw-job.json"));
    expect(job).toMatchObject({ name: "hw-job", state: "exited", status: "Exited (2)", exitCode: 2, health: null, ports: [] });
    // (podman 4.3 recorded FinishedAt 2 ms before StartedAt here: times are passed through as given)
    expect(job!.finishedAt).toMatch(/^2026-11-21T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it("an unknown container: [] on stdout, exit 125 → NOT_FOUND", () => {
    expect(parsePodmanInspect(fixture("podman/inspect-no-such.json"))).toBeNull();
    const err = inspectFailure("no-such-container", {
      exitCode: Number(fixture("podman/inspect-no-such.json.rc")),
      stderr: fixture("podman/inspect-no-such.json.stderr"),
      stdout: "[]",
      truncated: false,
      durationMs: 1,
    });
    expect(err.code).toBe("NOT_FOUND");
    expect(err.message).toBe('container "no-such-container" does not exist on this host');
  });
});

describe("handlers on this machine (no systemd as PID 1, no podman)", () => {
  const systemdTools = [
    [catalog.listServices, {}],
    [catalog.getServiceStatus, { unit: "ssh" }],
    [catalog.checkServiceHealth, { unit: "ssh.service" }],
    [catalog.listFailedUnits, {}],
    [catalog.listTimers, {}],
  ] as const;

  for (const [def, input] of systemdTools) {
    it(`${def.name}: FAILED_PRECONDITION naming systemd when it is not running, a valid result otherwise`, async () => {
      const r = await runDiagnostic(servicesHandlers, def, input);
      if (SYSTEMD_RUNNING) {
        // On a systemd host the same call answers (a unit may legitimately be NOT_FOUND).
        if (!r.ok) expect((r.error as DiagnosticError).code).toBe("NOT_FOUND");
        return;
      }
      expect(r.ok).toBe(false);
      const err = (r as { error: unknown }).error;
      expect(err).toBeInstanceOf(DiagnosticError);
      expect((err as DiagnosticError).code).toBe("FAILED_PRECONDITION");
      expect((err as DiagnosticError).message).toMatch(/^systemd is not running on this host \(/);
    });
  }

  it("systemctl's own refusal on this host maps to FAILED_PRECONDITION (real systemctl output)", async () => {
    const result = await run("systemctl", ["list-units", "--no-pager", "--output=json"]);
    if (SYSTEMD_RUNNING) {
      expect(notRunningError(result)).toBeNull();
      return;
    }
    expect(result.exitCode).not.toBe(0);
    const err = notRunningError(result);
    expect(err?.code).toBe("FAILED_PRECONDITION");
    expect(err?.message).toMatch(/^systemd is not running on this host \(System has not been booted with systemd/);
    expect(notRunningError({ exitCode: 0, stderr: "" })).toBeNull();
  });

  it("a failed systemctl call is an error, never an empty list", async () => {
    const codeOf = (r: Parameters<typeof checkSystemctlResult>[1]) => {
      try {
        checkSystemctlResult("list-units", r);
        return "OK";
      } catch (err) {
        return `${(err as DiagnosticError).code}: ${(err as DiagnosticError).message}`;
      }
    };
    const base = { stdout: "", stderr: "", exitCode: 0, truncated: false, durationMs: 1 };
    // what systemctl said to a non-root user while the container's D-Bus was not yet up
    expect(codeOf({ ...base, exitCode: 1, stderr: "Failed to list units: Failed to activate service 'org.freedesktop.systemd1': timed out (service_start_timeout=25000ms)\n" })).toBe(
      "UNAVAILABLE: systemctl list-units failed (exit 1): Failed to list units: Failed to activate service 'org.freedesktop.systemd1': timed out (service_start_timeout=25000ms)",
    );
    expect(codeOf({ ...base, exitCode: 1, stderr: "Unit name a..b is not valid." })).toMatch(/^INVALID_ARGUMENT: unit: systemd refused the name/);
    expect(codeOf({ ...base, truncated: true })).toMatch(/^RESOURCE_EXHAUSTED: systemctl list-units printed more than/);
    expect(codeOf({ ...base, stdout: "[]" })).toBe("OK");
    if (!SYSTEMD_RUNNING) {
      expect(codeOf(await run("systemctl", ["list-units", "--no-pager"]))).toMatch(/^FAILED_PRECONDITION: systemd is not running on this host/);
    }
  });

  it("get_service_logs reads the journal with journalctl (no systemd needed): a schema-valid page", async () => {
    const r = await runDiagnostic(servicesHandlers, catalog.getServiceLogs, { unit: "ssh", lines: 5, since: "-1h", priority: "err" });
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(r.spawns).toBe(1);
    const out = (r as { out: z.output<typeof catalog.getServiceLogs.output> }).out;
    expect(out.unit).toBe("ssh.service");
    expect(out.entries.length).toBeLessThanOrEqual(5);
  });

  for (const [def, input] of [
    [catalog.listContainers, { all: true }],
    [catalog.getContainerStatus, { name: "web" }],
  ] as const) {
    it(`${def.name}: FAILED_PRECONDITION when podman is not installed, nothing spawned`, async () => {
      const r = await runDiagnostic(servicesHandlers, def, input);
      if (PODMAN_INSTALLED) {
        if (!r.ok) expect((r.error as DiagnosticError).code).toBe("NOT_FOUND");
        return;
      }
      expect(r.ok).toBe(false);
      expect((r as { error: DiagnosticError }).error.code).toBe("FAILED_PRECONDITION");
      expect((r as { error: DiagnosticError }).error.message).toBe("podman is not installed on this host");
      expect(r.spawns).toBe(0);
    });
  }
});

describe("input validation: every field refused with its name, nothing spawned", () => {
  const MiB = "a".repeat(1024 * 1024);
  const badUnits = ["-x", "a;b", "$(id)", "a`b`", "a\nb", "a\u0000b", MiB, "nginx*", "a b", "../etc/passwd", "", 5];

  const cases: [AnyDef, string, Record<string, unknown>, unknown[]][] = [
    [catalog.getServiceStatus as AnyDef, "unit", {}, badUnits],
    [catalog.checkServiceHealth as AnyDef, "unit", {}, badUnits],
    [catalog.getServiceLogs as AnyDef, "unit", {}, badUnits],
    [catalog.getServiceLogs as AnyDef, "lines", { unit: "ssh" }, [0, 1001, -1, 1.5, "10"]],
    [catalog.getServiceLogs as AnyDef, "since", { unit: "ssh" }, ["yesterday; rm", "-1h; id", "$(date)", "1 hour ago", MiB, "-x"]],
    [catalog.getServiceLogs as AnyDef, "priority", { unit: "ssh" }, ["error", "3", "err\n"]],
    [catalog.checkServiceHealth as AnyDef, "since", { unit: "ssh" }, ["yesterday; rm", "--all"]],
    [catalog.listServices as AnyDef, "state", {}, ["dead", "", "all;"]],
    [catalog.listServices as AnyDef, "nameContains", {}, ["a\nb", "a\u0000b", MiB, ""]],
    [catalog.listServices as AnyDef, "limit", {}, [0, 1001]],
    [catalog.getContainerStatus as AnyDef, "name", {}, ["-x", "a;b", "$(id)", "a`b`", "a\nb", "a\u0000b", MiB, ".hidden", "a/b"]],
    [catalog.listContainers as AnyDef, "all", {}, ["yes", 1]],
  ];

  for (const [def, field, base, values] of cases) {
    it(`${def.name}.${field}`, async () => {
      for (const value of values) {
        const input = { ...base, [field]: value };
        const r = def.input.safeParse(input);
        expect(r.success, `${def.name} accepted ${field}=${JSON.stringify(value).slice(0, 40)}`).toBe(false);
        expect(r.error!.issues.some((i) => i.path[0] === field)).toBe(true);
        const served = await runDiagnostic(servicesHandlers, def, input);
        expect(served.ok).toBe(false);
        expect(served.spawns).toBe(0);
      }
    });
  }

  it("unknown keys and missing required fields are refused", () => {
    const extra = catalog.getServiceStatus.input.safeParse({ unit: "ssh", command: "id" });
    expect(extra.success).toBe(false);
    expect(extra.error!.issues[0]!.message).toMatch(/command/);
    const missing = catalog.getServiceStatus.input.safeParse({});
    expect(missing.error!.issues[0]!.path).toEqual(["unit"]);
    expect(catalog.listFailedUnits.input.safeParse({ all: true }).success).toBe(false);
  });

  it("the error message says what is wrong with the value", () => {
    const msg = (v: unknown) => catalog.getServiceStatus.input.safeParse({ unit: v }).error!.issues.map((i) => i.message).join("; ");
    expect(msg("-x")).toContain('unit name must not start with "-"');
    expect(msg("a\nb")).toContain("unit name contains a control character");
    expect(msg(MiB)).toContain("unit name is longer than 256 characters");
    expect(msg("a;b")).toContain("unit name is not valid");
  });

  it("a valid input does spawn (the harness counts processes)", async () => {
    const r = await runDiagnostic(servicesHandlers, catalog.getServiceLogs, { unit: "ssh" });
    expect(r.spawns).toBe(1);
  });
});
