// The containers' root filesystems: Debian 12 (bookworm) and Debian 13 (trixie) minbase with
// systemd, nginx (the "real service" the tests diagnose and restart), unbound (a resolver with
// `unbound-checkconf` and `unbound-control`, so the actions' pre-check and flush_dns_cache run for
// real), caddy (the seed's reload/restart caddy, pre-checked by `caddy validate`), an OpenSSH server
// and python3-apt (the hosts Ansible and `scp`/`ssh` reach). Node is NOT installed: the
// distribution's `nodejs` (18 on bookworm, 20 on trixie) and `rpm` are downloaded into the
// rootfs's apt cache (`apt-get install --download-only`), so that `apt install ./hostward-agent….deb`
// in a container (which has no network) resolves nodejs from the archive's package index and
// installs it, exactly as on a real host. Each suite's tree is cached as a tarball outside the
// repository, keyed by its suite, package lists and recipe, so changing them builds a new one.
// Missing cache (a fresh CI machine): debootstrap from the mirror this machine's apt already uses
// (~60-100 s per suite), then every run extracts a fresh copy (~3 s).
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runOk, sleep } from "./run";

const CACHE_DIR = process.env.HOSTWARD_E2E_CACHE ?? "/var/cache/hostward";
/** The distributions the suite boots: Debian 12 and Debian 13. */
export const SUITES = ["bookworm", "trixie"] as const;
export type Suite = (typeof SUITES)[number];
/** The suite tests use unless they are about a distribution (e.g. actions, fleet). */
export const DEFAULT_SUITE: Suite = "bookworm";
/** systemd and what the agent and its package need, plus real units the actions act on: nginx,
 *  unbound (with `unbound-checkconf` / `unbound-control`), caddy (with `caddy validate`) and
 *  logrotate (rotate_logs starts its logrotate.service). dns-root-data is unbound's Recommends, which debootstrap skips: the root
 *  trust anchor comes from the package instead of a network fetch the containers cannot make.
 *  openssh-server and python3-apt: what a host reached by scp/ssh and by Ansible's apt module has. */
const ROOTFS_PACKAGES = ["systemd", "systemd-sysv", "dbus", "sudo", "iproute2", "libnss-myhostname", "nginx", "unbound", "dns-root-data", "logrotate", "caddy", "openssh-server", "python3-apt"] as const;
/** In the apt cache, not installed: what `apt install ./hostward-agent.deb` pulls from the archive
 *  (the distribution's nodejs and its libraries), and rpm for the .rpm's scriptlet test. */
const ROOTFS_DOWNLOADED = ["nodejs", "rpm"] as const;
/** Bump when the preparation below changes, so an old cache is not reused. */
const RECIPE_VERSION = 4;

/** Debian's Caddyfile serves :80, which nginx holds; on :8080 both start at every boot. The
 *  admin API stays on localhost:2019, where the unit's `caddy reload` (ExecReload) posts to. */
const E2E_CADDYFILE = ":8080 {\n\troot * /usr/share/caddy\n\tfile_server\n}\n";

function rootfsKey(suite: Suite): string {
  return createHash("sha256").update(`${suite} minbase ${ROOTFS_PACKAGES.join(",")} downloaded ${ROOTFS_DOWNLOADED.join(",")} recipe ${RECIPE_VERSION}`).digest("hex").slice(0, 12);
}

function rootfsTarball(suite: Suite): string {
  return join(CACHE_DIR, `e2e-${suite}-minbase-${rootfsKey(suite)}.tar.gz`);
}

/** The Debian mirror of this machine's apt sources (one-line .list or deb822 .sources files). */
function aptMirror(): string {
  if (process.env.HOSTWARD_E2E_MIRROR) return process.env.HOSTWARD_E2E_MIRROR;
  const files = ["/etc/apt/sources.list"];
  if (existsSync("/etc/apt/sources.list.d")) {
    for (const f of readdirSync("/etc/apt/sources.list.d").sort()) {
      // apt reads only these two suffixes; "*.disabled" and the like are ignored, as apt does.
      if (f.endsWith(".list") || f.endsWith(".sources")) files.push(join("/etc/apt/sources.list.d", f));
    }
  }
  for (const f of files) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, "utf8").split("\n")) {
      const m = /^\s*(?:URIs:|deb(?:\s+\[[^\]]*\])?)\s+(https?:\/\/\S+\/debian)\/?(?:\s|$)/.exec(line);
      if (m?.[1]) return m[1];
    }
  }
  throw new Error("no Debian mirror (…/debian) found in /etc/apt/sources.list*; set HOSTWARD_E2E_MIRROR");
}

