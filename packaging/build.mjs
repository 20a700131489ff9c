#!/usr/bin/env node
// npm run package: builds the bundles, stages ONE tree of the installed files, then makes the .deb
// (dpkg-deb) and the .rpm (rpmbuild) from that same tree:
//   dist/packages/hostward-agent_<version>_amd64.deb
//   dist/packages/hostward-agent-<version>-1.x86_64.rpm
// The version is package.json's unless HOSTWARD_PKG_VERSION is set (the e2e suite builds an older
// "previous" package to test upgrades); HOSTWARD_PKG_OUT writes them (and the work tree) to another
// directory (test/packaging). Options: --no-build (use the bundles already in dist/).
// The staged layout is the contract with test/e2e and test/packaging; see packaging/README.md.
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createHash } from "node:crypto";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const HERE = join(ROOT, "packaging");
const OUT = process.env.HOSTWARD_PKG_OUT || join(ROOT, "dist", "packages");
const WORK = join(OUT, "work");
const STAGE = join(WORK, "stage");

const NAME = "hostward-agent";
const MAINTAINER = "hostward maintainers <maintainers@hostward.example>";
const SHEBANG = "#!/usr/bin/node";
/** The oldest nodejs the agent bundles are built for and tested on (scripts/build.mjs AGENT_TARGET):
 *  Debian 12's and Ubuntu 24.04's own. */
const NODE_MIN = "18";
/** What the maintainer scripts run: useradd/usermod (passwd), visudo (sudo). The libraries
 *  pty.node links come from dpkg-shlibdeps (below), never by hand. */
const DEB_BASE_DEPENDS = [`nodejs (>= ${NODE_MIN})`, "sudo", "passwd"];
/** Directories whose mode is not 0755. */
const DIR_MODES = { "etc/hostward/tls": 0o750 };
/** Units: where the staged tree (and the .rpm) puts them, and where Debian 12 wants them. */
const UNIT_DIR = "usr/lib/systemd/system";
const DEB_UNIT_DIR = "lib/systemd/system";

function fail(message) {
  process.stderr.write(`packaging: ${message}\n`);
  process.exit(1);
}

function run(cmd, args, opts = {}) {
  try {
    return execFileSync(cmd, args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...opts });
  } catch (err) {
    fail(`${cmd} ${args.join(" ")} failed (${err.status ?? err.code}):\n${err.stdout ?? ""}${err.stderr ?? ""}`);
  }
}

function packageVersion() {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  const version = process.env.HOSTWARD_PKG_VERSION || pkg.version;
  // Valid as a native Debian version and as an RPM Version (no "-": the release is separate).
  if (!/^[0-9][A-Za-z0-9.+~]{0,63}$/.test(version)) fail(`version ${JSON.stringify(version)} must be digits, letters and . + ~ (no -)`);
  return version;
}

/** A bundle as installed: the distribution's node in the shebang, no source map reference. */
function installBundle(from, to) {
  const lines = readFileSync(from, "utf8").split("\n");
  if (!lines[0]?.startsWith("#!")) fail(`${from} has no shebang line`);
  lines[0] = SHEBANG;
  const kept = lines.filter((l) => !l.startsWith("//# sourceMappingURL="));
  writeFile(to, kept.join("\n"), 0o755);
}

function writeFile(path, contents, mode) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, contents);
  chmodSync(path, mode);
}

function changelog(version) {
  const when = process.env.SOURCE_DATE_EPOCH ? new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000) : new Date();
  const date = when.toUTCString().replace("GMT", "+0000");
  return `${NAME} (${version}) unstable; urgency=medium\n\n  * Release ${version}.\n\n -- ${MAINTAINER}  ${date}\n`;
}

function rpmChangelog(version) {
  const when = process.env.SOURCE_DATE_EPOCH ? new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000) : new Date();
  const [day, date, month, year] = when.toUTCString().replace(",", "").split(" ");
  return `* ${day} ${month} ${date} ${year} ${MAINTAINER} - ${version}-1\n- Release ${version}.`;
}

/** Sets every staged directory to 0755 (DIR_MODES aside), whatever the umask was. */
function fixDirModes(root) {
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const path = join(dir, entry.name);
      chmodSync(path, DIR_MODES[relative(root, path)] ?? 0o755);
      walk(path);
    }
  };
  walk(root);
}

