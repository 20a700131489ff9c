// What an action would touch on this host, computed by the helper itself: before approval (a
// read-only query, {"query":"preview"}: the broker shows it to the human and signs its hash) and
// again at execution, where a material fact that changed refuses the action (run.ts). Everything
// here only reads: `systemctl show`, `podman container inspect`, `journalctl --disk-usage`,
// `dpkg-query`, `apt-cache policy`, `apt-get --simulate` (apt takes no lock), stat/readdir. The
// facts feed the plan's templates (define-action.ts renderPlan); the summary is what the human reads.
import { lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { canonicalJson } from "../../../shared/canonical-json";
import { PROGRAMS, type ProgramName } from "../../../shared/programs";
import { canonicalUnit } from "../../../proto/catalog/grammar";
import { APT_UPGRADE_OPTIONS, DPKG_SHOWFORMAT } from "../../../proto/catalog/actions/packages";
import type { ActionDef, ActionPreview, Facts } from "../../../proto/catalog/define-action";
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

const words = (block: ShowBlock, key: string) => (text(block, key) ?? "").split(/\s+/).filter((w) => w !== "").sort();
const n = (block: ShowBlock, key: string) => Number(text(block, key) ?? 0) || 0;

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

async function servicePreview(params: Params, ctx: PreviewContext, facts: Record<string, unknown>, summary: string[]): Promise<void> {
  const asked = canonicalUnit(String(params.unit));
  facts.unit = asked;
  if (!facts.systemd) return;
  const b = await showUnit(ctx, asked);
  if (!b) throw new HelperRefusal("BAD_REQUEST", `systemctl show ${asked} failed on this host`);
  const id = text(b, "Id") ?? asked;
  Object.assign(facts, {
    unit: id,
    loadState: text(b, "LoadState") ?? "",
    activeState: text(b, "ActiveState") ?? "",
    subState: text(b, "SubState") ?? "",
    mainPid: n(b, "MainPID"),
    canReload: text(b, "CanReload") === "yes",
    unitFileState: text(b, "UnitFileState") ?? "",
    requiredBy: [...words(b, "RequiredBy"), ...words(b, "BoundBy")].sort(),
  });
  if (facts.loadState !== "loaded") {
    summary.push(`${id} is not loaded (LoadState=${String(facts.loadState) || "unknown"}): the action will fail its pre-check`);
    return;
  }
  const since = text(b, "ActiveEnterTimestamp");
  summary.push(
    `${id}: ${String(facts.activeState)}/${String(facts.subState)}, MainPID ${String(facts.mainPid)}, ${n(b, "TasksCurrent")} task(s), ${n(b, "NRestarts")} automatic restart(s); last started ${since ?? "never"}`,
    `at boot: ${String(facts.unitFileState) || "unknown"}`,
  );
  const req = facts.requiredBy as string[];
  summary.push(req.length > 0 ? `units that require it (a stop or restart reaches them too): ${req.join(", ")}` : "no unit requires it (RequiredBy/BoundBy empty)");
  const wanted = words(b, "WantedBy");
  if (wanted.length > 0) summary.push(`wanted by: ${wanted.join(", ")}`);
  const sockets = words(b, "TriggeredBy");
  if (sockets.length > 0) summary.push(`socket-activated by: ${sockets.join(", ")} (connections to those sockets are queued, not refused, while it restarts)`);
  const listening = await unitListeningSockets(text(b, "ControlGroup")).catch(() => null);
  if (listening && listening.sockets.length > 0) {
    const ports = new Set(listening.sockets.map((s) => s.port));
    const est = establishedTo(ports);
    summary.push(
      `listening on ${listening.sockets.map((s) => `${s.protocol} ${s.address}:${s.port}`).slice(0, 8).join(", ")}; ${est === null ? "open connections not visible" : `${est} open TCP connection(s) to those ports`}`,
    );
  } else if (listening && !listening.readable) {
    summary.push(`its sockets and connections are not visible from here (${listening.note ?? "unreadable"})`);
  } else {
    summary.push("it listens on no TCP/UDP socket of its own");
  }
}

async function containerPreview(params: Params, ctx: PreviewContext, facts: Record<string, unknown>, summary: string[]): Promise<void> {
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
  Object.assign(facts, { id: c.id, name: cname, state: c.state, startedAt: c.startedAt ?? "", image: c.image });
  summary.push(`container ${cname} (${c.id.slice(0, 12)}), image ${c.image}: ${c.status ?? c.state}, started ${c.startedAt ?? "never"}, ${c.restartCount} restart(s)`);
  if (c.ports.length > 0) summary.push(`publishes ${c.ports.slice(0, 8).join(", ")}`);
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
  return [...users].sort();
}

async function rebootPreview(params: Params, ctx: PreviewContext, facts: Record<string, unknown>, summary: string[]): Promise<void> {
  const minutes = Math.ceil(Number(params.delaySeconds ?? 60) / 60);
  const users = loggedInUsers();
  Object.assign(facts, { minutes, users });
  summary.push(`reboot in ${minutes} minute(s); logged in now: ${users.length > 0 ? users.join(", ") : "nobody"}`);
  if (!facts.systemd) return;
  const running = await query(ctx, "systemctl", ["list-units", "--no-pager", "--no-legend", "--plain", "--type=service", "--state=running"]);
  const count = running.text.split("\n").filter((l) => l.trim() !== "").length;
  const mgr = await query(ctx, "systemctl", ["show", "--no-pager", "--property=KernelTimestamp"]);
  const boot = Date.parse(/KernelTimestamp=\S+ (.+)$/m.exec(mgr.text)?.[1] ?? "");
  const up = Number.isFinite(boot) ? Math.max(0, Math.round((Date.now() - boot) / 1000)) : null;
  summary.push(`${count} running service(s) stop; up ${up === null ? "for an unknown time" : `${Math.floor(up / 86400)} d ${Math.floor((up % 86400) / 3600)} h ${Math.floor((up % 3600) / 60)} min`}`);
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

const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

function journalPreview(params: Params, facts: Record<string, unknown>, summary: string[]): void {
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
  Object.assign(facts, { journalDir: dir, usageBytes: total, freesBytes: freed, removesFiles: removed });
  summary.push(
    `journal in ${dir}: ${mib(total)} in ${files.length} file(s), ${archived.length} archived`,
    `${params.by === "size" ? `keeping at most ${mib(Number(params.maxBytes))}` : `keeping ${String(params.maxAgeDays)} day(s)`} frees about ${mib(freed)} (${removed} archived file(s)); the active files are never removed`,
  );
}

/**
 * Whether only a trusted owner can replace an entry of this directory: owned by one of `owners` and
 * not writable by group or others, or sticky (1777, like /tmp: others cannot rename or remove
 * what they do not own).
 */
function trustedDirectory(path: string, owners: readonly number[]): boolean {
  const st = lstatSync(path);
  return st.isDirectory() && owners.includes(st.uid) && ((st.mode & 0o022) === 0 || (st.mode & 0o1000) !== 0);
}

async function logFilePreview(params: Params, ctx: PreviewContext, facts: Record<string, unknown>, summary: string[]): Promise<void> {
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
  for (let d = dirname(opened.realPath); ; d = dirname(d)) {
    if (!trustedDirectory(d, ctx.owners)) throw new HelperRefusal("NOT_ALLOWLISTED", `path: ${d}, a directory above ${path}, is not root's alone (owner root, not writable by group or others unless sticky): the file could be swapped after this check`);
    if (d === "/") break;
  }
  Object.assign(facts, { path: opened.realPath, device: st.dev, inode: st.ino, sizeBytes: st.size });
  summary.push(`${opened.realPath}: regular file, ${mib(st.size)} (${st.size} bytes) freed by emptying it; last written ${new Date(st.mtimeMs).toISOString()}`);
}

function packageManager(): "apt" | "dnf" | null {
  if (programPath("apt-get") !== null && programPath("dpkg-query") !== null) return "apt";
  if (programPath("dnf") !== null) return "dnf";
  return null;
}

/**
 * "title a 1 → 2, b (new) 3, …" for the summary, in at most `max` lines of about 480 characters
 * (a preview's summary holds 40 lines of 500): what does not fit is counted, and is in the facts.
 */
function changeLines(title: string, entries: readonly string[], max: number): string[] {
  const out: string[] = [];
  let line = title;
  for (const [i, e] of entries.entries()) {
    if (line.length + e.length > 460 && line !== title) {
      if (out.length + 1 === max) {
        out.push(`${line}… and ${entries.length - i} more (the preview's facts list every one: changes)`);
        return out;
      }
      out.push(line.replace(/, $/, ""));
      line = "  … ";
    }
    line += `${e}, `;
  }
  out.push(line.replace(/, $/, ""));
  return out;
}

async function packagesPreview(params: Params, ctx: PreviewContext, facts: Record<string, unknown>, summary: string[]): Promise<void> {
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
  const changing = names.filter((p) => versions[p]?.from !== versions[p]?.to);
  for (const p of names) summary.push(versions[p]?.from === versions[p]?.to ? `${p} ${versions[p]?.from}: already the candidate, unchanged` : `${p} ${versions[p]?.from} → ${versions[p]?.to}`);
  summary.push(`${changing.length} of ${names.length} package(s) change; candidates from the host's configured repositories as of its last \`apt-get update\``);
  const others = Object.keys(changes).filter((p) => !names.includes(p)).sort();
  if (others.length > 0) {
    const entry = (p: string) => (changes[p]?.from === null ? `${p} (new) ${changes[p]?.to}` : `${p} ${changes[p]?.from} → ${changes[p]?.to}`);
    summary.push(...changeLines(`apt also changes ${others.length} other package(s) for them (its simulation): `, others.map(entry), 6));
  } else {
    summary.push("apt's simulation changes no other package and removes none");
  }
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

function packageCachePreview(facts: Record<string, unknown>, summary: string[]): void {
  const manager = packageManager();
  if (manager === null) throw new HelperRefusal("BAD_REQUEST", "no supported package manager (apt-get, dnf) on this host");
  const { dir, bytes } = packageCacheBytes(manager);
  Object.assign(facts, { manager, cacheBytes: bytes });
  summary.push(`${manager}: ${mib(bytes)} of downloaded packages in ${dir} freed`);
}

async function resolverPreview(ctx: PreviewContext, facts: Record<string, unknown>, summary: string[]): Promise<void> {
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
  summary.push(resolver ? `flushes the cache of ${resolver}` : "neither unbound.service nor systemd-resolved.service is active: the action will fail its pre-check");
}

async function logrotatePreview(ctx: PreviewContext, facts: Record<string, unknown>, summary: string[]): Promise<void> {
  const b = facts.systemd ? await showUnit(ctx, "logrotate.service", ["Id", "LoadState", "Result", "ExecMainExitTimestamp"]) : null;
  facts.loadState = b ? (text(b, "LoadState") ?? "") : "";
  summary.push(b ? `runs logrotate.service (${String(facts.loadState)}; last run ${text(b, "ExecMainExitTimestamp") ?? "never"}, Result=${text(b, "Result") ?? "?"})` : "logrotate.service cannot be run here (no systemd)");
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

/** The preview of `def` for these (validated, allowlisted-as-given) parameters on this host. */
export async function computePreview(def: ActionDef, params: Params, ctx: PreviewContext): Promise<ActionPreview> {
  const systemd = systemdRunning();
  const facts: Record<string, unknown> = { systemd, paths: programPaths(def) };
  const summary: string[] = [];
  switch (def.preview) {
    case "service":
      await servicePreview(params, ctx, facts, summary);
      break;
    case "container":
      await containerPreview(params, ctx, facts, summary);
      break;
    case "reboot":
      await rebootPreview(params, ctx, facts, summary);
      break;
    case "journal":
      journalPreview(params, facts, summary);
      break;
    case "logFile":
      await logFilePreview(params, ctx, facts, summary);
      break;
    case "packages":
      await packagesPreview(params, ctx, facts, summary);
      break;
    case "packageCache":
      packageCachePreview(facts, summary);
      break;
    case "resolver":
      await resolverPreview(ctx, facts, summary);
      break;
    case "logrotate":
      await logrotatePreview(ctx, facts, summary);
      break;
  }
  if (def.needsSystemd && !systemd) summary.push(`${def.name} needs systemd, which is not running on this host: it will fail its first pre-check, and nothing runs`);
  return { action: def.name, facts, summary };
}

/** The first material fact whose value differs between two previews (canonical comparison), or null. */
export function changedFact(def: ActionDef, approved: Facts, now: Facts): string | null {
  for (const key of def.material) if (canonicalJson(approved[key] ?? null) !== canonicalJson(now[key] ?? null)) return key;
  return null;
}
