// What an action would touch on this host, computed by the helper itself: before approval (a
// read-only query, {"query":"preview"}: the broker shows it to the human and signs its hash) and
// again at execution, where a material fact that changed refuses the action (run.ts). Everything
// here only reads: `systemctl show`, `podman container inspect`, `journalctl --disk-usage`,
// `dpkg-query`, `apt-cache policy`, `apt-get --simulate` (apt takes no lock), stat/readdir. This
// file computes FACTS only: they feed the plan's templates (define-action.ts renderPlan), and the
// summary the human reads is rendered from them by the catalog (preview-summary.ts previewSummary),
// here and again by the broker. Every value a summary line shows is a fact; host text is cut to the
// bounds of the kind's schema.
import { lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { canonicalJson } from "../../../shared/canonical-json";
import { PROGRAMS, type ProgramName } from "../../../shared/programs";
import { canonicalUnit } from "../../../proto/catalog/grammar";
import { APT_UPGRADE_OPTIONS, DPKG_SHOWFORMAT } from "../../../proto/catalog/actions/packages";
import type { ActionDef, ActionPreview, Facts } from "../../../proto/catalog/define-action";
import { previewSummary } from "../../../proto/catalog/preview-summary";
import { truncateText } from "../../../shared/printable";
import { openFileInRoots, resolveRoots } from "../safe-file";
import { parsePodmanInspect } from "../systemd/podman-parse";
import { parseShow, text, type ShowBlock } from "../systemd/show";
import { unitListeningSockets } from "../systemd/unit-sockets";
import { candidateVersions, simulatedChanges } from "./apt";
import { HelperRefusal } from "./exit-codes";
import type { Allowlist } from "./settings";
import { programPath, spawnProgram } from "./spawn";

type Params = Record<string, unknown>;

export interface PreviewContext {
  allowlist: Allowlist;
  deadline: number;
  /** Who may own the directories above a file truncate_log empties (root; in direct mode also this user). */
  owners: readonly number[];
}

/** sd_booted(3): systemd is PID 1 exactly when this directory exists. */
function systemdRunning(): boolean {
  try {
    return statSync("/run/systemd/system").isDirectory();
  } catch {
    return false;
  }
}

interface QueryResult {
  ok: boolean;
  text: string;
  lines: string[];
  exitCode: number;
  timedOut: boolean;
}

async function query(ctx: PreviewContext, program: ProgramName, options: string[], values: string[] = []): Promise<QueryResult> {
  if (programPath(program) === null) return { ok: false, text: "", lines: [`${program} is not installed`], exitCode: 127, timedOut: false };
  const r = await spawnProgram(program, options, values, { timeoutMs: Math.max(1, Math.min(15_000, ctx.deadline - Date.now())), onLine: () => undefined, pipes: true });
  return { ok: r.exitCode === 0 && !r.timedOut, text: r.lines.join("\n"), lines: r.lines, exitCode: r.exitCode, timedOut: r.timedOut };
}

const UNIT_PROPS = [
  "Id", "LoadState", "ActiveState", "SubState", "MainPID", "NRestarts", "CanReload", "UnitFileState",
  "ActiveEnterTimestamp", "RequiredBy", "WantedBy", "BoundBy", "TriggeredBy", "ControlGroup", "TasksCurrent",
];

/** `systemctl show` of one unit, parsed by the agent's own parser (systemd/show.ts). */
async function showUnit(ctx: PreviewContext, unit: string, props: readonly string[] = UNIT_PROPS): Promise<ShowBlock | null> {
  const r = await query(ctx, "systemctl", ["show", "--no-pager", `--property=${props.join(",")}`], [unit]);
  return r.ok ? (parseShow(r.text)[0] ?? null) : null;
}

/** Host text cut to `max` (the bound of its fact in the kind's schema, preview-summary.ts). */
const cut = (s: string, max: number) => truncateText(s, max);
/** A list property's words, sorted, each cut, at most 256 of them. */
const words = (block: ShowBlock, key: string) => (text(block, key) ?? "").split(/\s+/).filter((w) => w !== "").sort().slice(0, 256).map((w) => cut(w, 256));
const n = (block: ShowBlock, key: string) => Number(text(block, key) ?? 0) || 0;
/** A count systemd reports, or null when it has none (unset, "[not set]", UINT64_MAX). */
const countOf = (block: ShowBlock, key: string): number | null => {
  const v = text(block, key);
  if (v === null || !/^\d{1,16}$/.test(v)) return null;
  const x = Number(v);
  return Number.isSafeInteger(x) ? x : null;
};

/** Established TCP connections to the given local ports, from this process's network namespace. */
function establishedTo(ports: ReadonlySet<number>): number | null {
  let count = 0;
  for (const table of ["/proc/self/net/tcp", "/proc/self/net/tcp6"]) {
    let body: string;
    try {
      body = readFileSync(table, "utf8");
    } catch {
      return null;
    }
    for (const line of body.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== "01") continue; // 01 = ESTABLISHED
      const port = parseInt((f[1] ?? "").split(":")[1] ?? "", 16);
      if (ports.has(port)) count += 1;
    }
  }
  return count;
}