/** The one tree both packages are built from. */
function stage(version) {
  rmSync(STAGE, { recursive: true, force: true });
  mkdirSync(STAGE, { recursive: true });
  const s = (p) => join(STAGE, p);
  const dist = (p) => join(ROOT, "dist", "agent", p);
  for (const role of ["reader", "operator"]) installBundle(dist(`hostward-${role}.cjs`), s(`usr/lib/hostward/hostward-${role}.cjs`));
  installBundle(dist("hostward-agent.cjs"), s("usr/lib/hostward/hostward-agent.cjs"));
  installBundle(dist("hostward-action.cjs"), s("usr/libexec/hostward/hostward-action"));
  // node-pty's native addon, beside the bundles; stripped (it carries no debug use here).
  writeFile(s("usr/lib/hostward/pty.node"), readFileSync(join(ROOT, "node_modules/node-pty/build/Release/pty.node")), 0o644);
  run("strip", ["--strip-unneeded", "--remove-section=.comment", "--remove-section=.note", s("usr/lib/hostward/pty.node")]);
  mkdirSync(s("usr/bin"), { recursive: true });
  symlinkSync("../lib/hostward/hostward-agent.cjs", s("usr/bin/hostward-agent"));
  for (const unit of ["hostward-reader.service", "hostward-operator.service"]) {
    writeFile(s(`${UNIT_DIR}/${unit}`), readFileSync(join(ROOT, "systemd", unit)), 0o644);
  }
  // Read by the .rpm's %systemd_post (systemctl preset); harmless on Debian, which enables in postinst.
  writeFile(s("usr/lib/systemd/system-preset/80-hostward-agent.preset"), readFileSync(join(HERE, "hostward-agent.preset")), 0o644);
  writeFile(s("etc/hostward/agent.yaml"), readFileSync(join(HERE, "agent.yaml")), 0o644);
  // The helper's allowlist: root-owned, a conffile (an administrator's lists survive upgrades).
  writeFile(s("etc/hostward/actions.yaml"), readFileSync(join(HERE, "actions.yaml")), 0o644);
  mkdirSync(s("etc/hostward/tls"), { recursive: true });
  mkdirSync(s("etc/hostward/approvers"), { recursive: true });
  // The sudoers line is installed into /etc/sudoers.d by the maintainer scripts, after visudo -cf.
  writeFile(s("usr/share/hostward/sudoers"), readFileSync(join(HERE, "sudoers")), 0o644);
  const doc = s(`usr/share/doc/${NAME}`);
  writeFile(join(doc, "README.md"), readFileSync(join(HERE, "host-README.md")), 0o644);
  writeFile(join(doc, "copyright"), readFileSync(join(HERE, "copyright")), 0o644);
  writeFile(join(doc, "changelog.gz"), gzipSync(changelog(version), { level: 9 }), 0o644);
  writeFile(s(`usr/share/man/man1/${NAME}.1.gz`), gzipSync(readFileSync(join(HERE, `${NAME}.1`)), { level: 9 }), 0o644);
  fixDirModes(STAGE);
}

/** Regular files and symlinks below root, relative, sorted. */
function listFiles(root) {
  const out = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.push(relative(root, path));
    }
  };
  walk(root);
  return out.sort();
}

function maintainerScript(name) {
  const common = readFileSync(join(HERE, "scripts", "common.sh"), "utf8");
  const body = readFileSync(join(HERE, "scripts", name), "utf8");
  return `#!/bin/sh\n# ${name} of ${NAME}, generated by packaging/build.mjs from packaging/scripts/.\nset -e\n\n${common}\n${body}`;
}

function du(root) {
  let bytes = 0;
  for (const f of listFiles(root)) {
    const st = lstatSync(join(root, f));
    bytes += st.isSymbolicLink() ? 0 : Math.ceil(st.size / 1024) * 1024;
  }
  return Math.ceil(bytes / 1024);
}

/**
 * `dpkg-shlibdeps` on the staged pty.node: the shared-library dependencies computed from the
 * symbol versions it really uses (glibc 2.34 for pthread/dl symbols that moved into libc). It needs
 * a debian/control to run in; the napi_* symbols are node's own (no library provides them) and are
 * the only warnings accepted.
 */
function shlibDepends(debRoot) {
  const dir = join(WORK, "shlibdeps");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "debian"), { recursive: true });
  writeFileSync(join(dir, "debian", "control"), `Source: ${NAME}\n\nPackage: ${NAME}\nArchitecture: any\n`);
  const r = spawnSync("dpkg-shlibdeps", ["-O", "-e", join(debRoot, "usr/lib/hostward/pty.node")], { cwd: dir, encoding: "utf8" });
  if (r.error || r.status !== 0) fail(`dpkg-shlibdeps failed (${r.error?.message ?? r.status}; apt-get install dpkg-dev):\n${r.stdout ?? ""}${r.stderr ?? ""}`);
  const expected = [/symbol napi_\w+ used by \S+ found in none of the libraries/, /\d+ other similar warnings have been skipped/, /binaries to analyze should already be installed/];
  const unexpected = r.stderr.split("\n").filter((l) => l.trim() && !expected.some((e) => e.test(l)));
  if (unexpected.length) fail(`dpkg-shlibdeps warned:\n${unexpected.join("\n")}`);
  const out = r.stdout;
  const m = /^shlibs:Depends=(.+)$/m.exec(out);
  if (!m) fail(`dpkg-shlibdeps printed no shlibs:Depends:\n${out}`);
  return m[1].trim();
}

