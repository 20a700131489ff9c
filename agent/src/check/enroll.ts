// `hostward-agent enroll DIR`: the host side of enrolment in one command. DIR is what
// `hostward pki issue-agent HOST --out DIR` wrote on the workstation (ca.crt, and each role's own
// certificate and key: reader.crt, reader.key, operator.crt, operator.key), copied to the host.
// The files are checked BEFORE anything on the host changes (a bad bundle never replaces a working
// enrolment), installed root-owned into /etc/hostward/tls/ under the same names (keys 0600, each
// file renamed into place), the whole host is checked as `hostward-agent check` does, the copies of
// the private keys in DIR are removed, and the enabled units are restarted and waited for until
// they serve. Exit 0 when both agents serve.
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { run, type RunResult } from "../exec";
import { Findings, formatFindings } from "./findings";
import { DEFAULT_CONFIG_FILE, runCheck, UNIT_TLS_DIR } from "./run-check";
import { checkTls } from "./tls-check";

const UNITS = [
  { unit: "hostward-reader.service", port: 7443 },
  { unit: "hostward-operator.service", port: 7444 },
] as const;

export interface EnrollOptions {
  /** The directory `hostward pki issue-agent --out` wrote. */
  source: string;
  configFile?: string;
  /** Where the units' LoadCredential= lines read the files (tests point it elsewhere). */
  tlsDir?: string;
  /** Leave the private key in `source` (default: removed once installed). */
  keepSource?: boolean;
  /** Do not (re)start the units (an image build; the units start at boot). */
  noStart?: boolean;
  now?: Date;
  /** The uid that must run this and own the files (0; a parameter only for tests). */
  rootUid?: number;
  /** Writes progress and findings (stdout in the command). */
  out: (text: string) => void;
  /** How long to wait for the units to serve; default 20 s. */
  startTimeoutMs?: number;
}

export class EnrollError extends Error {}

const ROLES = ["reader", "operator"] as const;
const BUNDLE_FILES = ["ca.crt", "reader.crt", "reader.key", "operator.crt", "operator.key"] as const;
type BundleFile = (typeof BUNDLE_FILES)[number];
const keyOf = (role: (typeof ROLES)[number]): BundleFile => `${role}.key`;

/** The files of a bundle, by name (ca.crt, reader.crt, reader.key, operator.crt, operator.key). */
type Bundle = Record<BundleFile, string>;

/** ca.crt plus each role's certificate and key, as `hostward pki issue-agent` writes them. */
export function findBundle(dir: string): Bundle {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new EnrollError(`${dir} is not a directory: give the directory "hostward pki issue-agent HOST --out DIR" wrote`);
    names = readdirSync(dir);
  } catch (err) {
    if (err instanceof EnrollError) throw err;
    throw new EnrollError(`cannot read ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): give the directory "hostward pki issue-agent HOST --out DIR" wrote`);
  }
  const missing = BUNDLE_FILES.filter((n) => !names.includes(n));
  if (missing.length > 0) {
    throw new EnrollError(`${dir} lacks ${missing.join(", ")}: "hostward pki issue-agent HOST --out DIR" writes ca.crt and each role's own certificate and key (reader.crt/.key, operator.crt/.key)`);
  }
  return Object.fromEntries(BUNDLE_FILES.map((n) => [n, join(dir, n)])) as Bundle;
}

/** Copies `from` to `to` (through a temporary name), root:root when run as root, with `mode`. */
function installFile(from: string, to: string, mode: number): void {
  const tmp = `${to}.enroll-${process.pid}`;
  rmSync(tmp, { force: true });
  copyFileSync(from, tmp);
  if (process.getuid?.() === 0) chownSync(tmp, 0, 0);
  chmodSync(tmp, mode);
  renameSync(tmp, to);
}

/** Runs systemctl through the agent's one spawning module (fixed path, argv, environment, deadline). */
function systemctl(options: string[], units: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
  return run("systemctl", options, units, { timeoutMs });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port, timeout: 1_000 });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Restarts the enabled units and waits until each is active and accepts connections on its port. */
