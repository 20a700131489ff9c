// The .rpm is built from the same staged tree as the .deb: the same files with the same modes and
// the same bytes, the same dependency on the distribution's nodejs; it installs with
// `rpm -i --root` (files only), and its scriptlets run for real under systemd in a container
// (Debian's rpm: no RPM distribution is reachable from here).
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Container } from "./support/container";
import { record } from "./support/measurements";
import { currentVersion, debPath, PREVIOUS_VERSION, rpmPath } from "./support/packages";
import { runOk } from "./support/run";
import { createScope, requirePackages } from "./support/scope";
import { APT_ENV, UNITS, unitProperty } from "./support/units";

interface Entry {
  /** "-", "d" or "l" */
  type: string;
  /** permission bits, e.g. "rwxr-xr-x" */
  perms: string;
}

const scope = createScope("rpm");
afterAll(() => scope.close());
beforeAll(() => requirePackages());

/**
 * Debian 12 packages ship units in /lib/systemd/system (dpkg does not know /lib and /usr/lib are
 * one directory on a merged-/usr system); RPM distributions use /usr/lib/systemd/system. The same
 * file, so the .deb's path is compared in its /usr form.
 */
function usrMerged(path: string): string {
  return path === "/lib" || path.startsWith("/lib/") ? `/usr${path}` : path;
}

/** `dpkg-deb -c`: "-rw-r--r-- root/root 123 2026-11-21 10:00 ./usr/lib/x" (symlinks end "-> target"); keys in /usr-merged form. */
async function debEntries(file: string): Promise<Map<string, Entry & { debPath: string }>> {
  const out = (await runOk("dpkg-deb", ["-c", file])).stdout;
  const entries = new Map<string, Entry & { debPath: string }>();
  for (const line of out.split("\n").filter(Boolean)) {
    const m = /^([-dl])(\S{9})\s+\S+\s+\d+\s+\S+\s+\S+\s+\.(\/\S*?)\/?(?: -> .*)?$/.exec(line);
    if (!m?.[1] || !m[2] || m[3] === undefined) throw new Error(`unexpected dpkg-deb -c line: ${line}`);
    if (m[3] !== "/" && m[3] !== "") entries.set(usrMerged(m[3]), { type: m[1], perms: m[2], debPath: m[3] });
  }
  return entries;
}

async function rpmEntries(file: string): Promise<Map<string, Entry>> {
  const out = (await runOk("rpm", ["-qp", "--queryformat", "[%{FILEMODES:perms} %{FILENAMES}\\n]", file])).stdout;
  const entries = new Map<string, Entry>();
  for (const line of out.split("\n").filter(Boolean)) {
    const m = /^([-dl])(\S{9}) (\/.*)$/.exec(line);
    if (!m?.[1] || !m[2] || !m[3]) throw new Error(`unexpected rpm -qp line: ${line}`);
    entries.set(m[3], { type: m[1], perms: m[2] });
  }
  return entries;
}

/** Files and symlinks as {path: {type, perms}}. */
const nonDirs = (m: Map<string, Entry>) => new Map([...m].filter(([, e]) => e.type !== "d").map(([p, e]) => [p, { type: e.type, perms: e.perms }]));
const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

describe("the .rpm", () => {
  test("ships the .deb's files, with the same types and modes, and depends on nodejs like it", async () => {
    const deb = await debEntries(debPath());
    const rpm = await rpmEntries(rpmPath());
    expect(nonDirs(rpm).size).toBeGreaterThanOrEqual(8);
    expect(Object.fromEntries(nonDirs(rpm))).toEqual(Object.fromEntries(nonDirs(deb)));
    // The rpm owns only its own directories; each of them is in the .deb too.
    for (const [path, e] of rpm) if (e.type === "d") expect(deb.get(path), path).toMatchObject(e);

    const debDepends = (await runOk("dpkg-deb", ["-f", debPath(), "Depends"])).stdout;
    expect(debDepends).toMatch(/(^|[ ,])nodejs\b/);
    const rpmRequires = (await runOk("rpm", ["-qp", "--requires", rpmPath()])).stdout.split("\n");
    expect(rpmRequires.some((r) => /^nodejs\b/.test(r))).toBe(true);

    record(".deb size, KiB", Math.round(statSync(debPath()).size / 1024));
    record(".rpm size, KiB", Math.round(statSync(rpmPath()).size / 1024));
  });

  test("installs with rpm -i --root, every file byte-identical to the .deb's", async () => {
    const root = join(scope.dir, "rpmroot");
    const debTree = join(scope.dir, "debtree");
    mkdirSync(root, { recursive: true });
    await runOk("rpm", ["-i", "--root", root, "--dbpath", "/var/lib/rpm", "--nodeps", "--noscripts", rpmPath()], { timeoutMs: 120_000 });
    const q = await runOk("rpm", ["-q", "--root", root, "--dbpath", "/var/lib/rpm", "hostward-agent"]);
    expect(q.stdout.trim()).toMatch(/^hostward-agent-/);
    await runOk("dpkg-deb", ["-x", debPath(), debTree]);

    const files = nonDirs(await rpmEntries(rpmPath()));
    const deb = await debEntries(debPath());
    for (const [path, e] of files) {
      const installed = join(root, path);
      const fromDeb = join(debTree, deb.get(path)?.debPath ?? path);
      if (e.type === "l") {
        expect(lstatSync(installed).isSymbolicLink(), path).toBe(true);
        expect(readlinkSync(installed), path).toBe(readlinkSync(fromDeb));
      } else {
        expect(sha256(installed), path).toBe(sha256(fromDeb));
      }
    }
    const installedKiB = Number((await runOk("du", ["-sk", join(root, "usr")])).stdout.split("\t")[0]);
    record("installed size (/usr), KiB", installedKiB);
  });
});

