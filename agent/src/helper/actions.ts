// What each action does on the host, after its request, allowlist entry, approval and preview
// passed: pre-checks → the plan's commands → post-checks. A runner starts a process ONLY by naming
// a step of the plan rendered for these parameters and this host's facts (plan.run(stepId):
// define-action.ts renderPlan, the same lines the approver read), so what runs is what was approved.
// A failed step ends the action with verdict FAILED and the reason; nothing here throws for a
// host condition (a missing unit, no systemd), only for a bug.
import { lstatSync, statSync } from "node:fs";
import type { ActionName } from "../../../proto/catalog/actions/index";
import { commandLine, MAX_ACTION_OUTPUT, TRANSIENT_STOP_SECONDS, type ActionDef, type ActionResult, type Facts, type RenderedStep } from "../../../proto/catalog/define-action";
import { canonicalUnit } from "../../../proto/catalog/grammar";
import { parsePodmanInspect } from "../systemd/podman-parse";
import { parseShow, text } from "../systemd/show";
import { HelperRefusal } from "./exit-codes";
import { parseDpkgQuery } from "./preview";
import type { Allowlist } from "./settings";
import { packageCacheBytes } from "./preview";
import { spawnStep, type SpawnResult } from "./spawn";

export interface ActionContext {
  allowlist: Allowlist;
  /**
   * Streams one line of output to the caller (and keeps it for the result's `output`). `atUnixMicros`:
   * when the line was read off a program's pty (spawn.ts); omitted for the helper's own lines (now).
   */
  emit(line: string, atUnixMicros?: number): void;
  /** The action's deadline (ms since epoch). */
  deadline: number;
  /** This host's facts, as the preview computed them just now. */
  facts: Facts;
  plan: Plan;
}

/** A step's outcome: the program's, and for a transient step that outlived its deadline, its stop. */
interface StepResult extends SpawnResult {
  /** The transient unit the helper stopped (`systemctl stop`, the step's "<id>:stop") and whether the stop succeeded. */
  stopped?: { unit: string; ok: boolean };
}

/** The rendered plan; the only way a runner starts a process. */
export interface Plan {
  has(stepId: string): boolean;
  /**
   * Runs the step (its "$ " line first unless it is quiet); throws if the step does not apply here
   * or is a stop step. A transient step that does not finish before the deadline (or is aborted)
   * is ended, and then its unit is stopped by its "<id>:stop" step, which prints its line too.
   */
  run(stepId: string, cap?: number): Promise<StepResult>;
}

/** How long the stop of a transient unit may take: the unit's TimeoutStopSec= and a margin. */
const STOP_MS = (TRANSIENT_STOP_SECONDS + 5) * 1000;
/** The same once the helper was told to stop (the operator agent sends SIGKILL 5 s after SIGTERM). */
const STOP_ABORTED_MS = 3_000;