async function startUnits(opts: EnrollOptions): Promise<boolean> {
  if (!existsSync("/run/systemd/system")) {
    opts.out("systemd is not running here: the units start at the next boot\n");
    return true;
  }
  const enabled: Array<(typeof UNITS)[number]> = [];
  for (const u of UNITS) {
    const r = await systemctl(["is-enabled", "--quiet"], [u.unit]);
    if (r.exitCode === 0) enabled.push(u);
    else opts.out(`${u.unit} is not enabled: left alone (systemctl enable --now ${u.unit} to run it)\n`);
  }
  if (enabled.length === 0) return true;
  const restarted = await systemctl(["restart"], enabled.map((u) => u.unit));
  if (restarted.exitCode !== 0) {
    opts.out(`systemctl restart failed: ${restarted.stderr.trim()}\n`);
    return false;
  }
  const deadline = Date.now() + (opts.startTimeoutMs ?? 20_000);
  const pending = new Set(enabled);
  while (pending.size > 0) {
    for (const u of [...pending]) {
      const show = await systemctl(["show", "--property=ActiveState,SubState"], [u.unit]);
      const state = Object.fromEntries(show.stdout.trim().split("\n").map((l) => l.split("=", 2) as [string, string]));
      if (state.ActiveState === "failed" || (state.ActiveState === "activating" && state.SubState === "auto-restart")) {
        opts.out(`${u.unit} failed to start (${state.ActiveState}/${state.SubState}): see journalctl -u ${u.unit}\n`);
        return false;
      }
      if (state.ActiveState === "active" && (await portOpen(u.port))) {
        opts.out(`${u.unit} active, serving on port ${u.port}\n`);
        pending.delete(u);
      }
    }
    if (pending.size === 0) break;
    if (Date.now() > deadline) {
      opts.out(`${[...pending].map((u) => u.unit).join(", ")} not serving after ${Math.round((opts.startTimeoutMs ?? 20_000) / 1000)} s: see journalctl -u ${[...pending][0]?.unit}\n`);
      return false;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return true;
}

/** Returns the exit code: 0 enrolled (and serving, unless noStart), 1 refused or not serving. */
export async function enroll(opts: EnrollOptions): Promise<number> {
  const rootUid = opts.rootUid ?? 0;
  if (process.getuid?.() !== rootUid) throw new EnrollError("run it as root: sudo hostward-agent enroll DIR");
  const bundle = findBundle(opts.source);
  const tlsDir = opts.tlsDir ?? UNIT_TLS_DIR;
  const now = opts.now ?? new Date();

  // 1. The files as they will be installed, checked in a root-only directory next to their place.
  mkdirSync(tlsDir, { recursive: true, mode: 0o750 });
  const staging = mkdtempSync(join(tlsDir, ".enroll-"));
  try {
    chmodSync(staging, 0o700);
    for (const name of BUNDLE_FILES) installFile(bundle[name], join(staging, name), name.endsWith(".key") ? 0o600 : 0o644);
    const findings = new Findings();
    checkTls(findings, { ca: join(staging, "ca.crt"), roles: Object.fromEntries(ROLES.map((r) => [r, { cert: join(staging, `${r}.crt`), key: join(staging, `${r}.key`) }])) }, { now, rootUid });
    if (findings.count("error") > 0) {
      const text = formatFindings(findings).replaceAll(staging, opts.source).replace(/enrollment check failed/, "not enrolled, nothing on this host changed");
      opts.out(text);
      return 1;
    }
    // 2. Into place: the keys last (the units' ConditionPathExists= needs them all).
    for (const name of [...BUNDLE_FILES].sort((a, b) => Number(a.endsWith(".key")) - Number(b.endsWith(".key")))) renameSync(join(staging, name), join(tlsDir, name));
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  opts.out(`installed ${BUNDLE_FILES.map((n) => join(tlsDir, n)).join(", ")} (from ${opts.source})\n`);
  if (!opts.keepSource) {
    for (const r of ROLES) rmSync(bundle[keyOf(r)], { force: true });
    opts.out(`removed ${ROLES.map((r) => bundle[keyOf(r)]).join(", ")}: the installed keys are the only copies on this host\n`);
  }

  // 3. The whole host, as `hostward-agent check` sees it.
  const findings = runCheck({ configFile: opts.configFile, now, rootUid, ...(opts.tlsDir !== undefined && { tlsDir: opts.tlsDir }) });
  opts.out(formatFindings(findings));
  if (findings.count("error") > 0) return 1;
  if (opts.noStart) return 0;
  return (await startUnits(opts)) ? 0 : 1;
}

export const ENROLL_USAGE = `  hostward-agent enroll DIR [--keep] [--no-start] [--config FILE]
      install the certificates "hostward pki issue-agent HOST --out DIR" wrote (DIR/ca.crt and
      each role's own reader.crt/.key, operator.crt/.key, copied to this host) into
      ${UNIT_TLS_DIR}/ (root's; the keys 0600), after checking them; then check the host, remove
      DIR's copies of the keys (unless --keep) and restart the enabled units until they serve (unless
      --no-start). A bad certificate changes nothing. Configuration: ${DEFAULT_CONFIG_FILE}.
`;
