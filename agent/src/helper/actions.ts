// What each action does on the host, after its request, allowlist entry and approval passed:
// pre-check → command → post-check, every command a fixed absolute program through spawn.ts.
// A failed step ends the action with verdict FAILED and the reason; nothing here throws for a
// host condition (a missing unit, no systemd), only for a bug.
import { statSync } from "node:fs";
import { MAX_ACTION_OUTPUT, type ActionResult } from "../../../proto/catalog/define-action";
import { canonicalUnit } from "../../../proto/catalog/grammar";
import { HelperRefusal } from "./exit-codes";
import type { Allowlist } from "./settings";
import { programPath, spawnProgram, type Program, type SpawnResult } from "./spawn";

export interface ActionContext {
  allowlist: Allowlist;
  /**
   * Streams one line of output to the caller (and keeps it for the result's `output`). `atUnixMicros`:
   * when the line was read off a program's pty (spawn.ts); omitted for the helper's own lines (now).
   */
  emit(line: string, atUnixMicros?: number): void;
  /** The action's deadline (ms since epoch). */
  deadline: number;
}

type Params = Record<string, unknown>;

const POST_CHECK_MS = 30_000;
const POLL_MS = 250;

/** sd_booted(3): systemd is PID 1 exactly when this directory exists. */
export function systemdRunning(): boolean {
  try {
    return statSync("/run/systemd/system").isDirectory();
  } catch {
    return false;
  }
}

const NO_SYSTEMD = "systemd is not running on this host";

/** The first pre-check of every systemd action, said out loud: no process runs without systemd. */
function requireSystemd(ctx: ActionContext): boolean {
  const running = systemdRunning();
  ctx.emit(`pre-check: systemd is ${running ? "running" : "not running (/run/systemd/system is missing)"}`);
  return running;
}

function remaining(ctx: ActionContext, cap = Infinity): number {
  return Math.max(1, Math.min(cap, ctx.deadline - Date.now()));
}

async function quiet(ctx: ActionContext, program: Program, options: string[], values: string[] = [], cap = 15_000): Promise<SpawnResult> {
  return spawnProgram(program, options, values, { timeoutMs: remaining(ctx, cap), onLine: () => undefined, pipes: true });
}

async function loud(ctx: ActionContext, program: Program, options: string[], values: string[] = []): Promise<SpawnResult> {
  ctx.emit(`$ ${program} ${[...options, ...(values.length ? ["--", ...values] : [])].join(" ")}`);
  return spawnProgram(program, options, values, { timeoutMs: remaining(ctx), onLine: ctx.emit });
}

function failedRun(what: string, r: SpawnResult): string {
  if (r.timedOut) return `${what} did not finish before the action's deadline`;
  const last = r.lines.filter((l) => l.trim() !== "").slice(-3).join(" | ");
  return `${what} exited with ${r.exitCode}${last ? `: ${last.slice(0, 500)}` : ""}`;
}

// ---- systemd units -------------------------------------------------------------------------

export interface UnitState {
  id: string;
  loadState: string;
  activeState: string;
  subState: string;
  mainPid: number;
  nRestarts: number;
  canReload: boolean;
}

const SHOW_PROPS = ["Id", "LoadState", "ActiveState", "SubState", "MainPID", "NRestarts", "CanReload"];

async function unitState(ctx: ActionContext, unit: string): Promise<UnitState> {
  const r = await quiet(ctx, "systemctl", ["show", "--no-pager", ...SHOW_PROPS.flatMap((p) => ["-p", p])], [unit]);
  if (r.exitCode !== 0) throw new Error(failedRun(`systemctl show ${unit}`, r));
  const kv = new Map(r.lines.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)] as const));
  return {
    id: kv.get("Id") ?? "",
    loadState: kv.get("LoadState") ?? "",
    activeState: kv.get("ActiveState") ?? "",
    subState: kv.get("SubState") ?? "",
    mainPid: Number(kv.get("MainPID") ?? 0),
    nRestarts: Number(kv.get("NRestarts") ?? 0),
    canReload: kv.get("CanReload") === "yes",
  };
}

function publicState(s: UnitState | null): Record<string, unknown> | null {
  return s && { unit: s.id, ActiveState: s.activeState, SubState: s.subState, MainPID: s.mainPid, NRestarts: s.nRestarts };
}