export function planOf(steps: readonly RenderedStep[], ctx: Pick<ActionContext, "emit" | "deadline"> & { signal?: AbortSignal }): Plan {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const spawnIt = (step: RenderedStep, timeoutMs: number): Promise<SpawnResult> => {
    const signal = ctx.signal ? { signal: ctx.signal } : {};
    if (step.quiet) return spawnStep(step, { timeoutMs, onLine: () => undefined, pipes: true, ...signal });
    ctx.emit(`$ ${commandLine(step)}`);
    return spawnStep(step, { timeoutMs, onLine: ctx.emit, ...signal });
  };
  /** systemd-run --wait was ended, its unit was not: stop it (the plan's own stop step). */
  const stopUnit = async (step: RenderedStep, r: SpawnResult): Promise<StepResult> => {
    const stop = byId.get(`${step.id}:stop`);
    if (!stop || step.unit === undefined) return r;
    ctx.emit(`${step.id} ${r.aborted ? "was aborted" : "did not finish before the action's deadline"}: stopping its transient unit ${step.unit}`);
    ctx.emit(`$ ${commandLine(stop)}`);
    // Not bounded by the deadline (it has passed): by the unit's own stop timeout. Even if this
    // systemctl is ended, the stop job it queued in systemd goes on.
    const s = await spawnStep(stop, { timeoutMs: r.aborted ? STOP_ABORTED_MS : STOP_MS, onLine: ctx.emit }).catch((err: Error) => ({ exitCode: 127, timedOut: false, lines: [err.message], signal: null, truncated: false }));
    // 5: "Unit … not loaded": it ended (and was collected) as its systemd-run was ended.
    const gone = s.exitCode === 5 && !s.timedOut;
    const ok = (s.exitCode === 0 && !s.timedOut) || gone;
    ctx.emit(gone ? `${step.unit} had already ended` : ok ? `stopped ${step.unit}` : `the stop of ${step.unit} did not confirm (${failedRun("systemctl stop", s)}); systemd still runs the stop job it was given`);
    return { ...r, stopped: { unit: step.unit, ok } };
  };
  return {
    has: (id) => byId.has(id),
    async run(id, cap = Infinity) {
      const step = byId.get(id);
      if (!step) throw new Error(`step ${id} is not in this host's plan`);
      if (step.stops !== undefined) throw new Error(`step ${id} runs only when ${step.stops} outlives the action's deadline`);
      if (ctx.signal?.aborted) return { exitCode: 128, signal: null, timedOut: false, lines: ["not started: the helper was told to stop"], truncated: false, aborted: true };
      const timeoutMs = Math.max(1, Math.min(cap, ctx.deadline - Date.now()));
      const r = await spawnIt(step, timeoutMs);
      return step.unit !== undefined && (r.timedOut || r.aborted === true) ? stopUnit(step, r) : r;
    },
  };
}

type Params = Record<string, unknown>;
type Outcome = Omit<ActionResult, "output">;

const POST_CHECK_MS = 30_000;
const POLL_MS = 250;
const NO_SYSTEMD = "systemd is not running on this host";

function failedRun(what: string, r: StepResult): string {
  const stopped = r.stopped ? `; its transient unit ${r.stopped.unit} ${r.stopped.ok ? "was stopped" : "was told to stop (not confirmed)"}` : "";
  if (r.aborted) return `${what} was aborted: the helper was told to stop${stopped}`;
  if (r.timedOut) return `${what} timed out: it did not finish before the action's deadline${stopped}`;
  const last = r.lines.map((l) => l.trim()).filter((l) => l !== "").slice(-3).join(" | ");
  return `${what} exited with ${r.exitCode}${last ? `: ${last.slice(0, 500)}` : ""}`;
}

const failed = (reason: string, before: unknown = null, after: unknown = null): Outcome => ({ before, after, verdict: "FAILED", reason });
const ok = (before: unknown, after: unknown): Outcome => ({ before, after, verdict: "SUCCEEDED" });

/** The first pre-check of every systemd action, said out loud: no process runs without systemd. */
function requireSystemd(ctx: ActionContext): boolean {
  const running = ctx.facts.systemd === true;
  ctx.emit(`pre-check: systemd is ${running ? "running" : "not running (/run/systemd/system is missing)"}`);
  return running;
}

async function until<T>(ctx: ActionContext, read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  const end = Math.min(ctx.deadline, Date.now() + POST_CHECK_MS);
  let v = await read();
  while (!done(v) && Date.now() < end) {
    await new Promise((res) => setTimeout(res, POLL_MS));
    v = await read();
  }
  return v;
}

// ---- systemd units -------------------------------------------------------------------------

interface UnitState {
  unit: string;
  LoadState: string;
  ActiveState: string;
  SubState: string;
  MainPID: number;
  NRestarts: number;
  UnitFileState: string;
  CanReload: boolean;
}