async function servicePreview(params: Params, ctx: PreviewContext, facts: Record<string, unknown>): Promise<void> {
  const asked = canonicalUnit(String(params.unit));
  facts.unit = asked;
  if (!facts.systemd) return;
  const b = await showUnit(ctx, asked);
  if (!b) throw new HelperRefusal("BAD_REQUEST", `systemctl show ${asked} failed on this host`);
  const id = text(b, "Id") ?? asked;
  const since = text(b, "ActiveEnterTimestamp");
  Object.assign(facts, {
    unit: id,
    loadState: cut(text(b, "LoadState") ?? "", 32),
    activeState: cut(text(b, "ActiveState") ?? "", 32),
    subState: cut(text(b, "SubState") ?? "", 32),
    mainPid: n(b, "MainPID"),
    canReload: text(b, "CanReload") === "yes",
    unitFileState: cut(text(b, "UnitFileState") ?? "", 32),
    requiredBy: [...words(b, "RequiredBy"), ...words(b, "BoundBy")].sort().slice(0, 256),
    wantedBy: words(b, "WantedBy"),
    triggeredBy: words(b, "TriggeredBy"),
    tasks: countOf(b, "TasksCurrent"),
    restarts: countOf(b, "NRestarts"),
    activeSince: since === null ? null : cut(since, 64),
    sockets: null,
  });
  if (facts.loadState !== "loaded") return;
  const listening = await unitListeningSockets(text(b, "ControlGroup")).catch(() => null);
  if (listening === null) return;
  const sockets = listening.sockets.slice(0, 64).map((s) => ({ protocol: s.protocol, address: cut(s.address, 64), port: s.port }));
  facts.sockets = {
    readable: listening.readable,
    note: listening.note === null ? null : cut(listening.note, 400),
    listening: sockets,
    connections: sockets.length > 0 ? establishedTo(new Set(sockets.map((s) => s.port))) : null,
  };
}