function buildDeb(version) {
  const debRoot = join(WORK, "deb");
  rmSync(debRoot, { recursive: true, force: true });
  cpSync(STAGE, debRoot, { recursive: true, verbatimSymlinks: true });
  // Debian 12 (before the /usr merge is complete) keeps units in /lib/systemd/system.
  mkdirSync(join(debRoot, DEB_UNIT_DIR), { recursive: true });
  for (const unit of readdirSync(join(debRoot, UNIT_DIR))) renameSync(join(debRoot, UNIT_DIR, unit), join(debRoot, DEB_UNIT_DIR, unit));
  rmSync(join(debRoot, UNIT_DIR), { recursive: true });
  fixDirModes(debRoot);

  const depends = [...DEB_BASE_DEPENDS, shlibDepends(debRoot)].join(", ");
  const files = listFiles(debRoot);
  const conffiles = ["/etc/hostward/actions.yaml", "/etc/hostward/agent.yaml"];
  const md5sums = files
    .filter((f) => !lstatSync(join(debRoot, f)).isSymbolicLink() && !conffiles.includes(`/${f}`))
    .map((f) => `${createHash("md5").update(readFileSync(join(debRoot, f))).digest("hex")}  ${f}\n`)
    .join("");
  const control = [
    `Package: ${NAME}`,
    `Version: ${version}`,
    "Architecture: amd64",
    `Maintainer: ${MAINTAINER}`,
    `Installed-Size: ${du(debRoot)}`,
    `Depends: ${depends}`,
    "Section: admin",
    "Priority: optional",
    "Homepage: https://hostward.example/",
    "Description: typed, read-only diagnostics and approved actions for hostward",
    " The host side of hostward: two agents that an MCP broker reaches over gRPC",
    " with mutual TLS. hostward-reader.service answers a fixed catalog of typed,",
    " bounded, read-only diagnostics as an unprivileged user; hostward-operator",
    " runs approved actions through one root-owned helper that sudo allows it to",
    " run, and nothing else. No shell is involved anywhere.",
    " .",
    " Certificates go in /etc/hostward/tls; hostward-agent check says whether the",
    " host is ready.",
    "",
  ].join("\n");
  const D = join(debRoot, "DEBIAN");
  writeFile(join(D, "control"), control, 0o644);
  writeFile(join(D, "conffiles"), `${conffiles.join("\n")}\n`, 0o644);
  writeFile(join(D, "md5sums"), md5sums, 0o644);
  for (const script of ["postinst", "prerm", "postrm"]) writeFile(join(D, script), maintainerScript(script), 0o755);
  chmodSync(D, 0o755);

  const out = join(OUT, `${NAME}_${version}_amd64.deb`);
  run("dpkg-deb", ["--root-owner-group", "-Zxz", "--build", debRoot, out]);
  return out;
}

function buildRpm(version) {
  const top = join(WORK, "rpmbuild");
  rmSync(top, { recursive: true, force: true });
  mkdirSync(join(top, "SPECS"), { recursive: true });
  const common = readFileSync(join(HERE, "scripts", "common.sh"), "utf8");
  const spec = readFileSync(join(HERE, `${NAME}.spec.in`), "utf8")
    .replaceAll("@VERSION@", version)
    .replaceAll("@NODE_MIN@", NODE_MIN)
    .replaceAll("@SYSTEMD_MACROS@", join(HERE, "rpm", "macros.systemd"))
    .replaceAll("@STAGE@", STAGE)
    .replaceAll("@MAINTAINER@", MAINTAINER)
    .replaceAll("@CHANGELOG@", rpmChangelog(version))
    .replaceAll("@COMMON@", common.replaceAll("%", "%%"));
  const specFile = join(top, "SPECS", `${NAME}.spec`);
  writeFileSync(specFile, spec);
  run("rpmbuild", ["-bb", "--quiet", "--target", "x86_64", "--define", `_topdir ${top}`, "--define", "_binary_payload w9.xzdio", specFile]);
  const name = `${NAME}-${version}-1.x86_64.rpm`;
  const built = join(top, "RPMS", "x86_64", name);
  statSync(built);
  const out = join(OUT, name);
  copyFileSync(built, out);
  return out;
}

const version = packageVersion();
if (!process.argv.includes("--no-build")) {
  execFileSync(process.execPath, [join(ROOT, "scripts/build.mjs")], { cwd: ROOT, stdio: "inherit" });
}
mkdirSync(OUT, { recursive: true });
for (const f of readdirSync(OUT)) if (/\.(deb|rpm)$/.test(f)) rmSync(join(OUT, f));
stage(version);
for (const out of [buildDeb(version), buildRpm(version)]) {
  process.stdout.write(`${relative(ROOT, out)} (${Math.round(statSync(out).size / 1024)} KiB)\n`);
}