/** The unit's state by a plan step ("show" or "show-after"), parsed by the agent's parser. */
async function unitState(ctx: ActionContext, step: "show" | "show-after"): Promise<UnitState> {
  const r = await ctx.plan.run(step, 15_000);
  if (r.exitCode !== 0) throw new Error(failedRun("systemctl show", r));
  const b = parseShow(r.lines.join("\n"))[0] ?? new Map<string, string>();
  return {
    unit: text(b, "Id") ?? "",
    LoadState: text(b, "LoadState") ?? "",
    ActiveState: text(b, "ActiveState") ?? "",
    SubState: text(b, "SubState") ?? "",
    MainPID: Number(text(b, "MainPID") ?? 0) || 0,
    NRestarts: Number(text(b, "NRestarts") ?? 0) || 0,
    UnitFileState: text(b, "UnitFileState") ?? "",
    CanReload: text(b, "CanReload") === "yes",
  };
}

type UnitVerb = "restart" | "reload" | "start" | "stop" | "enable" | "disable" | "reset-failed" | "kill";

/** What must hold after each verb, given the state before it. */
const POSTCHECK: Record<UnitVerb, (after: UnitState, before: UnitState, params: Params) => string | null> = {
  restart: (a, b) => (a.ActiveState !== "active" ? `${a.unit} is ${a.ActiveState}/${a.SubState}, not active` : a.MainPID !== 0 && a.MainPID === b.MainPID ? `MainPID is still ${a.MainPID} after the restart` : null),
  reload: (a) => (a.ActiveState !== "active" ? `${a.unit} is ${a.ActiveState}/${a.SubState}, not active` : null),
  start: (a) => (a.ActiveState !== "active" ? `${a.unit} is ${a.ActiveState}/${a.SubState}, not active` : null),
  stop: (a) => (a.ActiveState === "inactive" || a.ActiveState === "failed" ? null : `${a.unit} is still ${a.ActiveState}/${a.SubState}`),
  enable: (a) => (a.UnitFileState === "enabled" ? null : `UnitFileState is ${a.UnitFileState}, not enabled`),
  disable: (a) => (a.UnitFileState === "disabled" ? null : `UnitFileState is ${a.UnitFileState}, not disabled`),
  "reset-failed": (a) => (a.ActiveState === "failed" ? `${a.unit} is still failed` : null),
  kill: (a, b, p) =>
    ["HUP", "USR1", "USR2"].includes(String(p.signal))
      ? a.ActiveState === "active"
        ? null
        : `${a.unit} is ${a.ActiveState}/${a.SubState} after SIG${String(p.signal)}`
      : a.MainPID === b.MainPID && a.ActiveState === "active"
        ? `MainPID ${b.MainPID} is still running after SIG${String(p.signal)}`
        : null,
};

/** The pre-check each verb adds to "loaded and allowlisted". */
const PRECHECK: Partial<Record<UnitVerb, (s: UnitState) => string | null>> = {
  reload: (s) => (!s.CanReload ? `${s.unit} cannot reload (CanReload=no)` : s.ActiveState !== "active" ? `${s.unit} is ${s.ActiveState}, a reload needs it active` : null),
  enable: (s) => (s.UnitFileState !== "disabled" ? `${s.unit} is ${s.UnitFileState || "unknown"} at boot, not disabled: nothing to enable` : null),
  disable: (s) => (s.UnitFileState !== "enabled" ? `${s.unit} is ${s.UnitFileState || "unknown"} at boot, not enabled: nothing to disable` : null),
  "reset-failed": (s) => (s.ActiveState !== "failed" ? `${s.unit} is ${s.ActiveState}, not failed` : null),
  kill: (s) => (s.ActiveState !== "active" || s.MainPID === 0 ? `${s.unit} is ${s.ActiveState} with MainPID ${s.MainPID}: no process to signal` : null),
};