async function containerPreview(params: Params, ctx: PreviewContext, facts: Record<string, unknown>): Promise<void> {
  const name = String(params.name);
  if (programPath("podman") === null) throw new HelperRefusal("BAD_REQUEST", "podman is not installed on this host");
  const r = await query(ctx, "podman", ["container", "inspect"], [name]);
  const c = r.ok ? parsePodmanInspect(r.text) : null;
  if (!c || !/^[0-9a-f]{64}$/.test(c.id)) throw new HelperRefusal("BAD_REQUEST", `no container ${name} on this host`);
  const cname = c.name.replace(/^\//, "");
  // podman also resolves an ID prefix: the container found must be the one asked for, exactly.
  if (name !== cname && name !== c.id) {
    throw new HelperRefusal("NOT_ALLOWLISTED", `${name} is neither the name nor the full ID of the container podman found (${cname}, ${c.id.slice(0, 12)}): ID prefixes are not accepted`);
  }
  if (!containerAllowed(ctx.allowlist.containers, { id: c.id, name: cname })) {
    throw new HelperRefusal("NOT_ALLOWLISTED", `container ${cname} (${c.id.slice(0, 12)}) is not on this host's allowlist (by its name or full ID)`);
  }
  Object.assign(facts, {
    id: c.id,
    name: cut(cname, 256),
    state: cut(c.state, 32),
    status: cut(c.status ?? c.state, 256),
    startedAt: cut(c.startedAt ?? "", 64),
    image: cut(c.image, 512),
    restartCount: Number.isSafeInteger(c.restartCount) && c.restartCount >= 0 ? c.restartCount : 0,
    ports: c.ports.slice(0, 64).map((p) => cut(p, 128)),
  });
}

/**
 * Whether an allowlist entry names this container: its exact name or its exact full ID. Never an
 * ID prefix (podman itself resolves prefixes, so "abc" could mean whichever container's ID starts
 * with it, today or after the next `podman run`).
 */
export function containerAllowed(entries: readonly string[], c: { id: string; name: string }): boolean {
  return entries.some((e) => e === c.name || e === c.id);
}

/** Logged-in users from utmp (struct utmp, 384 bytes per record on Linux; USER_PROCESS = 7). */
function loggedInUsers(): string[] {
  let buf: Buffer;
  try {
    buf = readFileSync("/run/utmp");
  } catch {
    return [];
  }
  const users = new Set<string>();
  for (let off = 0; off + 384 <= buf.length; off += 384) {
    if (buf.readInt16LE(off) !== 7) continue;
    const cstr = (start: number, len: number) => buf.subarray(off + start, off + start + len).toString("latin1").replace(/\0.*$/s, "");
    const user = cstr(44, 32);
    const line = cstr(8, 32);
    if (user) users.add(`${user}@${line || "?"}`);
  }
  return [...users].sort().slice(0, 256);
}

async function rebootPreview(params: Params, ctx: PreviewContext, facts: Record<string, unknown>): Promise<void> {
  const minutes = Math.ceil(Number(params.delaySeconds ?? 60) / 60);
  const users = loggedInUsers();
  Object.assign(facts, { minutes, users });
  if (!facts.systemd) return;
  const running = await query(ctx, "systemctl", ["list-units", "--no-pager", "--no-legend", "--plain", "--type=service", "--state=running"]);
  const count = running.text.split("\n").filter((l) => l.trim() !== "").length;
  const mgr = await query(ctx, "systemctl", ["show", "--no-pager", "--property=KernelTimestamp"]);
  const boot = Date.parse(/KernelTimestamp=\S+ (.+)$/m.exec(mgr.text)?.[1] ?? "");
  const up = Number.isFinite(boot) ? Math.max(0, Math.round((Date.now() - boot) / 1000)) : null;
  Object.assign(facts, { runningServices: count, uptimeSeconds: up });
}

/** Files of a directory tree (two levels: the journal keeps one directory per machine id). */
function filesBelow(dir: string, depth = 2): { path: string; size: number; mtimeMs: number }[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const out: { path: string; size: number; mtimeMs: number }[] = [];
  for (const e of entries.slice(0, 10_000)) {
    const p = join(dir, e);
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isFile()) out.push({ path: p, size: st.blocks * 512, mtimeMs: st.mtimeMs });
    else if (st.isDirectory() && depth > 1) out.push(...filesBelow(p, depth - 1));
  }
  return out;
}

function journalPreview(params: Params, facts: Record<string, unknown>): void {
  const dir = ["/var/log/journal", "/run/log/journal"].find((d) => filesBelow(d).some((f) => /\.journal~?$/.test(f.path))) ?? null;
  if (dir === null) throw new HelperRefusal("BAD_REQUEST", "this host has no journal files in /var/log/journal or /run/log/journal");
  const files = filesBelow(dir).filter((f) => /\.journal~?$/.test(f.path));
  const archived = files.filter((f) => f.path.includes("@") || f.path.endsWith("~")).sort((a, b) => a.mtimeMs - b.mtimeMs);
  const total = files.reduce((s, f) => s + f.size, 0);
  let freed = 0;
  let removed = 0;
  if (params.by === "size") {
    let left = total;
    for (const f of archived) {
      if (left <= Number(params.maxBytes)) break;
      left -= f.size;
      freed += f.size;
      removed += 1;
    }
  } else {
    const cutoff = Date.now() - Number(params.maxAgeDays) * 86_400_000;
    for (const f of archived) {
      if (f.mtimeMs >= cutoff) continue;
      freed += f.size;
      removed += 1;
    }
  }
  Object.assign(facts, { journalDir: dir, usageBytes: total, freesBytes: freed, removesFiles: removed, files: files.length, archivedFiles: archived.length });
}

/**
 * Why someone other than `owners` could replace `path` (the file or one of the directories above
 * it) between this check and the truncation, or null when nobody can. An entry can be renamed,
 * removed or replaced by whoever may write its directory; in a sticky directory (/tmp, 1777) also
 * by the entry's own owner. So every directory up to / must be an owner's and not writable by
 * group or others — or sticky, and then the entry below it must be an owner's too.
 */
