// Service actions on one allowlisted systemd unit. The helper resolves the unit's canonical Id
// (`systemctl show -p Id`, the preview's fact `unit`) and compares THAT with
// /etc/hostward/actions.yaml `units`, so an alias or a missing ".service" suffix cannot slip past
// the allowlist; every command names the canonical Id.
import { z } from "zod";
import { defineAction, type CheckDef, type StepDef } from "../define-action";
import { serviceUnitName } from "../grammar";

const unit = serviceUnitName.describe(
  'a service unit; ".service" is added when no suffix is given (nginx → nginx.service, which is what is approved and run); other unit types are refused',
);
const unitParams = z.strictObject({ unit });

const SHOW_PROPS = "Id,LoadState,ActiveState,SubState,MainPID,NRestarts,CanReload,UnitFileState,ActiveEnterTimestamp";
/** The unit's state, before (id "show") and after (id "show-after", polled until the post-check holds). */
const show = (id: "show" | "show-after" = "show", note?: string): StepDef => ({
  id,
  program: "systemctl",
  options: ["show", "--no-pager", `--property=${SHOW_PROPS}`],
  values: ["{unit}"],
  quiet: true,
  ...(note !== undefined && { note }),
});
const systemctl = (id: string, verb: string, extra: readonly string[] = [], env?: Record<string, string>): StepDef => ({
  id,
  program: "systemctl",
  options: [verb, "--no-pager", "--no-ask-password", ...extra],
  values: ["{unit}"],
  ...(env && { env }),
});
/** Configuration checks of the services that have one, run before a (re)start or reload. */
const CONFIG_CHECK_STEPS: StepDef[] = [
  // "--config=PATH" in one word: an option may not start with "/" (shared/programs.ts).
  { id: "caddy-validate", program: "caddy", options: ["validate", "--config=/etc/caddy/Caddyfile"], when: { fact: "unit", equals: "caddy.service" } },
  { id: "unbound-checkconf", program: "unbound-checkconf", options: [], when: { fact: "unit", equals: "unbound.service" } },
  // No nginx entry: `nginx -t` opens its error log for writing, which the operator unit's sandbox
  // (ProtectSystem=strict) refuses; the post-check still proves it came up.
];
const CONFIG_CHECKS: CheckDef[] = [
  { text: "caddy validate --config=/etc/caddy/Caddyfile passes", when: { fact: "unit", equals: "caddy.service" } },
  { text: "unbound-checkconf passes", when: { fact: "unit", equals: "unbound.service" } },
];
const LOADED: CheckDef = { text: "systemd runs; the unit is loaded (LoadState=loaded) and its canonical Id is listed in actions.yaml `units`" };
const UNTIL = "(until the post-check holds, ≤ 30 s)";
const SERVICE_COMMON = { params: unitParams, allowlist: "unit", needsSystemd: true, preview: "service" } as const;

export const restartService = defineAction({
  ...SERVICE_COMMON,
  name: "restart_service",
  title: "Restart a service",
  summary:
    "Stops and starts one allowlisted systemd service. Brief downtime; use it when a service is failed or stuck. The result compares ActiveState and MainPID before and after.",
  impact: "MEDIUM",
  timeoutMs: 120_000,
  material: ["unit", "loadState"],
  prechecks: [LOADED, ...CONFIG_CHECKS],
  steps: [show(), ...CONFIG_CHECK_STEPS, systemctl("restart", "restart"), show("show-after", UNTIL)],
  postchecks: [{ text: "ActiveState=active within 30 s and MainPID differs from the one before the restart" }],
  examples: [
    { description: "Restart unbound", params: { unit: "unbound.service" } },
    { description: "Restart caddy (validated first)", params: { unit: "caddy" } },
  ],
});

const reloadService = defineAction({
  ...SERVICE_COMMON,
  name: "reload_service",
  title: "Reload a service",
  summary:
    "Asks one allowlisted systemd service to reload its configuration without stopping (ExecReload). No downtime; refused when the unit cannot reload (CanReload=no).",
  impact: "LOW",
  timeoutMs: 60_000,
  material: ["unit", "loadState", "canReload"],
  prechecks: [LOADED, { text: "the unit is active and has CanReload=yes" }, ...CONFIG_CHECKS],
  steps: [show(), ...CONFIG_CHECK_STEPS, systemctl("reload", "reload"), show("show-after", UNTIL)],
  postchecks: [{ text: "ActiveState=active within 30 s (a reload keeps the same MainPID)" }],
  examples: [{ description: "Reload caddy after a config change", params: { unit: "caddy.service" } }],
});

const startService = defineAction({
  ...SERVICE_COMMON,
  name: "start_service",
  title: "Start a service",
  summary: "Starts one allowlisted systemd service that is stopped or failed. Does nothing to a service that is already active.",
  impact: "MEDIUM",
  timeoutMs: 120_000,
  material: ["unit", "loadState"],
  prechecks: [LOADED, ...CONFIG_CHECKS],
  steps: [show(), ...CONFIG_CHECK_STEPS, systemctl("start", "start"), show("show-after", UNTIL)],
  postchecks: [{ text: "ActiveState=active within 30 s" }],
  inverse: "stop_service",
  examples: [{ description: "Start nginx", params: { unit: "nginx.service" } }],
});