function serviceAction(verb: UnitVerb): Runner {
  return async (params, ctx) => {
    if (!requireSystemd(ctx)) return failed(NO_SYSTEMD);
    const before = await unitState(ctx, "show");
    const fail = (reason: string, after: UnitState | null = null) => failed(reason, before, after);
    if (before.LoadState !== "loaded") return fail(`pre-check: unit ${canonicalUnit(String(params.unit))} is not loaded (LoadState=${before.LoadState || "unknown"})`);
    if (!ctx.allowlist.units.has(before.unit)) return fail(`pre-check: unit ${String(params.unit)} is ${before.unit}, which is not on this host's allowlist`);
    const pre = PRECHECK[verb]?.(before);
    if (pre) return fail(`pre-check: ${pre}`);
    ctx.emit(`pre-check: ${before.unit} is loaded and allowlisted (ActiveState=${before.ActiveState}, MainPID=${before.MainPID}, UnitFileState=${before.UnitFileState})`);
    for (const check of ["caddy-validate", "unbound-checkconf"]) {
      if (!ctx.plan.has(check)) continue;
      const r = await ctx.plan.run(check).catch((err: Error) => ({ exitCode: 127, timedOut: false, lines: [err.message], signal: null, truncated: false }));
      if (r.exitCode !== 0 || r.timedOut) return fail(`pre-check failed: ${failedRun(check, r)}`);
    }
    const r = await ctx.plan.run(verb);
    if (r.exitCode !== 0 || r.timedOut) return fail(failedRun(`systemctl ${verb}`, r), await unitState(ctx, "show-after").catch(() => null));
    const after = await until(ctx, () => unitState(ctx, "show-after"), (s) => POSTCHECK[verb](s, before, params) === null);
    const post = POSTCHECK[verb](after, before, params);
    if (post) return fail(`post-check: ${post}`, after);
    ctx.emit(`post-check: ${after.unit} is ${after.ActiveState}/${after.SubState} (MainPID ${before.MainPID} → ${after.MainPID}, UnitFileState ${after.UnitFileState})`);
    return ok(before, after);
  };
}

// ---- podman containers ---------------------------------------------------------------------

