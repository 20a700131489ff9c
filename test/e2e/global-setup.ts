// Once per `npm run test:e2e`: check the machine can run the suite, sweep what a killed earlier run
// left behind, make sure the cached rootfs exists (debootstrap on a cold machine), build the
// bundles and the packages under test (the previous build too, for the upgrade test). Teardown
// sweeps this run's leftovers and prints the measurements and the suite's duration.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { readMeasurements, record, resetMeasurements } from "./support/measurements";
import { deleteNetns, listNetns, NETNS_ETC } from "./support/netns";
import { cliFile, currentVersion, debFile, PREVIOUS_VERSION, rpmFile } from "./support/packages";
import { E2E_TMP, MEASUREMENTS_FILE, PACKAGES_DIR, ROOT, ROOTFS_PARENT } from "./support/paths";
import { ensureRootfsTarball, SUITES, type Suite } from "./support/rootfs";
import { CLEAN_PATH, describeRun, run, runOk, sleep } from "./support/run";

const PREFIX = "hwe2e-";
const REQUIRED = [
  ["systemd-nspawn", "systemd-container"],
  ["debootstrap", "debootstrap"],
  ["ip", "iproute2"],
  ["nsenter", "util-linux"],
  ["dpkg-deb", "dpkg"],
  ["rpm", "rpm"],
  ["chroot", "coreutils"],
  ["ssh", "openssh-client"],
  ["scp", "openssh-client"],
  ["ssh-keygen", "openssh-client"],
  ["ansible-playbook", "ansible"],
  ["npm", "npm"],
  ["tar", "tar"],
] as const;

let startedAt = 0;

function checkMachine(): void {
  if (process.getuid?.() !== 0) throw new Error("the e2e suite boots containers and creates network namespaces: run it as root");
  const missing: string[] = [];
  const dirs = CLEAN_PATH.split(":");
  for (const [cmd, pkg] of REQUIRED) {
    if (!dirs.some((d) => existsSync(join(d, cmd)))) missing.push(`${cmd} (apt-get install -y ${pkg})`);
  }
  if (missing.length) throw new Error(`the e2e suite needs: ${missing.join(", ")}`);
}

