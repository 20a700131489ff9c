// The containers' root filesystem: a Debian bookworm minbase with systemd, nginx (the "real
// service" the tests diagnose and restart), unbound (a resolver with `unbound-checkconf` and
// `unbound-control`, so the actions' pre-check and flush_dns_cache run for real) and caddy (the
// seed's reload/restart caddy, pre-checked by `caddy validate`), cached as a tarball outside the
// repository and keyed by its package list, so changing the list builds a new one. Missing cache (a fresh CI machine): debootstrap from
// the mirror this machine's apt already uses (~60 s), then every run extracts a fresh copy (~3 s).
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runOk, sleep } from "./run";

export const CACHE_DIR = process.env.HOSTWARD_E2E_CACHE ?? "/var/cache/hostward";
export const SUITE = "bookworm";
/** systemd and what the agent and its package need, plus real units the actions act on: nginx,
 *  unbound (with `unbound-checkconf` / `unbound-control`), caddy (with `caddy validate`) and
 *  logrotate (rotate_logs starts its logrotate.service). dns-root-data is unbound's Recommends, which debootstrap skips: the root
 *  trust anchor comes from the package instead of a network fetch the containers cannot make. */
export const ROOTFS_PACKAGES = ["systemd", "systemd-sysv", "dbus", "sudo", "iproute2", "libnss-myhostname", "nginx", "unbound", "dns-root-data", "logrotate", "caddy"] as const;
/** Bump when the preparation below changes, so an old cache is not reused. */
const RECIPE_VERSION = 2;

/** Debian's Caddyfile serves :80, which nginx holds; on :8080 both start at every boot. The
 *  admin API stays on localhost:2019, where the unit's `caddy reload` (ExecReload) posts to. */
export const E2E_CADDYFILE = ":8080 {\n\troot * /usr/share/caddy\n\tfile_server\n}\n";

export function rootfsKey(): string {
  return createHash("sha256").update(`${SUITE} minbase ${ROOTFS_PACKAGES.join(",")} recipe ${RECIPE_VERSION}`).digest("hex").slice(0, 12);
}

export function rootfsTarball(): string {
  return join(CACHE_DIR, `e2e-${SUITE}-minbase-${rootfsKey()}.tar.gz`);
}

/** The Debian mirror of this machine's apt sources (one-line .list or deb822 .sources files). */
export function aptMirror(): string {
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
      if (Date.now() > deadline) throw new Error(`${path} is held by pid ${holder} for too long`);
      await sleep(1000);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(path, { force: true });
  }
}

/** Builds the cached tarball unless it exists; returns its path and whether it was built now. */
export async function ensureRootfsTarball(log: (line: string) => void = () => undefined): Promise<{ tarball: string; built: boolean; ms: number }> {
  const tarball = rootfsTarball();
  const started = Date.now();
  if (existsSync(tarball)) return { tarball, built: false, ms: 0 };
  mkdirSync(CACHE_DIR, { recursive: true });
  return withLock(`${tarball}.lock`, async () => {
    if (existsSync(tarball)) return { tarball, built: false, ms: Date.now() - started };
    const mirror = aptMirror();
    const dir = join("/var/tmp", `hwe2e-debootstrap-${process.pid}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o755 });
    const args = ["--variant=minbase", `--include=${ROOTFS_PACKAGES.join(",")}`, SUITE, dir, mirror];
    log(`building the container rootfs (cold cache): debootstrap ${args.join(" ")}`);
    try {
      await runOk("debootstrap", args, { timeoutMs: 10 * 60_000 });
      // sudo must resolve the host name: without /etc/hostname the container's hostname is the
      // machine name (-M), which libnss-myhostname resolves. An empty machine-id makes systemd
      // generate one per boot, so copies of one tarball do not share an identity.
      rmSync(join(dir, "etc/hostname"), { force: true });
      writeFileSync(join(dir, "etc/machine-id"), "");
      writeFileSync(join(dir, "etc/caddy/Caddyfile"), E2E_CADDYFILE);
      // Downloaded .debs are not needed any more: a smaller tarball extracts faster.
      const archives = join(dir, "var/cache/apt/archives");
      for (const f of readdirSync(archives)) if (f.endsWith(".deb")) unlinkSync(join(archives, f));
      await runOk("tar", ["-C", dir, "-czf", `${tarball}.tmp`, "."], { timeoutMs: 5 * 60_000 });
      renameSync(`${tarball}.tmp`, tarball);
      writeFileSync(`${tarball}.info`, `debootstrap ${args.join(" ").replace(dir, "DIR")}\nbuilt: ${new Date().toISOString()}\n`);
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