/** Config checks of services that have one, keyed by canonical unit Id. */
export const CONFIG_CHECKS: Record<string, { program: Program; options: string[] }> = {
  // "--config=PATH" in one word: spawn.ts takes options as flags and words only (an option may not
  // start with "/"), so a separate "/etc/caddy/Caddyfile" was refused before caddy ever ran.
  "caddy.service": { program: "caddy", options: ["validate", "--config=/etc/caddy/Caddyfile"] },
  "unbound.service": { program: "unbound-checkconf", options: [] },
  // No nginx entry: `nginx -t` opens its error log for writing, which the operator unit's sandbox
  // (ProtectSystem=strict, no CAP_DAC_OVERRIDE) refuses; the post-check still proves it came up.
};

async function serviceAction(verb: "restart" | "reload" | "start", params: Params, ctx: ActionContext): Promise<Omit<ActionResult, "output">> {
  const unit = canonicalUnit(String(params.unit));
  if (!requireSystemd(ctx)) return { before: null, after: null, verdict: "FAILED", reason: NO_SYSTEMD };
  const before = await unitState(ctx, unit);
  const fail = (reason: string, after: UnitState | null = null) => ({ before: publicState(before), after: publicState(after), verdict: "FAILED" as const, reason });
  if (before.loadState !== "loaded") return fail(`unit ${unit} is not loaded (LoadState=${before.loadState || "unknown"})`);
  if (!ctx.allowlist.units.has(before.id)) return fail(`unit ${unit} is ${before.id}, which is not on this host's allowlist`);
  if (verb === "reload" && !before.canReload) return fail(`unit ${before.id} cannot reload (CanReload=no)`);
  if (verb === "reload" && before.activeState !== "active") return fail(`unit ${before.id} is ${before.activeState}, a reload needs it active`);
  ctx.emit(`pre-check: ${before.id} is loaded and allowlisted (ActiveState=${before.activeState}, MainPID=${before.mainPid})`);

  const check = CONFIG_CHECKS[before.id];
  if (check) {
    if (programPath(check.program) === null) return fail(`pre-check: ${check.program} is not installed, so ${before.id}'s configuration cannot be validated`);
    const r = await loud(ctx, check.program, check.options);
    if (r.exitCode !== 0 || r.timedOut) return fail(`pre-check failed: ${failedRun(check.program, r)}`);
  }

  const r = await loud(ctx, "systemctl", [verb, "--no-pager", "--no-ask-password"], [before.id]);
  if (r.exitCode !== 0 || r.timedOut) return fail(failedRun(`systemctl ${verb}`, r), await unitState(ctx, before.id).catch(() => null));

  // Post-check: active within POST_CHECK_MS and, for a restart, a new main process.
  const until = Math.min(ctx.deadline, Date.now() + POST_CHECK_MS);
  let after = await unitState(ctx, before.id);
  const done = (s: UnitState) => s.activeState === "active" && (verb !== "restart" || s.mainPid === 0 || s.mainPid !== before.mainPid);
  while (!done(after) && Date.now() < until) {
    await new Promise((res) => setTimeout(res, POLL_MS));
    after = await unitState(ctx, before.id);
  }
  if (after.activeState !== "active") return fail(`post-check: ${before.id} is ${after.activeState}/${after.subState}, not active within ${POST_CHECK_MS / 1000} s`, after);
  if (verb === "restart" && after.mainPid !== 0 && after.mainPid === before.mainPid) return fail(`post-check: MainPID is still ${after.mainPid} after the restart`, after);
  ctx.emit(`post-check: ${before.id} is active (MainPID ${before.mainPid} → ${after.mainPid})`);
  return { before: publicState(before), after: publicState(after), verdict: "SUCCEEDED" };
}

// ---- podman containers ---------------------------------------------------------------------

interface ContainerState {
  id: string;
  name: string;
  status: string;
  pid: number;
  startedAt: string;
}

