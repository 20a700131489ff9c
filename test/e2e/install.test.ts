// One host's whole life on a real systemd, on Debian 12 (bookworm, nodejs 18) and Debian 13
// (trixie, nodejs 20) booted with systemd-nspawn: `apt install` of the previous build pulls the
// distribution's nodejs from its archive, `hostward-agent enroll` with certificates from
// `hostward pki`, upgrade, diagnose nginx through the broker over a private network, stop/start,
// the sandbox, `apt remove` then `apt install` (an enrolled host comes back up by itself), an
// administrator's disable kept across a reinstall, purge. The tests of one distribution run in
// order and share its container: each continues from the state the previous one left.
import { basename, join } from "node:path";
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connectBrokerInNetns, writeBrokerConfig, type BrokerSession } from "./support/broker";
import type { Container } from "./support/container";
import { record } from "./support/measurements";
import type { Network } from "./support/netns";
import { currentVersion, debPath, PREVIOUS_VERSION } from "./support/packages";
import { createCliPki, type AgentFiles, type CliPki } from "./support/pki";
import { SUITES, type Suite } from "./support/rootfs";
import { sleep, waitFor } from "./support/run";
import { createScope, requirePackages } from "./support/scope";
import { activeState, APT_ENV, aptInstall, exposure, mainPid, procStatus, rssKiB, uidOf, unitProperty, unitReport, UNITS, waitActive } from "./support/units";

const READER = "hostward-reader.service";
const OPERATOR = "hostward-operator.service";
const HOST = "web1";

interface ServiceStatus {
  unit: string;
  activeState: string;
  subState: string;
  mainPid: number | null;
}
interface ServiceLogs {
  unit: string;
  entries: Array<{ message: string; unit: string | null }>;
}

/** The distribution's nodejs major version each suite must pull in. */
const NODE_MAJOR: Record<Suite, string> = { bookworm: "18", trixie: "20" };