/** The nspawn processes whose root directory carries `prefix` (to stop what a dead run left). */
function nspawnPidsUnder(prefix: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (!argv[0]?.endsWith("systemd-nspawn")) continue;
      const d = argv[argv.indexOf("-D") + 1] ?? "";
      if (d.startsWith(join(ROOTFS_PARENT, prefix))) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Stops containers, deletes namespaces and rootfs copies whose names start with `prefix`. */
async function sweep(prefix: string): Promise<string[]> {
  const swept: string[] = [];
  const pids = nspawnPidsUnder(prefix);
  for (const pid of pids) {
    process.kill(pid, "SIGTERM");
    swept.push(`container (nspawn pid ${pid})`);
  }
  for (let i = 0; i < 100 && pids.some((p) => existsSync(`/proc/${p}`)); i++) await sleep(200);
  for (const pid of pids) if (existsSync(`/proc/${pid}`)) process.kill(pid, "SIGKILL");
  for (const ns of await listNetns()) {
    if (ns.startsWith(prefix)) {
      await deleteNetns(ns);
      swept.push(`netns ${ns}`);
    }
  }
  if (existsSync(NETNS_ETC)) {
    for (const d of readdirSync(NETNS_ETC)) {
      if (d.startsWith(prefix)) {
        rmSync(join(NETNS_ETC, d), { recursive: true, force: true });
        swept.push(`${NETNS_ETC}/${d}`);
      }
    }
  }
  for (const d of readdirSync(ROOTFS_PARENT)) {
    if (d.startsWith(prefix)) {
      rmSync(join(ROOTFS_PARENT, d), { recursive: true, force: true });
      swept.push(`rootfs ${d}`);
    }
  }
  return swept;
}

/** Prefixes of earlier runs whose vitest process is gone. */
async function deadRunPrefixes(): Promise<string[]> {
  const names = [...(await listNetns()), ...readdirSync(ROOTFS_PARENT)];
  const pids = new Set<string>();
  for (const n of names) {
    const m = /^hwe2e-(\d+)-/.exec(n);
    if (m?.[1] && !existsSync(`/proc/${m[1]}`)) pids.add(m[1]);
  }
  return [...pids].map((p) => `${PREFIX}${p}-`);
}

async function buildPackages(): Promise<void> {
  await runOk(process.execPath, [join(ROOT, "scripts/build.mjs")], { cwd: ROOT, env: process.env, timeoutMs: 120_000 });
  rmSync(PACKAGES_DIR, { recursive: true, force: true });
  mkdirSync(PACKAGES_DIR, { recursive: true });
  // HOSTWARD_E2E_PREBUILT=DIR tests packages built elsewhere (e.g. a release job's artifacts).
  const prebuilt = process.env.HOSTWARD_E2E_PREBUILT;
  const out = prebuilt ?? join(ROOT, "dist", "packages");
  const npmPackage = async (version: string | undefined) => {
    if (prebuilt) return;
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts?: Record<string, string> };
    if (!pkg.scripts?.package) throw new Error('package.json has no "package" script (npm run package)');
    const env = { ...process.env };
    if (version) env.HOSTWARD_PKG_VERSION = version;
    else delete env.HOSTWARD_PKG_VERSION;
    const r = await run("npm", ["run", "--silent", "package"], { cwd: ROOT, env, timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(describeRun("npm", ["run", "package"], r));
  };
  const take = (name: string) => {
    const from = join(out, name);
    if (!existsSync(from)) {
      const there = existsSync(out) ? readdirSync(out).join(", ") : "(no dist/packages)";
      throw new Error(`npm run package did not write dist/packages/${name}; found: ${there}`);
    }
    copyFileSync(from, join(PACKAGES_DIR, name));
  };
  // The previous build first: `npm run package` may clean dist/packages, so each result is copied
  // out before the next build.
  await npmPackage(PREVIOUS_VERSION);
  take(debFile(PREVIOUS_VERSION));
  take(rpmFile(PREVIOUS_VERSION));
  const version = currentVersion();
  await npmPackage(undefined);
  take(debFile(version));
  take(rpmFile(version));
  // The CLI artefact of the README's quick start: `npm pack` (its prepack builds the bundles).
  if (prebuilt) take(cliFile(version));
  else {
    const r = await run("npm", ["pack", "--silent", "--pack-destination", PACKAGES_DIR], { cwd: ROOT, env: process.env, timeoutMs: 300_000 });
    if (r.code !== 0 || !existsSync(join(PACKAGES_DIR, cliFile(version)))) throw new Error(describeRun("npm", ["pack"], r));
  }
}

export async function setup(project: TestProject): Promise<void> {
  startedAt = Date.now();
  resetMeasurements();
  checkMachine();
  for (const prefix of await deadRunPrefixes()) {
    const swept = await sweep(prefix);
    if (swept.length) console.log(`e2e: removed leftovers of an earlier run: ${swept.join(", ")}`);
  }
  const prefix = `${PREFIX}${process.pid}`;
  mkdirSync(E2E_TMP, { recursive: true });
  const tarballs = {} as Record<Suite, string>;
  for (const suite of SUITES) {
    const rootfs = await ensureRootfsTarball(suite, (l) => console.log(`e2e: ${l}`));
    record(`rootfs cache (${suite})`, rootfs.built ? `built now in ${(rootfs.ms / 1000).toFixed(1)} s` : "warm");
    tarballs[suite] = rootfs.tarball;
  }
  let packagesError = "";
  const t0 = Date.now();
  try {
    await buildPackages();
    record("packages build (previous + current), s", Number(((Date.now() - t0) / 1000).toFixed(1)));
  } catch (err) {
    // Tests that need no package (none today, but the rpm/deb tests say why they fail) still run.
    packagesError = (err as Error).message;
    console.error(`e2e: cannot build the packages under test:\n${packagesError}`);
  }
  project.provide("e2eRunPrefix", prefix);
  project.provide("e2eRootfsTarballs", tarballs);
  project.provide("e2ePackagesError", packagesError);
}

export async function teardown(): Promise<void> {
  const swept = await sweep(`${PREFIX}${process.pid}-`);
  if (swept.length) console.error(`e2e: teardown removed what tests left behind: ${swept.join(", ")}`);
  record("e2e suite duration, s", Number(((Date.now() - startedAt) / 1000).toFixed(1)));
  const m = readMeasurements();
  const width = Math.max(...Object.keys(m).map((k) => k.length));
  console.log(`\ne2e measurements (${MEASUREMENTS_FILE}):`);
  for (const [k, v] of Object.entries(m)) console.log(`  ${k.padEnd(width)}  ${v}`);
}