const stopService = defineAction({
  ...SERVICE_COMMON,
  name: "stop_service",
  title: "Stop a service",
  summary:
    "Stops one allowlisted systemd service (ExecStop, then its stop timeout). What it serves is down until it is started again; units that require it stop too (the preview lists them).",
  impact: "MEDIUM",
  timeoutMs: 120_000,
  material: ["unit", "loadState", "requiredBy"],
  prechecks: [LOADED],
  steps: [show(), systemctl("stop", "stop"), show("show-after", UNTIL)],
  postchecks: [{ text: "ActiveState is inactive (or failed) within 30 s" }],
  inverse: "start_service",
  examples: [{ description: "Stop a runaway worker", params: { unit: "worker.service" } }],
});

// Debian's systemctl hands SysV init scripts to update-rc.d, which writes /etc/rc*.d: the operator
// unit's sandbox refuses that (EROFS). systemd itself (over D-Bus, outside the sandbox) writes the
// unit's own symlinks; SYSTEMCTL_SKIP_SYSV=1 leaves the SysV links as they are.
const SKIP_SYSV = { SYSTEMCTL_SKIP_SYSV: "1" };

const enableService = defineAction({
  ...SERVICE_COMMON,
  name: "enable_service",
  title: "Enable a service at boot",
  summary: "Enables one allowlisted systemd service so it starts at boot (its [Install] section). Does not start it now.",
  impact: "LOW",
  timeoutMs: 60_000,
  material: ["unit", "loadState", "unitFileState"],
  prechecks: [LOADED, { text: "UnitFileState is disabled (an enabled, static, masked or generated unit is left alone)" }],
  steps: [show(), systemctl("enable", "enable", [], SKIP_SYSV), show("show-after")],
  postchecks: [{ text: "UnitFileState=enabled" }],
  inverse: "disable_service",
  examples: [{ description: "Start nginx at boot", params: { unit: "nginx.service" } }],
});

const disableService = defineAction({
  ...SERVICE_COMMON,
  name: "disable_service",
  title: "Disable a service at boot",
  summary: "Disables one allowlisted systemd service so it no longer starts at boot. Does not stop it now.",
  impact: "LOW",
  timeoutMs: 60_000,
  material: ["unit", "loadState", "unitFileState"],
  prechecks: [LOADED, { text: "UnitFileState is enabled" }],
  steps: [show(), systemctl("disable", "disable", [], SKIP_SYSV), show("show-after")],
  postchecks: [{ text: "UnitFileState=disabled" }],
  inverse: "enable_service",
  examples: [{ description: "Stop a service from starting at boot", params: { unit: "worker.service" } }],
});

const resetFailedUnit = defineAction({
  ...SERVICE_COMMON,
  name: "reset_failed_unit",
  title: "Clear a unit's failed state",
  summary:
    "Clears the failed state (and the start-rate counter) of one allowlisted service, so `systemctl --failed` and alerting stop reporting it and it may be started again. Starts nothing.",
  impact: "LOW",
  timeoutMs: 30_000,
  material: ["unit", "loadState"],
  prechecks: [LOADED, { text: "ActiveState=failed" }],
  steps: [show(), systemctl("reset-failed", "reset-failed"), show("show-after")],
  postchecks: [{ text: "ActiveState is no longer failed" }],
  examples: [{ description: "Clear a failed backup job", params: { unit: "backup.service" } }],
});

const SIGNALS = ["TERM", "HUP", "INT", "KILL", "USR1", "USR2"] as const;

const signalService = defineAction({
  ...SERVICE_COMMON,
  name: "signal_service",
  title: "Signal a service's processes",
  summary:
    "Sends a signal to one allowlisted service's processes through systemd (`systemctl kill`): its main process, or every process in its cgroup. Never a bare PID. HUP usually reloads, TERM/KILL end the process (systemd may restart it per Restart=).",
  impact: "MEDIUM",
  params: z.strictObject({
    unit,
    signal: z.enum(SIGNALS).describe("the signal: TERM (ask to exit), HUP (reload, for most daemons), INT, KILL (cannot be caught), USR1, USR2"),
    whom: z.enum(["main", "all"]).default("main").describe("main: only the main process (MainPID); all: every process in the unit's cgroup"),
  }),
  timeoutMs: 60_000,
  material: ["unit", "loadState", "mainPid"],
  prechecks: [LOADED, { text: "the unit is active and has a main process (MainPID ≠ 0)" }],
  steps: [show(), { id: "kill", program: "systemctl", options: ["kill", "--no-pager", "--no-ask-password", "--signal={signal}", "--kill-whom={whom}"], values: ["{unit}"] }, show("show-after", UNTIL)],
  postchecks: [
    { text: "HUP, USR1, USR2: the unit is still active", when: { fact: "signal", oneOf: ["HUP", "USR1", "USR2"] } },
    { text: "TERM, INT, KILL: the main process is gone within 30 s (a new MainPID or the unit inactive)", when: { fact: "signal", oneOf: ["TERM", "INT", "KILL"] } },
  ],
  examples: [
    { description: "Ask a daemon to reopen its logs", params: { unit: "nginx.service", signal: "USR1" } },
    { description: "Kill a hung worker and everything it started", params: { unit: "worker.service", signal: "KILL", whom: "all" } },
  ],
});

export const serviceActions = [restartService, reloadService, startService, stopService, enableService, disableService, resetFailedUnit, signalService] as const;
