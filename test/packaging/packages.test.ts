// npm run package's output: the .deb and the .rpm are built from one staged tree, hold the same
// files with the same owners and modes (units aside: /lib/systemd on Debian 12, /usr/lib/systemd
// in the rpm), carry the maintainer scripts, and pass lintian and rpmlint with no error and only
// the warnings packaging/README.md justifies.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPackages, ROOT, tool, type BuiltPackages } from "./tools";

const VERSION = "0.0.7+test";

/** Every installed file and symlink with its owner and mode (directories hostward owns: below). */
const FILES = [
  "-rw-r--r-- root root /etc/hostward/actions.yaml",
  "-rw-r--r-- root root /etc/hostward/agent.yaml",
  "-rw-r--r-- root root /lib/systemd/system/hostward-operator.service",
  "-rw-r--r-- root root /lib/systemd/system/hostward-reader.service",
  "-rw-r--r-- root root /usr/lib/systemd/system-preset/80-hostward-agent.preset",
  "lrwxrwxrwx root root /usr/bin/hostward-agent -> ../lib/hostward/hostward-agent.cjs",
  "-rwxr-xr-x root root /usr/lib/hostward/hostward-agent.cjs",
  "-rwxr-xr-x root root /usr/lib/hostward/hostward-operator.cjs",
  "-rwxr-xr-x root root /usr/lib/hostward/hostward-reader.cjs",
  "-rw-r--r-- root root /usr/lib/hostward/pty.node",
  "-rwxr-xr-x root root /usr/libexec/hostward/hostward-action",
  "-rw-r--r-- root root /usr/share/doc/hostward-agent/README.md",
  "-rw-r--r-- root root /usr/share/doc/hostward-agent/changelog.gz",
  "-rw-r--r-- root root /usr/share/doc/hostward-agent/copyright",
  "-rw-r--r-- root root /usr/share/hostward/sudoers",
  "-rw-r--r-- root root /usr/share/man/man1/hostward-agent.1.gz",
];
const DIRS = [
  "drwxr-xr-x root root /etc/hostward",
  "drwxr-xr-x root root /etc/hostward/approvers",
  "drwxr-x--- root root /etc/hostward/tls",
  "drwxr-xr-x root root /usr/lib/hostward",
  "drwxr-xr-x root root /usr/libexec/hostward",
  "drwxr-xr-x root root /usr/share/doc/hostward-agent",
  "drwxr-xr-x root root /usr/share/hostward",
];

/** Lintian and rpmlint warnings that packaging/README.md lists and justifies. */
const JUSTIFIED_LINTIAN = ["non-standard-dir-perm"];
const JUSTIFIED_RPMLINT = [
  "dangerous-command-in-%post",
  "dangerous-command-in-%postun",
  "dangerous-command-in-%pre",
  "invalid-license",
  "manpage-not-compressed",
  "no-manual-page-for-binary",
];

function debEntries(deb: string): string[] {
  const r = tool("dpkg-deb", ["-c", deb]);
  expect(r.code).toBe(0);
  return r.stdout
    .trim()
    .split("\n")
    .map((line) => {
      // drwxr-xr-x root/root 0 2026-11-22 00:15 ./etc/  |  lrwxrwxrwx root/root 0 … ./usr/bin/x -> target
      const m = /^(\S+) (\S+)\/(\S+)\s+\d+ \S+ \S+ \.(\/.*?)\/?( -> .*)?$/.exec(line);
      if (!m) throw new Error(`unexpected dpkg-deb line: ${line}`);
      return `${m[1]} ${m[2]} ${m[3]} ${m[4] === "/" ? "/" : m[4]}${m[5] ?? ""}`;
    });
}