function replaceableBy(path: string, owners: readonly number[]): string | null {
  for (let entry = path; entry !== "/"; entry = dirname(entry)) {
    const dir = dirname(entry);
    const d = lstatSync(dir);
    const mode = (d.mode & 0o7777).toString(8).padStart(4, "0");
    if (!d.isDirectory()) return `${dir} is not a directory`;
    if (!owners.includes(d.uid)) return `${dir} is owned by uid ${d.uid}, not ${owners.join(" or ")}`;
    if ((d.mode & 0o022) === 0) continue;
    if ((d.mode & 0o1000) === 0) return `${dir} is writable by its group or by others (mode ${mode})`;
    const e = lstatSync(entry);
    if (!owners.includes(e.uid)) return `${entry} is owned by uid ${e.uid} in the sticky directory ${dir} (mode ${mode}), so its owner may rename or replace it`;
  }
  return null;
}

async function logFilePreview(params: Params, ctx: PreviewContext, facts: Record<string, unknown>): Promise<void> {
  const path = String(params.path);
  // systemd splits ReadWritePaths= on whitespace and unquotes: such a path cannot be sandboxed exactly.
  if (/[\s"'\\]/.test(path)) throw new HelperRefusal("BAD_REQUEST", `invalid argument "path": ${JSON.stringify(path)} contains whitespace, a quote or a backslash`);
  const roots = await resolveRoots(ctx.allowlist.logFiles);
  let opened;
  try {
    // Inspected, not read: the file is emptied by a transient unit; this process (the operator
    // unit's bounding set, no CAP_DAC_OVERRIDE) may not read a service's own 0640 log.
    opened = await openFileInRoots(path, roots, "path", "inspect");
  } catch (err) {
    throw new HelperRefusal("NOT_ALLOWLISTED", (err as Error).message);
  }
  const st = opened.stats;
  await opened.handle.close();
  if (opened.realPath !== opened.path) throw new HelperRefusal("NOT_ALLOWLISTED", `path: ${path} is reached through a symbolic link (it is ${opened.realPath}); give the file itself`);
  // A second name for the same inode (a hard link made while a directory was someone else's) would
  // let the truncation reach a file the allowlist never named.
  if (st.nlink !== 1) throw new HelperRefusal("NOT_ALLOWLISTED", `path: ${path} has ${st.nlink} hard links; only a file with one name can be emptied`);
  const why = replaceableBy(opened.realPath, ctx.owners);
  if (why !== null) throw new HelperRefusal("NOT_ALLOWLISTED", `path: ${path} could be swapped for another file after this check: ${why}`);
  Object.assign(facts, { path: opened.realPath, device: st.dev, inode: st.ino, sizeBytes: st.size, modifiedMs: Math.max(0, Math.floor(st.mtimeMs)) });
}

function packageManager(): "apt" | "dnf" | null {
  if (programPath("apt-get") !== null && programPath("dpkg-query") !== null) return "apt";
  if (programPath("dnf") !== null) return "dnf";
  return null;
}

async function packagesPreview(params: Params, ctx: PreviewContext, facts: Record<string, unknown>): Promise<void> {
  const manager = packageManager();
  if (manager !== "apt") throw new HelperRefusal("BAD_REQUEST", manager === "dnf" ? "upgrade_packages supports apt hosts only for now; this host uses dnf" : "no supported package manager (apt-get, dnf) on this host");
  const names = (params.packages as string[]).slice();
  const installed = await installedVersions(ctx, names);
  for (const name of names) {
    if (!installed.get(name)) throw new HelperRefusal("BAD_REQUEST", `invalid argument "packages": ${name} is not installed on this host (upgrade_packages never installs a new package)`);
  }
  // One apt-cache policy for all of them.
  const versions = candidateVersions(await query(ctx, "apt-cache", ["policy"], [...names]), names, installed);
  // Each named package pinned to the candidate shown now: what is approved is the version installed.
  const pins = names.map((p) => `${p}=${versions[p]?.to}`);
  // What apt would change for exactly the plan's command (simulated: read-only, apt takes no lock).
  const changes = simulatedChanges(await query(ctx, "apt-get", ["--simulate", ...APT_UPGRADE_OPTIONS], pins), pins, versions);
  const touched = [...new Set([...names, ...Object.keys(changes)])].sort();
  Object.assign(facts, { manager, versions, pins, changes, touched });
}

/** Installed versions from `dpkg-query --show --showformat=PKG\tVERSION\tSTATUS` lines (only status "ii"). */
export function parseDpkgQuery(lines: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of lines) {
    const [pkg, version, status] = line.split("\t");
    if (pkg && version && status?.startsWith("ii")) out.set(pkg.replace(/:.*$/, ""), version);
  }
  return out;
}

async function installedVersions(ctx: PreviewContext, names: readonly string[]): Promise<Map<string, string>> {
  const r = await query(ctx, "dpkg-query", ["--show", DPKG_SHOWFORMAT], [...names]);
  return parseDpkgQuery(r.text.split("\n"));
}

/** The bytes of downloaded packages in the package manager's cache (what clean_package_cache frees). */
export function packageCacheBytes(manager: "apt" | "dnf"): { dir: string; bytes: number } {
  const dir = manager === "apt" ? "/var/cache/apt/archives" : "/var/cache/dnf";
  return { dir, bytes: filesBelow(dir, 4).reduce((s, f) => s + f.size, 0) };
}

function packageCachePreview(facts: Record<string, unknown>): void {
  const manager = packageManager();
  if (manager === null) throw new HelperRefusal("BAD_REQUEST", "no supported package manager (apt-get, dnf) on this host");
  const { dir, bytes } = packageCacheBytes(manager);
  Object.assign(facts, { manager, cacheDir: dir, cacheBytes: bytes });
}

async function resolverPreview(ctx: PreviewContext, facts: Record<string, unknown>): Promise<void> {
  let resolver: string | null = null;
  if (facts.systemd) {
    for (const [unit, program] of [["unbound.service", "unbound-control"], ["systemd-resolved.service", "resolvectl"]] as const) {
      if (programPath(program) === null) continue;
      const b = await showUnit(ctx, unit, ["Id", "ActiveState"]);
      if (b && text(b, "ActiveState") === "active") {
        resolver = unit;
        break;
      }
    }
  }
  facts.resolver = resolver;
}

async function logrotatePreview(ctx: PreviewContext, facts: Record<string, unknown>): Promise<void> {
  const b = facts.systemd ? await showUnit(ctx, "logrotate.service", ["Id", "LoadState", "Result", "ExecMainExitTimestamp"]) : null;
  const value = (key: string, max: number) => {
    const v = b ? text(b, key) : null;
    return v === null ? null : cut(v, max);
  };
  Object.assign(facts, { loadState: value("LoadState", 32) ?? "", lastRun: value("ExecMainExitTimestamp", 64), result: value("Result", 32) });
}

/** The programs the definition's steps may start, with this host's absolute path of each. */
function programPaths(def: ActionDef): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of def.steps) {
    // A transient step also names systemd-run, and systemctl for its stop step (renderPlan).
    for (const p of s.transient ? [s.program, "systemd-run" as const, "systemctl" as const] : [s.program]) out[p] = programPath(p) ?? PROGRAMS[p][0];
  }
  return out;
}