describe.each(SUITES)("a host on Debian %s, from install to purge", (suite) => {
  const scope = createScope(`install-${suite}`);
  let net: Network;
  let c: Container;
  let pki: CliPki;
  let agentFiles: AgentFiles;
  let broker: BrokerSession;

  beforeAll(async () => {
    requirePackages();
    net = await scope.network(suite === "bookworm" ? 2 : 5, [HOST]);
    c = await scope.container(HOST, net.hosts[HOST]?.nsPath, suite);
    pki = await createCliPki(join(scope.dir, "pki"));
    agentFiles = await pki.issueAgent(HOST, net.hosts[HOST]?.address ?? "");
  });
  afterAll(() => scope.close());

  /** `hostward-agent enroll` on the directory `hostward pki issue-agent --out` wrote, copied to /root. */
  const enrol = async () => {
    const inside = `/root/${HOST}-tls`;
    cpSync(join(agentFiles.reader.cert, ".."), c.path(inside), { recursive: true });
    return c.exec(["hostward-agent", "enroll", inside], { timeoutMs: 60_000 });
  };
  /** "ii 0.1.0" (installed), "rc 0.1.0" (removed, configuration kept), "" (unknown to dpkg). */
  const installed = async (pkg: string) => (await c.exec(["dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${Version}", pkg])).stdout.trim().replace(/\s+/, " ");

  test("the container boots systemd as PID 1, nginx (the service under diagnosis) is active, and no nodejs is installed", async () => {
    expect(readFileSync(`/proc/${c.systemdPid}/comm`, "utf8").trim()).toBe("systemd");
    expect((await c.execOk(["cat", "/proc/1/comm"])).stdout.trim()).toBe("systemd");
    expect(await activeState(c, "nginx.service")).toBe("active");
    // Control for the next test: node comes with the package's dependency, not with the image.
    expect(existsSync(c.path("/usr/bin/node"))).toBe(false);
    expect(await installed("nodejs")).not.toMatch(/^ii /);
  });

  test("apt install of the previous build pulls the distribution's nodejs from its archive, creates the users, the sudoers line and enabled units, which wait for certificates", async () => {
    const apt = await aptInstall(c, debPath(PREVIOUS_VERSION));
    expect(apt).toMatch(/The following NEW packages will be installed:[\s\S]*\bnodejs\b/);
    expect(await installed("nodejs")).toMatch(new RegExp(`^ii ${NODE_MAJOR[suite]}\\.`));
    expect((await c.execOk(["/usr/bin/node", "--version"])).stdout.trim()).toMatch(new RegExp(`^v${NODE_MAJOR[suite]}\\.`));
    expect(apt).not.toMatch(/hostward-agent: /); // no warning from the maintainer scripts
    const groups = (user: string) => c.execOk(["id", "-nG", "--", user]).then((r) => r.stdout.trim().split(" ").sort());
    expect(await groups("hostward-reader")).toEqual(["adm", "hostward-reader", "systemd-journal"]);
    expect(await groups("hostward-operator")).toEqual(["hostward-operator"]);
    for (const f of ["hostward-reader.cjs", "hostward-operator.cjs", "hostward-agent.cjs", "pty.node"]) {
      expect(existsSync(c.path(`/usr/lib/hostward/${f}`)), f).toBe(true);
    }
    // The sudo helper: root's, and nobody else may change it.
    const [owner, mode] = (await c.execOk(["stat", "-c", "%U %a", "/usr/libexec/hostward/hostward-action"])).stdout.trim().split(" ");
    expect(owner).toBe("root");
    expect(Number.parseInt(mode ?? "", 8) & 0o022).toBe(0);
    expect((await c.execOk(["stat", "-c", "%U %a", "/etc/sudoers.d/hostward"])).stdout.trim()).toBe("root 440");
    await c.execOk(["visudo", "-cf", "/etc/sudoers.d/hostward"]);
    for (const unit of UNITS) {
      expect(await unitProperty(c, unit, "UnitFileState"), unit).toBe("enabled");
      // No certificates yet: ConditionPathExists= keeps the unit from starting (and from failing).
      expect(await activeState(c, unit), unit).not.toBe("active");
      expect(await activeState(c, unit), unit).not.toBe("failed");
    }
    expect(await installed("hostward-agent")).toBe(`ii ${PREVIOUS_VERSION}`);
    // The enrolment helper names what is missing.
    const check = await c.exec(["hostward-agent", "check"]);
    expect(check.code, check.stdout + check.stderr).toBe(1);
    expect(check.stdout + check.stderr).toMatch(/\/etc\/hostward\/tls\/(ca\.crt|reader\.crt|reader\.key|operator\.crt|operator\.key)/);
  });

  test("hostward-agent enroll installs the certificates from `hostward pki`, removes the copied key, and both units serve", async () => {
    const r = await enrol();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/enrollment check passed/);
    expect(r.stdout).toMatch(/hostward-reader\.service active, serving on port 7443/);
    expect(r.stdout).toMatch(/hostward-operator\.service active, serving on port 7444/);
    expect(existsSync(c.path(`/root/${HOST}-tls/${HOST}.key`))).toBe(false);
    const files = ["ca.crt", "reader.crt", "reader.key", "operator.crt", "operator.key"].map((f) => `/etc/hostward/tls/${f}`);
    const modes = (await c.execOk(["stat", "-c", "%n %U %a", ...files])).stdout.trim().split("\n");
    expect(modes).toEqual(files.map((f) => `${f} root ${f.endsWith(".key") ? 600 : 644}`));
    for (const role of ["reader", "operator"] as const) expect(readFileSync(c.path(`/etc/hostward/tls/${role}.crt`), "utf8")).toBe(readFileSync(agentFiles[role].cert, "utf8"));
    await waitActive(c, UNITS).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await unitReport(c, READER)}\n${await unitReport(c, OPERATOR)}`);
    });
  });

  test("upgrading to the current build keeps a modified agent.yaml, the keys and the helper's state, and restarts the units", async () => {
    const file = c.path("/etc/hostward/agent.yaml");
    const modified = `${readFileSync(file, "utf8")}\n# changed on this host (e2e ${Date.now()})\n`;
    writeFileSync(file, modified);
    const key = readFileSync(c.path("/etc/hostward/tls/operator.key"), "utf8");
    writeFileSync(c.path("/var/lib/hostward/helper/e2e-marker"), "state\n");
    const before = await waitActive(c, UNITS);
    await aptInstall(c, debPath());
    expect(await installed("hostward-agent")).toBe(`ii ${currentVersion()}`);
    expect(readFileSync(file, "utf8")).toBe(modified);
    expect(readFileSync(c.path("/etc/hostward/tls/operator.key"), "utf8")).toBe(key);
    expect(readFileSync(c.path("/var/lib/hostward/helper/e2e-marker"), "utf8")).toBe("state\n");
    for (const leftover of ["agent.yaml.dpkg-new", "agent.yaml.dpkg-dist", "agent.yaml.dpkg-old"]) {
      expect(existsSync(c.path(`/etc/hostward/${leftover}`)), leftover).toBe(false);
    }
    const after = await waitFor("new main processes after the upgrade", async () => {
      const pids = await waitActive(c, UNITS);
      return pids.every((p, i) => p !== before[i]) ? pids : undefined;
    }, 30_000);
    expect(after).toHaveLength(2);
  });

  test("idle, each unit's resident memory and exposure are measured inside the container", async () => {
    await sleep(3_000); // let both agents finish starting up
    for (const unit of UNITS) {
      const role = unit.replace(/^hostward-|\.service$/g, "");
      const rss = await rssKiB(c, await mainPid(c, unit));
      expect(rss).toBeGreaterThan(1024);
      record(`idle RSS ${role} (in ${suite} container, node ${NODE_MAJOR[suite]}), MiB`, Number((rss / 1024).toFixed(1)));
      record(`exposure ${role} (systemd-analyze security, in ${suite} container)`, await exposure(c, unit));
    }
  });

  test("through the client namespace, the broker answers get_service_status and get_service_logs for nginx", async () => {
    const config = await writeBrokerConfig(join(scope.dir, "broker"), pki, [{ name: HOST, address: net.hosts[HOST]?.address ?? "", tags: ["web"] }]);
    broker = await connectBrokerInNetns(net.clientNs, config);
    scope.defer("broker", () => broker.close());

    const status = await broker.hostsOk<ServiceStatus>("get_service_status", { target: HOST, unit: "nginx" });
    expect(status.results).toHaveLength(1);
    expect(status.results[0]?.data).toMatchObject({ unit: "nginx.service", activeState: "active", subState: "running" });
    expect(status.results[0]?.data?.mainPid).toBe(await mainPid(c, "nginx.service"));

    // A reload writes fresh journal lines: the logs the broker returns must include them.
    await c.execOk(["systemctl", "reload", "nginx.service"]);
    const logs = await waitFor("the reload in nginx's journal through the broker", async () => {
      const r = await broker.hostsOk<ServiceLogs>("get_service_logs", { target: HOST, unit: "nginx", lines: 20 });
      const entries = r.results[0]?.data?.entries ?? [];
      return entries.some((e) => /Reloaded nginx\.service/.test(e.message)) ? entries : undefined;
    }, 15_000, 500);
    expect(logs.every((e) => e.unit === "nginx.service")).toBe(true);
  });

  test("the units run as their own users; NoNewPrivs is 1 for the reader and 0 for the operator (sudo)", async () => {
    const reader = await procStatus(c, await mainPid(c, READER));
    const operator = await procStatus(c, await mainPid(c, OPERATOR));
    const uids = (st: Map<string, string>) => (st.get("Uid") ?? "").split(/\s+/).map(Number);
    expect(uids(reader)).toEqual(Array(4).fill(await uidOf(c, "hostward-reader")));
    expect(uids(operator)).toEqual(Array(4).fill(await uidOf(c, "hostward-operator")));
    expect(reader.get("NoNewPrivs")).toBe("1");
    expect(operator.get("NoNewPrivs")).toBe("0");
    // The reader's supplementary groups are the log-reading ones, the operator has none.
    const gid = async (g: string) => Number((await c.execOk(["getent", "group", g])).stdout.split(":")[2]);
    const groups = (st: Map<string, string>) => (st.get("Groups") ?? "").split(/\s+/).filter(Boolean).map(Number).sort();
    expect(groups(reader)).toEqual(expect.arrayContaining([await gid("adm"), await gid("systemd-journal")]));
    expect(groups(operator).filter((g) => g !== Number((operator.get("Gid") ?? "").split(/\s+/)[0]))).toEqual([]);
  });

  test("each role its own key: the reader's user cannot read the operator's key (file or credential), neither user the other's state", async () => {
    const as = (user: string) => ["setpriv", `--reuid=${user}`, `--regid=${user}`, "--init-groups", "--"];
    const refusedTo = async (user: string, argv: string[]) => {
      const r = await c.exec([...as(user), ...argv]);
      expect(r.code, `${user}: ${argv.join(" ")}`).not.toBe(0);
      expect(r.stderr, `${user}: ${argv.join(" ")}`).toMatch(/Permission denied/);
      expect(r.stdout).toBe("");
    };
    const files = {
      reader: { key: "/etc/hostward/tls/reader.key", credential: "/run/credentials/hostward-reader.service/agent.key", state: "/var/lib/hostward-reader" },
      operator: { key: "/etc/hostward/tls/operator.key", credential: "/run/credentials/hostward-operator.service/agent.key", state: "/var/lib/hostward-operator" },
    };
    // The two units hold different keys (control: root reads both, and they differ).
    const readerKey = (await c.execOk(["cat", files.reader.credential])).stdout;
    const operatorKey = (await c.execOk(["cat", files.operator.credential])).stdout;
    expect(readerKey).toContain("PRIVATE KEY");
    expect(operatorKey).toContain("PRIVATE KEY");
    expect(readerKey).not.toBe(operatorKey);
    for (const [user, other] of [["hostward-reader", files.operator], ["hostward-operator", files.reader]] as const) {
      await refusedTo(user, ["cat", other.key]);
      await refusedTo(user, ["cat", other.credential]);
      await refusedTo(user, ["ls", other.state]);
      await refusedTo(user, ["ls", "/var/lib/hostward/helper"]); // the root helper's record of used approvals
    }
    // Control: each user reads the copy systemd made for its own unit.
    const own = await c.exec([...as("hostward-reader"), "cat", files.reader.credential]);
    expect(own.code, own.stderr).toBe(0);
    expect(own.stdout).toBe(readerKey);
  });

  test("a key that others can read (0644) or that another user owns: the unit does not start, and its journal names the file and the fix", async () => {
    const key = "/etc/hostward/tls/operator.key";
    const since = (await c.execOk(["date", "+%Y-%m-%d %H:%M:%S"])).stdout.trim();
    await c.execOk(["chmod", "0644", key]);
    const restarted = await c.exec(["systemctl", "restart", OPERATOR]);
    expect(restarted.code).not.toBe(0);
    const journal = await waitFor("the refusal in the operator unit's journal", async () => {
      const j = (await c.exec(["journalctl", "--no-pager", "-o", "cat", "--since", since, "-u", OPERATOR])).stdout;
      return j.includes("operator.key") ? j : undefined;
    }, 15_000, 250);
    expect(journal).toContain(`ERROR   ${key}: is accessible by group or others (mode 0644): chmod 600 ${key}`);
    expect(await activeState(c, OPERATOR)).not.toBe("active");
    expect(await activeState(c, READER)).toBe("active"); // the reader's key is its own, and fine

    await c.execOk(["chmod", "0600", key]);
    await c.execOk(["chown", "hostward-reader", key]);
    expect((await c.exec(["systemctl", "restart", OPERATOR])).code).not.toBe(0);
    const owned = (await c.exec(["journalctl", "--no-pager", "-o", "cat", "--since", since, "-u", OPERATOR])).stdout;
    expect(owned).toMatch(new RegExp(`${key.replace(/\./g, "\\.")}: is owned by uid \\d+, not root: chown root:root ${key.replace(/\./g, "\\.")}`));

    // Fixed as the message says: the unit starts again.
    await c.execOk(["chown", "root:root", key]);
    await c.execOk(["systemctl", "reset-failed", OPERATOR]);
    await c.execOk(["systemctl", "start", OPERATOR]);
    await waitActive(c, UNITS);
  });

  test("systemctl stop and start: the broker sees the reader go away and come back", async () => {
    await c.execOk(["systemctl", "stop", ...UNITS]);
    for (const unit of UNITS) expect(await activeState(c, unit), unit).toBe("inactive");
    const down = await broker.hosts<ServiceStatus>("get_service_status", { target: HOST, unit: "nginx" });
    expect(down.results[0]?.ok).toBe(false);
    expect(down.results[0]?.error?.code).toBe("UNAVAILABLE");

    await c.execOk(["systemctl", "start", ...UNITS]);
    await waitActive(c, UNITS);
    const up = await broker.hostsOk<ServiceStatus>("get_service_status", { target: HOST, unit: "nginx" });
    expect(up.results[0]?.data?.activeState).toBe("active");
  });

  test("apt remove stops the agents and keeps the enrolment; apt install brings the enrolled host back up by itself", async () => {
    await c.execOk(["apt-get", "remove", "-y", "hostward-agent"], { timeoutMs: 120_000, env: APT_ENV });
    expect(await installed("hostward-agent")).toMatch(/^rc /); // removed, configuration files kept
    for (const unit of UNITS) expect(await activeState(c, unit), unit).not.toBe("active");
    expect(agentProcesses()).toEqual([]);
    expect(existsSync(c.path("/etc/sudoers.d/hostward"))).toBe(false);
    for (const kept of ["/etc/hostward/tls/operator.key", "/etc/hostward/tls/operator.crt", "/etc/hostward/agent.yaml", "/var/lib/hostward/helper/e2e-marker"]) {
      expect(existsSync(c.path(kept)), kept).toBe(true);
    }
    expect((await c.exec(["getent", "passwd", "hostward-reader"])).code).toBe(0);
    const down = await broker.hosts<ServiceStatus>("get_service_status", { target: HOST, unit: "nginx" });
    expect(down.results[0]?.error?.code).toBe("UNAVAILABLE");

    await aptInstall(c, debPath());
    expect(await installed("hostward-agent")).toBe(`ii ${currentVersion()}`);
    for (const unit of UNITS) expect(await unitProperty(c, unit, "UnitFileState"), unit).toBe("enabled");
    await waitActive(c, UNITS);
    expect(existsSync(c.path("/etc/sudoers.d/hostward"))).toBe(true);
    const up = await broker.hostsOk<ServiceStatus>("get_service_status", { target: HOST, unit: "nginx" });
    expect(up.results[0]?.data?.activeState).toBe("active");
  });

  test("an administrator's disable survives a reinstall: the disabled unit stays stopped, the other is restarted", async () => {
    await c.execOk(["systemctl", "disable", "--now", OPERATOR]);
    const [readerBefore] = await waitActive(c, [READER]);
    await c.execOk(["apt-get", "install", "-y", "--reinstall", `/root/${basename(debPath())}`], { timeoutMs: 120_000, env: APT_ENV });
    expect(await unitProperty(c, OPERATOR, "UnitFileState")).toBe("disabled");
    expect(await activeState(c, OPERATOR)).toBe("inactive");
    const [readerAfter] = await waitActive(c, [READER]);
    expect(readerAfter).not.toBe(readerBefore);
    await c.execOk(["systemctl", "enable", "--now", OPERATOR]);
    await waitActive(c, UNITS);
  });

  /** The command lines of agent processes in the container. */
  function agentProcesses(): string[] {
    return readdirSync(c.path("/proc"))
      .filter((p) => /^\d+$/.test(p))
      .map((p) => {
        try {
          return readFileSync(c.path(`/proc/${p}/cmdline`), "utf8").replaceAll("\0", " ");
        } catch {
          return ""; // exited meanwhile
        }
      })
      .filter((l) => /hostward-(reader|operator)\.cjs/.test(l));
  }

  test("apt purge leaves no user, unit, unit state, sudoers file, program, key or state", async () => {
    await broker.close();
    await c.execOk(["apt-get", "purge", "-y", "hostward-agent"], { timeoutMs: 120_000, env: APT_ENV });
    for (const user of ["hostward-reader", "hostward-operator"]) {
      expect((await c.exec(["getent", "passwd", user])).code, user).toBe(2);
      expect((await c.exec(["getent", "group", user])).code, user).toBe(2);
    }
    for (const unit of UNITS) {
      expect(await unitProperty(c, unit, "LoadState"), unit).toBe("not-found");
    }
    const units = (await c.exec(["find", "/etc/systemd", "/lib/systemd", "/usr/lib/systemd", "/run/systemd/system", "/var/lib/systemd/deb-systemd-helper-enabled", "/var/lib/systemd/deb-systemd-helper-masked", "-name", "hostward-*"])).stdout.trim();
    expect(units).toBe("");
    for (const path of ["/etc/sudoers.d/hostward", "/usr/lib/hostward", "/usr/libexec/hostward", "/usr/bin/hostward-agent", "/etc/hostward", "/var/lib/hostward", "/var/lib/hostward-reader", "/var/lib/hostward-operator"]) {
      expect(existsSync(c.path(path)), path).toBe(false);
    }
    // No agent process survives the purge; nginx (the control) is still seen.
    const all = readdirSync(c.path("/proc")).filter((p) => /^\d+$/.test(p)).map((p) => {
      try {
        return readFileSync(c.path(`/proc/${p}/cmdline`), "utf8");
      } catch {
        return "";
      }
    });
    expect(all.some((l) => l.startsWith("/usr/sbin/nginx") || l.startsWith("nginx:")), "control: nginx is seen").toBe(true);
    expect(agentProcesses()).toEqual([]);
    expect(await installed("hostward-agent")).not.toMatch(/^(ii|rc) /);
    // The distribution's nodejs stays (apt autoremove would take it, as with any dependency).
    expect(await installed("nodejs")).toMatch(/^ii /);
  });
});