function rpmEntries(rpm: string): string[] {
  const r = tool("rpm", ["-qp", "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}%{FILELINKTOS:arraysize}\n]", rpm]);
  expect(r.code).toBe(0);
  // FILELINKTOS needs a second query: the format above only marks lines; fill the targets in.
  const links = tool("rpm", ["-qp", "--qf", "[%{FILENAMES}\t%{FILELINKTOS}\n]", rpm]).stdout.trim().split("\n");
  const target = new Map(links.map((l) => l.split("\t") as [string, string]));
  return r.stdout
    .trim()
    .split("\n")
    .map((line) => {
      const path = line.split(" ")[3]?.replace(/\d+$/, "") ?? "";
      const head = line.split(" ").slice(0, 3).join(" ");
      const to = target.get(path);
      return `${head} ${path}${to ? ` -> ${to}` : ""}`;
    });
}

const files = (entries: string[]) => entries.filter((e) => !e.startsWith("d")).sort();
const ourDirs = (entries: string[]) => entries.filter((e) => e.startsWith("d") && DIRS.some((d) => d === e || d.endsWith(e.split(" ")[3] ?? "\0"))).sort();
const toRpmUnitDir = (e: string) => e.replace(" /lib/systemd/", " /usr/lib/systemd/");

function lintTags(output: string, pattern: RegExp): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const line of output.split("\n")) {
    const m = pattern.exec(line);
    if (!m?.[1] || !m[2]) continue;
    if (m[1] === "E") errors.push(line);
    if (m[1] === "W") warnings.push(m[2]);
  }
  return { errors, warnings: [...new Set(warnings)].sort() };
}

let pkgs: BuiltPackages;
beforeAll(() => {
  pkgs = buildPackages(VERSION);
}, 120_000);
afterAll(() => {
  if (pkgs) rmSync(pkgs.out, { recursive: true, force: true });
});