async function inspectContainer(ctx: ActionContext, name: string): Promise<ContainerState | null> {
  const r = await quiet(ctx, "podman", ["container", "inspect"], [name]);
  if (r.exitCode !== 0) return null;
  const parsed = JSON.parse(r.lines.join("\n")) as { Id?: string; Name?: string; State?: { Status?: string; Pid?: number; StartedAt?: string } }[];
  const c = parsed[0];
  if (!c?.Id || !/^[0-9a-f]{64}$/.test(c.Id)) return null;
  return { id: c.Id, name: (c.Name ?? "").replace(/^\//, ""), status: c.State?.Status ?? "", pid: c.State?.Pid ?? 0, startedAt: c.State?.StartedAt ?? "" };
}

/**
 * Whether an allowlist entry names this container: its exact name or its exact full ID. Never an
 * ID prefix (podman itself resolves prefixes, so "abc" could mean whichever container's ID starts
 * with it, today or after the next `podman run`).
 */
export function containerAllowed(entries: readonly string[], c: { id: string; name: string }): boolean {
  return entries.some((e) => e === c.name || e === c.id);
}

async function restartContainer(params: Params, ctx: ActionContext): Promise<Omit<ActionResult, "output">> {
  const name = String(params.name);
  if (programPath("podman") === null) return { before: null, after: null, verdict: "FAILED", reason: "podman is not installed on this host" };
  const before = await inspectContainer(ctx, name);
  if (!before) return { before: null, after: null, verdict: "FAILED", reason: `no container ${name}` };
  // The container podman found must be the one asked for by its exact name or full ID (podman also
  // resolves an ID prefix), and the allowlist must name it the same way (containerAllowed).
  if (name !== before.name && name !== before.id) {
    return { before, after: null, verdict: "FAILED", reason: `${name} is neither the name nor the full ID of the container podman found (${before.name}, ${before.id.slice(0, 12)}): ID prefixes are not accepted` };
  }
  if (!containerAllowed(ctx.allowlist.containers, before)) {
    return { before, after: null, verdict: "FAILED", reason: `container ${before.name} (${before.id.slice(0, 12)}) is not on this host's allowlist (by its name or full ID)` };
  }
  const r = await loud(ctx, "podman", ["restart"], [before.id]);
  const after = await inspectContainer(ctx, before.id);
  if (r.exitCode !== 0 || r.timedOut) return { before, after, verdict: "FAILED", reason: failedRun("podman restart", r) };
  if (after?.status !== "running" || after.startedAt === before.startedAt) {
    return { before, after, verdict: "FAILED", reason: `post-check: container is ${after?.status ?? "gone"}${after?.startedAt === before.startedAt ? " and was not restarted" : ""}` };
  }
  return { before, after, verdict: "SUCCEEDED" };
}

// ---- host-wide -----------------------------------------------------------------------------

async function unitActive(ctx: ActionContext, unit: string): Promise<boolean> {
  if (!systemdRunning()) return false;
  return (await unitState(ctx, unit).catch(() => null))?.activeState === "active";
}

async function flushDnsCache(_params: Params, ctx: ActionContext): Promise<Omit<ActionResult, "output">> {
  if (!requireSystemd(ctx)) return { before: null, after: null, verdict: "FAILED", reason: NO_SYSTEMD };
  let r: SpawnResult;
  let resolver: string;
  if (programPath("unbound-control") !== null && (await unitActive(ctx, "unbound.service"))) {
    resolver = "unbound.service";
    r = await loud(ctx, "unbound-control", ["flush_zone", "."]);
  } else if (programPath("resolvectl") !== null && (await unitActive(ctx, "systemd-resolved.service"))) {
    resolver = "systemd-resolved.service";
    r = await loud(ctx, "resolvectl", ["flush-caches"]);
  } else {
    return { before: null, after: null, verdict: "FAILED", reason: "pre-check: neither unbound.service nor systemd-resolved.service is active" };
  }
  if (r.exitCode !== 0 || r.timedOut) return { before: { resolver }, after: null, verdict: "FAILED", reason: failedRun("the flush", r) };
  const active = await unitActive(ctx, resolver);
  return { before: { resolver }, after: { resolver, active }, verdict: active ? "SUCCEEDED" : "FAILED", ...(!active && { reason: `post-check: ${resolver} is no longer active` }) };
}

async function rotateLogs(_params: Params, ctx: ActionContext): Promise<Omit<ActionResult, "output">> {
  if (!requireSystemd(ctx)) return { before: null, after: null, verdict: "FAILED", reason: NO_SYSTEMD };
  const before = await unitState(ctx, "logrotate.service");
  if (before.loadState !== "loaded") return { before: publicState(before), after: null, verdict: "FAILED", reason: "pre-check: logrotate.service is not loaded" };
  const r = await loud(ctx, "systemctl", ["start", "--no-pager", "--no-ask-password"], ["logrotate.service"]);
  const res = await quiet(ctx, "systemctl", ["show", "--no-pager", "-p", "Result", "-p", "ExecMainStatus"], ["logrotate.service"]);
  const result = res.lines.find((l) => l.startsWith("Result="))?.slice(7) ?? "unknown";
  const after = { ...publicState(await unitState(ctx, "logrotate.service")), Result: result };
  if (r.exitCode !== 0 || r.timedOut || result !== "success") {
    return { before: publicState(before), after, verdict: "FAILED", reason: r.exitCode !== 0 ? failedRun("systemctl start logrotate.service", r) : `post-check: Result=${result}` };
  }
  return { before: publicState(before), after, verdict: "SUCCEEDED" };
}

async function rebootSystem(params: Params, ctx: ActionContext): Promise<Omit<ActionResult, "output">> {
  if (!ctx.allowlist.reboot) throw new HelperRefusal("NOT_ALLOWLISTED", "reboot is not allowed on this host (actions.yaml: reboot: false)");
  if (!requireSystemd(ctx)) return { before: null, after: null, verdict: "FAILED", reason: NO_SYSTEMD };
  const minutes = Math.ceil(Number(params.delaySeconds ?? 60) / 60);
  const r = await loud(ctx, "shutdown", ["-r", `+${minutes}`]);
  let scheduled = false;
  try {
    scheduled = statSync("/run/systemd/shutdown/scheduled").isFile();
  } catch {
    scheduled = false;
  }
  const after = { rebootScheduled: scheduled, inMinutes: minutes };
  if (r.exitCode !== 0 || r.timedOut) return { before: { rebootScheduled: false }, after, verdict: "FAILED", reason: failedRun("shutdown -r", r) };
  if (!scheduled) return { before: { rebootScheduled: false }, after, verdict: "FAILED", reason: "post-check: systemd reports no pending shutdown" };
  return { before: { rebootScheduled: false }, after, verdict: "SUCCEEDED" };
}

type Runner = (params: Params, ctx: ActionContext) => Promise<Omit<ActionResult, "output">>;

export const RUNNERS: Readonly<Record<string, Runner>> = {
  restart_service: (p, c) => serviceAction("restart", p, c),
  reload_service: (p, c) => serviceAction("reload", p, c),
  start_service: (p, c) => serviceAction("start", p, c),
  restart_container: restartContainer,
  flush_dns_cache: flushDnsCache,
  rotate_logs: rotateLogs,
  reboot_system: rebootSystem,
};

/**
 * The allowlist check that needs no process: the name as given (canonicalised as systemctl would)
 * must be listed. Runs BEFORE the approval is checked and its nonce spent; the canonical Id
 * (which needs systemctl) is compared again in the pre-check.
 */
export function checkAllowlisted(action: string, params: Params, allowlist: Allowlist): void {
  if (action === "restart_service" || action === "reload_service" || action === "start_service") {
    const unit = canonicalUnit(String(params.unit));
    if (!allowlist.units.has(unit)) throw new HelperRefusal("NOT_ALLOWLISTED", `unit ${unit} is not on this host's allowlist (units in actions.yaml)`);
  }
  if (action === "restart_container") {
    const name = String(params.name);
    // Listed as given, or a full 64-hex ID (whose name the pre-check compares); never an ID prefix.
    if (!allowlist.containers.includes(name) && !/^[0-9a-f]{64}$/.test(name)) {
      const prefix = /^[0-9a-f]{12,63}$/.test(name) ? " (an ID prefix is not accepted: give the name or the full 64-character ID)" : "";
      throw new HelperRefusal("NOT_ALLOWLISTED", `container ${name} is not on this host's allowlist (containers in actions.yaml)${prefix}`);
    }
  }
  if (action === "reboot_system" && !allowlist.reboot) {
    throw new HelperRefusal("NOT_ALLOWLISTED", "reboot is not allowed on this host (actions.yaml: reboot: false)");
  }
}

/** Joins output lines, keeping the last MAX_ACTION_OUTPUT characters. */
export function capOutput(lines: readonly string[]): string {
  const text = lines.join("\n");
  return text.length > MAX_ACTION_OUTPUT ? text.slice(text.length - MAX_ACTION_OUTPUT) : text;
}