/** A lock file held by a live process (its pid inside); a dead holder's lock is taken over. */
async function withLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      const fd = openSync(path, "wx");
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = Number(readFileSync(path, "utf8").trim());
      if (!holder || !existsSync(`/proc/${holder}`)) {
        rmSync(path, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${path} is held by pid ${holder} for too long`, { cause: err });
      await sleep(1000);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(path, { force: true });
  }
}

/** Builds the suite's cached tarball unless it exists; returns its path and whether it was built now. */
export async function ensureRootfsTarball(suite: Suite, log: (line: string) => void = () => undefined): Promise<{ tarball: string; built: boolean; ms: number }> {
  const tarball = rootfsTarball(suite);
  const started = Date.now();
  if (existsSync(tarball)) return { tarball, built: false, ms: 0 };
  mkdirSync(CACHE_DIR, { recursive: true });
  return withLock(`${tarball}.lock`, async () => {
    if (existsSync(tarball)) return { tarball, built: false, ms: Date.now() - started };
    const mirror = aptMirror();
    const dir = join("/var/tmp", `hwe2e-debootstrap-${suite}-${process.pid}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o755 });
    const args = ["--variant=minbase", `--include=${ROOTFS_PACKAGES.join(",")}`, suite, dir, mirror];
    log(`building the ${suite} container rootfs (cold cache): debootstrap ${args.join(" ")}`);
    try {
      await runOk("debootstrap", args, { timeoutMs: 15 * 60_000 });
      // sudo must resolve the host name: without /etc/hostname the container's hostname is the
      // machine name (-M), which libnss-myhostname resolves. An empty machine-id makes systemd
      // generate one per boot, so copies of one tarball do not share an identity.
      rmSync(join(dir, "etc/hostname"), { force: true });
      writeFileSync(join(dir, "etc/machine-id"), "");
      writeFileSync(join(dir, "etc/caddy/Caddyfile"), E2E_CADDYFILE);
      // debootstrap's own .debs are not needed any more (a smaller tarball extracts faster); then
      // the archive's nodejs (and rpm) go into the apt cache, next to debootstrap's package index.
      const archives = join(dir, "var/cache/apt/archives");
      for (const f of readdirSync(archives)) if (f.endsWith(".deb")) unlinkSync(join(archives, f));
      // With their Recommends (ca-certificates, nodejs-doc…): `apt install` on a host takes them too.
      await runOk("chroot", [dir, "apt-get", "install", "--download-only", "-y", "-q", ...ROOTFS_DOWNLOADED], {
        timeoutMs: 10 * 60_000,
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8", DEBIAN_FRONTEND: "noninteractive" },
      });
      const downloaded = readdirSync(archives).filter((f) => f.endsWith(".deb"));
      for (const pkg of ROOTFS_DOWNLOADED) {
        if (!downloaded.some((f) => f.startsWith(`${pkg}_`))) throw new Error(`${suite}: apt-get --download-only left no ${pkg}_*.deb in the apt cache (${downloaded.join(", ")})`);
      }
      await runOk("tar", ["-C", dir, "-czf", `${tarball}.tmp`, "."], { timeoutMs: 5 * 60_000 });
      renameSync(`${tarball}.tmp`, tarball);
      writeFileSync(
        `${tarball}.info`,
        `debootstrap ${args.join(" ").replace(dir, "DIR")}\napt-get install --download-only ${ROOTFS_DOWNLOADED.join(" ")}: ${downloaded.join(" ")}\nbuilt: ${new Date().toISOString()}\n`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(`${tarball}.tmp`, { force: true });
    }
    return { tarball, built: true, ms: Date.now() - started };
  });
}

/** Extracts a fresh copy of the cached rootfs into `dir` (created 0755: mktemp-style 0700 would lock non-root users out of /). */
export async function extractRootfs(tarball: string, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  await runOk("tar", ["-C", dir, "-xzf", tarball], { timeoutMs: 5 * 60_000 });
  // The tarball's "." may carry a restrictive mode; the container's / must be world-searchable.
  if ((statSync(dir).mode & 0o777) !== 0o755) await runOk("chmod", ["755", dir]);
}