async function container(ctx: ActionContext, step: "inspect" | "inspect-after") {
  const r = await ctx.plan.run(step, 15_000);
  if (r.exitCode !== 0) return null;
  const c = parsePodmanInspect(r.lines.join("\n"));
  return c && { id: c.id, name: c.name.replace(/^\//, ""), state: c.state, startedAt: c.startedAt };
}

function containerAction(verb: "restart" | "stop" | "start"): Runner {
  return async (_params, ctx) => {
    const before = await container(ctx, "inspect");
    if (!before || before.id !== ctx.facts.id) return failed(`pre-check: container ${String(ctx.facts.name)} is gone or is another container now`, before);
    if (verb === "stop" && before.state !== "running") return failed(`pre-check: container ${before.name} is ${before.state}, not running`, before);
    if (verb === "start" && before.state === "running") return failed(`pre-check: container ${before.name} is already running`, before);
    const r = await ctx.plan.run(verb);
    const after = await container(ctx, "inspect-after");
    if (r.exitCode !== 0 || r.timedOut) return failed(failedRun(`podman ${verb}`, r), before, after);
    const post =
      verb === "stop"
        ? after?.state !== "running" ? null : "the container is still running"
        : after?.state !== "running" ? `the container is ${after?.state ?? "gone"}` : verb === "restart" && after.startedAt === before.startedAt ? "the container was not restarted (StartedAt unchanged)" : null;
    return post ? failed(`post-check: ${post}`, before, after) : ok(before, after);
  };
}

// ---- host-wide -----------------------------------------------------------------------------

const flushDnsCache: Runner = async (_params, ctx) => {
  if (!requireSystemd(ctx)) return failed(NO_SYSTEMD);
  const resolver = ctx.facts.resolver;
  if (typeof resolver !== "string") return failed("pre-check: neither unbound.service nor systemd-resolved.service is active");
  const r = await ctx.plan.run(ctx.plan.has("unbound") ? "unbound" : "resolved");
  if (r.exitCode !== 0 || r.timedOut) return failed(failedRun("the flush", r), { resolver });
  // The post-check the approver read: the resolver unit is still active.
  const show = await ctx.plan.run("show-after", 15_000);
  const b = parseShow(show.lines.join("\n"))[0] ?? new Map<string, string>();
  const after = { resolver, flushed: true, ActiveState: text(b, "ActiveState") ?? "unknown", active: text(b, "ActiveState") === "active" };
  return after.active ? ok({ resolver }, after) : failed(`post-check: ${resolver} is ${after.ActiveState}, not active`, { resolver }, after);
};

const rotateLogs: Runner = async (_params, ctx) => {
  if (!requireSystemd(ctx)) return failed(NO_SYSTEMD);
  if (ctx.facts.loadState !== "loaded") return failed("pre-check: logrotate.service is not loaded");
  const r = await ctx.plan.run("start");
  const res = await ctx.plan.run("show-after", 15_000);
  const b = parseShow(res.lines.join("\n"))[0] ?? new Map<string, string>();
  const after = { unit: "logrotate.service", ActiveState: text(b, "ActiveState"), Result: text(b, "Result") ?? "unknown", ExecMainStatus: text(b, "ExecMainStatus") };
  if (r.exitCode !== 0 || r.timedOut) return failed(failedRun("systemctl start logrotate.service", r), null, after);
  if (after.Result !== "success") return failed(`post-check: Result=${after.Result}`, null, after);
  return ok(null, after);
};

function shutdownScheduled(): boolean {
  try {
    return statSync("/run/systemd/shutdown/scheduled").isFile();
  } catch {
    return false;
  }
}

const rebootSystem: Runner = async (_params, ctx) => {
  // checkAllowlisted refused this before the approval was used; said again here, as a result.
  if (!ctx.allowlist.reboot) return failed("pre-check: reboot is not allowed on this host (actions.yaml: reboot: false)");
  if (!requireSystemd(ctx)) return failed(NO_SYSTEMD);
  const before = { rebootScheduled: shutdownScheduled(), users: ctx.facts.users };
  const r = await ctx.plan.run("shutdown");
  const after = { rebootScheduled: shutdownScheduled(), inMinutes: ctx.facts.minutes };
  if (r.exitCode !== 0 || r.timedOut) return failed(failedRun("shutdown -r", r), before, after);
  return after.rebootScheduled ? ok(before, after) : failed("post-check: systemd reports no pending shutdown", before, after);
};

/** "Archived and active journals take up 1.2G in the file system." → bytes. */
export function diskUsageBytes(lines: readonly string[]): number | null {
  const m = /take up ([\d.]+)([BKMGTP])?/.exec(lines.join(" "));
  if (!m) return null;
  const exp = "BKMGTP".indexOf(m[2] ?? "B");
  return Math.round(Number(m[1]) * 1024 ** Math.max(0, exp));
}

const vacuumJournal: Runner = async (params, ctx) => {
  if (!requireSystemd(ctx)) return failed(NO_SYSTEMD);
  const before = { usageBytes: diskUsageBytes((await ctx.plan.run("usage", 15_000)).lines), previewedFreesBytes: ctx.facts.freesBytes };
  const r = await ctx.plan.run(params.by === "size" ? "vacuum-size" : "vacuum-age");
  const after = { usageBytes: diskUsageBytes((await ctx.plan.run("usage-after", 15_000)).lines) };
  if (r.exitCode !== 0 || r.timedOut) return failed(failedRun("journalctl --vacuum", r), before, after);
  const freed = before.usageBytes !== null && after.usageBytes !== null ? before.usageBytes - after.usageBytes : null;
  ctx.emit(`post-check: the journal used ${before.usageBytes ?? "?"} bytes, now ${after.usageBytes ?? "?"}${freed !== null ? ` (${freed} freed)` : ""}`);
  return ok(before, { ...after, freedBytes: freed });
};

const truncateLog: Runner = async (_params, ctx) => {
  const path = String(ctx.facts.path);
  // lstat, not stat: a symbolic link put in the file's place is not the file the preview measured.
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st || !st.isFile() || st.nlink !== 1 || st.dev !== ctx.facts.device || st.ino !== ctx.facts.inode) return failed(`pre-check: ${path} is no longer the file the preview measured (a regular file with one name, same device and inode)`);
  const before = { path, sizeBytes: st.size, inode: st.ino };
  const r = await ctx.plan.run("truncate");
  const now = lstatSync(path, { throwIfNoEntry: false });
  const after = now ? { path, sizeBytes: now.size, inode: now.ino } : null;
  if (r.exitCode !== 0 || r.timedOut) return failed(failedRun("truncate", r), before, after);
  if (!after || after.inode !== before.inode) return failed("post-check: the file was replaced", before, after);
  if (after.sizeBytes >= before.sizeBytes && before.sizeBytes > 0) return failed(`post-check: the file is still ${after.sizeBytes} bytes`, before, after);
  ctx.emit(`post-check: ${path} went from ${before.sizeBytes} to ${after.sizeBytes} bytes (same inode)`);
  return ok(before, { ...after, freedBytes: before.sizeBytes - after.sizeBytes });
};

const cleanPackageCache: Runner = async (_params, ctx) => {
  if (!requireSystemd(ctx)) return failed(NO_SYSTEMD);
  const before = { manager: ctx.facts.manager, cacheBytes: ctx.facts.cacheBytes };
  const r = await ctx.plan.run(ctx.plan.has("apt-clean") ? "apt-clean" : "dnf-clean");
  // The post-check the approver reads: the cache's bytes before and after (read, not spawned).
  const after = { manager: ctx.facts.manager, cacheBytes: packageCacheBytes(ctx.facts.manager === "dnf" ? "dnf" : "apt").bytes };
  if (r.exitCode !== 0 || r.timedOut) return failed(failedRun("the cache clean", r), before, after);
  ctx.emit(`post-check: the package cache held ${String(before.cacheBytes)} bytes, now ${after.cacheBytes}`);
  return ok(before, { ...after, freedBytes: Number(before.cacheBytes) - after.cacheBytes });
};

const upgradePackages: Runner = async (params, ctx) => {
  if (!requireSystemd(ctx)) return failed(NO_SYSTEMD);
  const names = params.packages as string[];
  const versions = ctx.facts.versions as Record<string, { from: string; to: string }>;
  // Every package apt's simulation changes (the named ones among them), as the preview showed.
  const changes = (ctx.facts.changes ?? {}) as Record<string, { from: string | null; to: string | null }>;
  // By package name (dpkg-query's ${Package} has no ":arch"); a named package's candidate first.
  const expected: Record<string, string> = Object.fromEntries(names.map((p) => [p, versions[p]?.to ?? "?"]));
  for (const [p, c] of Object.entries(changes)) if (c.to !== null) expected[p.replace(/:.*$/, "")] ??= c.to;
  const query = async (step: string) => parseDpkgQuery((await ctx.plan.run(step, 30_000)).lines);
  const before = Object.fromEntries(await query("query"));
  const r = await ctx.plan.run("upgrade");
  const afterMap = await query("query-after");
  const after = Object.fromEntries(afterMap);
  const changed = Object.keys(expected).filter((p) => before[p] !== after[p]).map((p) => ({ package: p, from: before[p] ?? null, to: after[p] ?? null }));
  if (r.exitCode !== 0 || r.timedOut || r.aborted) return failed(failedRun("apt-get install --only-upgrade", r), before, { versions: after, changed });
  const missed = Object.keys(expected).filter((p) => after[p] !== expected[p]);
  if (missed.length > 0) return failed(`post-check: ${missed.map((p) => `${p} is ${after[p] ?? "not installed"}, not ${expected[p] ?? "?"}`).join("; ")}`, before, { versions: after, changed });
  ctx.emit(`post-check: ${changed.length} package(s) changed: ${changed.map((c) => `${c.package} ${c.from ?? "(new)"} → ${c.to}`).join(", ") || "none"}`);
  return ok(before, { versions: after, changed });
};

type Runner = (params: Params, ctx: ActionContext) => Promise<Outcome>;

/** One runner per catalog action: an action without a runner here does not compile. */
const RUNNERS: { readonly [N in ActionName]: Runner } = {
  restart_service: serviceAction("restart"),
  reload_service: serviceAction("reload"),
  start_service: serviceAction("start"),
  stop_service: serviceAction("stop"),
  enable_service: serviceAction("enable"),
  disable_service: serviceAction("disable"),
  reset_failed_unit: serviceAction("reset-failed"),
  signal_service: serviceAction("kill"),
  restart_container: containerAction("restart"),
  stop_container: containerAction("stop"),
  start_container: containerAction("start"),
  flush_dns_cache: flushDnsCache,
  rotate_logs: rotateLogs,
  reboot_system: rebootSystem,
  vacuum_journal: vacuumJournal,
  truncate_log: truncateLog,
  clean_package_cache: cleanPackageCache,
  upgrade_packages: upgradePackages,
};

export function runnerOf(name: string): Runner | undefined {
  return Object.hasOwn(RUNNERS, name) ? RUNNERS[name as ActionName] : undefined;
}

/** Whether `path` lies in one of the allowlisted log roots (lexically; the preview checks the file itself). */
function underLogRoot(path: string, roots: readonly string[]): boolean {
  return roots.some((r) => (r === "/" ? path.startsWith("/") : path === r || path.startsWith(`${r}/`)));
}

/**
 * The allowlist check that needs no process, by the definition's allowlist kind: the name as given
 * (canonicalised as systemctl would) must be listed. Runs BEFORE the approval is checked and its
 * nonce spent; the canonical Id / full container ID / real file is compared again by the preview.
 */
export function checkAllowlisted(def: ActionDef, params: Params, allowlist: Allowlist): void {
  const refuse = (what: string) => {
    throw new HelperRefusal("NOT_ALLOWLISTED", what);
  };
  switch (def.allowlist) {
    case "unit": {
      const unit = canonicalUnit(String(params.unit));
      if (!allowlist.units.has(unit)) refuse(`unit ${unit} is not on this host's allowlist (units in actions.yaml)`);
      return;
    }
    case "container": {
      const name = String(params.name);
      // Listed as given, or a full 64-hex ID (whose name the preview compares); never an ID prefix.
      if (!allowlist.containers.includes(name) && !/^[0-9a-f]{64}$/.test(name)) {
        const prefix = /^[0-9a-f]{12,63}$/.test(name) ? " (an ID prefix is not accepted: give the name or the full 64-character ID)" : "";
        refuse(`container ${name} is not on this host's allowlist (containers in actions.yaml)${prefix}`);
      }
      return;
    }
    case "logFile":
      if (!underLogRoot(String(params.path), allowlist.logFiles)) refuse(`${String(params.path)} is not under a log root this host allows truncating (logFiles in actions.yaml: ${allowlist.logFiles.join(", ") || "none"})`);
      return;
    case "packages": {
      const missing = (params.packages as string[]).filter((p) => !allowlist.packages.has(p));
      if (missing.length > 0) refuse(`package(s) ${missing.join(", ")} not on this host's allowlist (packages in actions.yaml)`);
      return;
    }
    case "reboot":
      if (!allowlist.reboot) refuse("reboot is not allowed on this host (actions.yaml: reboot: false)");
      return;
    case "journal":
      if (!allowlist.journal) refuse("vacuum_journal is not allowed on this host (actions.yaml: journal: false)");
      return;
    case "packageCache":
      if (!allowlist.packageCache) refuse("clean_package_cache is not allowed on this host (actions.yaml: packageCache: false)");
      return;
    case "none":
      return;
  }
}

/** Joins output lines, keeping the last MAX_ACTION_OUTPUT characters. */
export function capOutput(lines: readonly string[]): string {
  const text = lines.join("\n");
  return text.length > MAX_ACTION_OUTPUT ? text.slice(text.length - MAX_ACTION_OUTPUT) : text;
}