/**
 * The preview of `def` for these (validated, allowlisted-as-given) parameters on this host: its
 * facts, and the summary the catalog renders from them (which also checks the facts against the
 * kind's schema: a helper that computed facts the broker would refuse fails here, INTERNAL).
 */
export async function computePreview(def: ActionDef, params: Params, ctx: PreviewContext): Promise<ActionPreview> {
  const systemd = systemdRunning();
  const facts: Record<string, unknown> = { systemd, paths: programPaths(def) };
  switch (def.preview) {
    case "service":
      await servicePreview(params, ctx, facts);
      break;
    case "container":
      await containerPreview(params, ctx, facts);
      break;
    case "reboot":
      await rebootPreview(params, ctx, facts);
      break;
    case "journal":
      journalPreview(params, facts);
      break;
    case "logFile":
      await logFilePreview(params, ctx, facts);
      break;
    case "packages":
      await packagesPreview(params, ctx, facts);
      break;
    case "packageCache":
      packageCachePreview(facts);
      break;
    case "resolver":
      await resolverPreview(ctx, facts);
      break;
    case "logrotate":
      await logrotatePreview(ctx, facts);
      break;
  }
  return { action: def.name, facts, summary: previewSummary(def, params, facts) };
}

/** The first material fact whose value differs between two previews (canonical comparison), or null. */
export function changedFact(def: ActionDef, approved: Facts, now: Facts): string | null {
  for (const key of def.material) if (canonicalJson(approved[key] ?? null) !== canonicalJson(now[key] ?? null)) return key;
  return null;
}