describe("the two packages", () => {
  it("are written under the names the e2e suite expects, with the overridden version", () => {
    expect(pkgs.log).toContain(`hostward-agent_${VERSION}_amd64.deb`);
    expect(pkgs.log).toContain(`hostward-agent-${VERSION}-1.x86_64.rpm`);
    expect(tool("dpkg-deb", ["-f", pkgs.deb, "Version", "Architecture", "Package"]).stdout).toBe(`Version: ${VERSION}\nArchitecture: amd64\nPackage: hostward-agent\n`);
    expect(tool("rpm", ["-qp", "--qf", "%{NAME} %{VERSION} %{RELEASE} %{ARCH}", pkgs.rpm]).stdout).toBe(`hostward-agent ${VERSION} 1 x86_64`);
  });

  it("the .deb holds exactly the expected files, owners and modes", () => {
    const entries = debEntries(pkgs.deb);
    expect(files(entries)).toEqual([...FILES].sort());
    expect(ourDirs(entries)).toEqual([...DIRS].sort());
  });

  it("the .rpm holds the same files as the .deb (units in /usr/lib/systemd)", () => {
    const deb = debEntries(pkgs.deb);
    const rpm = rpmEntries(pkgs.rpm);
    expect(files(rpm)).toEqual(files(deb).map(toRpmUnitDir).sort());
    expect(rpm.filter((e) => e.startsWith("d")).sort()).toEqual([...DIRS].sort());
  });

  it("depend on the distribution's nodejs (18 or newer), sudo, and what pty.node links, and keep agent.yaml and actions.yaml as conffiles", () => {
    const depends = tool("dpkg-deb", ["-f", pkgs.deb, "Depends"]).stdout.trim();
    expect(depends).toMatch(/^nodejs \(>= 18\), sudo, passwd, /);
    // The library part is exactly what dpkg-shlibdeps computes for the shipped pty.node (glibc 2.34
    // on a Debian 12 build), not a hand-written list.
    const dir0 = mkdtempSync(join(tmpdir(), "hostward-shlibdeps-"));
    mkdirSync(join(dir0, "debian"));
    writeFileSync(join(dir0, "debian", "control"), "Source: x\n\nPackage: x\nArchitecture: any\n");
    const shlibs = tool("dpkg-shlibdeps", ["-O", "-e", join(pkgs.stage, "usr/lib/hostward/pty.node")], { cwd: dir0 });
    rmSync(dir0, { recursive: true, force: true });
    const computed = /^shlibs:Depends=(.+)$/m.exec(shlibs.stdout)?.[1];
    expect(computed).toMatch(/libc6 \(>= 2\.34\)/);
    expect(depends.endsWith(`, ${computed}`)).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), "hostward-debian-"));
    expect(tool("dpkg-deb", ["-e", pkgs.deb, dir]).code).toBe(0);
    expect(readFileSync(join(dir, "conffiles"), "utf8")).toBe("/etc/hostward/actions.yaml\n/etc/hostward/agent.yaml\n");
    const requires = tool("rpm", ["-qp", "--requires", pkgs.rpm]).stdout;
    expect(requires).toMatch(/^nodejs\(engine\) >= 18$/m);
    // rpmbuild's automatic requires: the libraries and symbol versions pty.node uses, and the shebang's node.
    expect(requires).toMatch(/^libc\.so\.6\(GLIBC_2\.34\)\(64bit\)$/m);
    expect(requires).toMatch(/^libstdc\+\+\.so\.6\(\)\(64bit\)$/m);
    expect(requires).toMatch(/^\/usr\/bin\/node$/m);
    expect(requires).toMatch(/^sudo$/m);
    // What the scriptlets run: useradd (shadow-utils), visudo (sudo), install/mktemp/rm (coreutils), systemctl.
    const scriptletRequires = tool("rpm", ["-qp", "--qf", "[%{REQUIREFLAGS:deptype} %{REQUIRES}\n]", pkgs.rpm]).stdout;
    for (const line of ["pre shadow-utils", "post sudo", "post coreutils", "postun coreutils", "post systemd", "preun systemd", "postun systemd"]) {
      expect(scriptletRequires, line).toMatch(new RegExp(`^${line}$`, "m"));
    }
    const configs = tool("rpm", ["-qp", "--configfiles", pkgs.rpm]).stdout;
    expect(configs.trim().split("\n").sort()).toEqual(["/etc/hostward/actions.yaml", "/etc/hostward/agent.yaml"]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("carry maintainer scripts that are valid sh and share the same functions", () => {
    const dir = mkdtempSync(join(tmpdir(), "hostward-debian-"));
    tool("dpkg-deb", ["-e", pkgs.deb, dir]);
    const common = readFileSync(join(ROOT, "packaging/scripts/common.sh"), "utf8");
    for (const script of ["postinst", "prerm", "postrm"]) {
      const text = readFileSync(join(dir, script), "utf8");
      expect(text.startsWith("#!/bin/sh\n"), script).toBe(true);
      expect(text).toContain(common);
      const r = tool("sh", ["-n", join(dir, script)]);
      expect(r.stderr, script).toBe("");
    }
    const postinst = readFileSync(join(dir, "postinst"), "utf8");
    expect(postinst).toMatch(/hw_create_users\n\s+hw_create_helper_state\n\s+hw_install_sudoers\n/);
    // The units as dh_installsystemd handles them: deb-systemd-helper keeps the enablement state
    // across remove/install, deb-systemd-invoke starts (install) or restarts (upgrade, reinstall).
    expect(postinst).toMatch(/deb-systemd-helper --quiet was-enabled "\$unit"/);
    expect(postinst).toMatch(/deb-systemd-invoke \$_dh_action \$HW_UNITS/);
    expect(readFileSync(join(dir, "prerm"), "utf8")).toMatch(/\[ "\$1" = remove \]; then\n\s+# shellcheck disable=SC2086\n\s+deb-systemd-invoke stop \$HW_UNITS/);
    const postrm = readFileSync(join(dir, "postrm"), "utf8");
    expect(postrm).toMatch(/deb-systemd-helper mask \$HW_UNITS/);
    expect(postrm).toMatch(/deb-systemd-helper purge \$HW_UNITS/);
    const scripts = tool("rpm", ["-qp", "--scripts", pkgs.rpm]).stdout;
    for (const name of ["preinstall", "postinstall", "preuninstall", "postuninstall"]) expect(scripts).toContain(`${name} scriptlet (using /bin/sh):`);
    // The shared functions in %pre and %post; the units only through the systemd macros' expansions.
    expect(scripts.split("hw_create_users() {").length - 1).toBe(2);
    expect(scripts).toContain("/usr/lib/systemd/systemd-update-helper install-system-units hostward-reader.service hostward-operator.service");
    expect(scripts).toContain("/usr/lib/systemd/systemd-update-helper remove-system-units hostward-reader.service hostward-operator.service");
    expect(scripts).toContain("/usr/lib/systemd/systemd-update-helper mark-restart-system-units hostward-reader.service hostward-operator.service");
    expect(scripts).not.toMatch(/%systemd_/);
    // An erase keeps the users, the configuration and the keys (Fedora's guidelines).
    expect(scripts).not.toMatch(/userdel|groupdel|rm -rf \/etc\/hostward/);
    rmSync(dir, { recursive: true, force: true });
  });

  it("ship bundles that run with the distribution's node path in their shebang", () => {
    for (const f of ["usr/lib/hostward/hostward-agent.cjs", "usr/lib/hostward/hostward-reader.cjs", "usr/libexec/hostward/hostward-action"]) {
      expect(readFileSync(join(pkgs.stage, f), "utf8").split("\n", 1)[0], f).toBe("#!/usr/bin/node");
      expect(readFileSync(join(pkgs.stage, f), "utf8"), f).not.toMatch(/sourceMappingURL/);
    }
    const version = tool(process.execPath, [join(pkgs.stage, "usr/lib/hostward/hostward-agent.cjs"), "--version"]);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+/);
    // Outside sudo the staged helper refuses (no SUDO_USER), with its "no permission" code.
    const helper = tool(process.execPath, [join(pkgs.stage, "usr/libexec/hostward/hostward-action"), "restart_service"], { env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } });
    expect(helper.code).toBe(77);
    expect(readFileSync(join(pkgs.stage, "usr/lib/hostward/pty.node")).subarray(0, 4).toString("latin1")).toBe("\x7fELF");
  });

  it("lintian reports no error and only the justified warnings", () => {
    const r = tool("lintian", ["--no-cfg", pkgs.deb], { timeoutMs: 180_000 });
    const { errors, warnings } = lintTags(r.stdout + r.stderr, /^([EWIPXO]): hostward-agent(?: \w+)?: (\S+)/);
    expect(errors).toEqual([]);
    expect(warnings.filter((w) => !JUSTIFIED_LINTIAN.includes(w))).toEqual([]);
    // The parser saw lintian's lines (the 0750 TLS directory is deliberate and always reported).
    expect(warnings).toContain("non-standard-dir-perm");
  }, 180_000);

  it("rpmlint reports no error and only the justified warnings", () => {
    const r = tool("rpmlint", ["-r", join(ROOT, "packaging/hostward-agent.rpmlintrc"), pkgs.rpm]);
    expect(r.stdout).toMatch(/ 0 errors, /);
    const { errors, warnings } = lintTags(r.stdout, /^hostward-agent\.x86_64: ([EW]): (\S+)/);
    expect(errors).toEqual([]);
    expect(warnings.filter((w) => !JUSTIFIED_RPMLINT.includes(w))).toEqual([]);
    expect(warnings).toContain("invalid-license");
  });
});

describe("packaging/build.mjs", () => {
  it("refuses a version neither dpkg nor rpm can carry", () => {
    const r = tool(process.execPath, [join(ROOT, "packaging/build.mjs"), "--no-build"], {
      env: { ...process.env, HOSTWARD_PKG_VERSION: "1.0-1", HOSTWARD_PKG_OUT: mkdtempSync(join(tmpdir(), "hostward-pkg-")) },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/version "1.0-1" must be/);
  });
});