/**
 * The .rpm's scriptlets for real, under a booted systemd: Debian's own `rpm` (from the archive, in
 * the container's apt cache) installs, upgrades and erases the package in a bookworm container.
 * `--nodeps`: that rpm database knows none of the dpkg-installed libraries or nodejs (the
 * automatic requires are checked in test/packaging/packages.test.ts). Debian's systemd has no
 * /usr/lib/systemd/systemd-update-helper, so the expanded %systemd_* lines skip themselves, as
 * Fedora's macros do on a system without it; what they would run there (`systemctl --no-reload
 * preset`) is run by hand against the shipped preset. Not covered here: Fedora's file triggers.
 */
describe("the .rpm's scriptlets under systemd (Debian's rpm in a container)", () => {
  let c: Container;
  const rpmIn = (file: string) => `/root/${file.split("/").at(-1)}`;
  const rpm = (...args: string[]) => c.execOk(["rpm", ...args], { timeoutMs: 120_000 });

  beforeAll(async () => {
    c = await scope.container("rpm1");
    await c.execOk(["apt-get", "install", "-y", "rpm"], { timeoutMs: 180_000, env: APT_ENV });
    for (const f of [rpmPath(PREVIOUS_VERSION), rpmPath()]) copyFileSync(f, c.path(rpmIn(f)));
  });

  test("install: %pre makes the users, %post the helper state and the checked sudoers line; the preset enables both units", async () => {
    const r = await rpm("-i", "--nodeps", rpmIn(rpmPath(PREVIOUS_VERSION)));
    expect(r.stderr).not.toMatch(/hostward-agent: |scriptlet failed/);
    for (const user of ["hostward-reader", "hostward-operator"]) expect((await c.exec(["getent", "passwd", user])).code, user).toBe(0);
    expect((await c.execOk(["stat", "-c", "%U %a", "/etc/sudoers.d/hostward", "/var/lib/hostward/helper"])).stdout.trim().split("\n")).toEqual(["root 440", "root 700"]);
    await c.execOk(["visudo", "-cf", "/etc/sudoers.d/hostward"]);
    await c.execOk(["systemctl", "daemon-reload"]);
    await c.execOk(["systemctl", "--no-reload", "preset", ...UNITS]);
    for (const unit of UNITS) expect(await unitProperty(c, unit, "UnitFileState"), unit).toBe("enabled");
  });

  test("upgrade keeps a changed agent.yaml, the keys and the helper's state", async () => {
    const yaml = c.path("/etc/hostward/agent.yaml");
    const changed = `${readFileSync(yaml, "utf8")}\n# changed on this host\n`;
    writeFileSync(yaml, changed);
    writeFileSync(c.path("/etc/hostward/tls/operator.key"), "a key\n", { mode: 0o600 });
    writeFileSync(c.path("/var/lib/hostward/helper/e2e-marker"), "state\n");
    await rpm("-U", "--nodeps", rpmIn(rpmPath()));
    expect((await rpm("-q", "--qf", "%{VERSION}", "hostward-agent")).stdout).toBe(currentVersion());
    expect(readFileSync(yaml, "utf8")).toBe(changed);
    // The packaged file did not change between the two builds: rpm keeps the host's, with no .rpmnew.
    expect(existsSync(c.path("/etc/hostward/agent.yaml.rpmnew"))).toBe(false);
    expect(readFileSync(c.path("/etc/hostward/tls/operator.key"), "utf8")).toBe("a key\n");
    expect(readFileSync(c.path("/var/lib/hostward/helper/e2e-marker"), "utf8")).toBe("state\n");
  });

  test("erase keeps the users, the changed configuration (.rpmsave), the keys and the state; removes the programs and the sudoers line", async () => {
    await rpm("-e", "--nodeps", "hostward-agent");
    expect((await c.exec(["rpm", "-q", "hostward-agent"])).code).not.toBe(0);
    for (const user of ["hostward-reader", "hostward-operator"]) expect((await c.exec(["getent", "passwd", user])).code, user).toBe(0);
    for (const kept of ["/etc/hostward/agent.yaml.rpmsave", "/etc/hostward/tls/operator.key", "/var/lib/hostward/helper/e2e-marker"]) expect(existsSync(c.path(kept)), kept).toBe(true);
    for (const gone of ["/etc/sudoers.d/hostward", "/usr/lib/hostward", "/usr/libexec/hostward/hostward-action", "/usr/lib/systemd/system/hostward-reader.service", "/etc/hostward/actions.yaml"]) {
      expect(existsSync(c.path(gone)), gone).toBe(false);
    }
  });
});
