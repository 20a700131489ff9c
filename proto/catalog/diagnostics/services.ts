// Services and containers: unit state from systemd itself (systemctl), logs from the journal,
// containers from podman. Every unit name is canonicalised (nginx → nginx.service) before use.
import { z } from "zod";
import { defineDiagnostic } from "../define";
import { containerName, count, journalTime, literalText, priority, unitName } from "../grammar";
import { journalEntry } from "./journal";

const timestamp = z.string().nullable().describe("ISO 8601 UTC, or null when systemd has no value");

const SERVICE_STATES = ["all", "active", "inactive", "failed", "running"] as const;

export const listServices = defineDiagnostic({
  name: "list_services",
  group: "services",
  title: "List services",
  summary:
    "The host's systemd services with load/active/sub state and enablement, filtered by state and a literal name substring. Use it to find a service's exact unit name or to see what is running.",
  input: () => z.strictObject({
    state: z.enum(SERVICE_STATES).default("all").describe("active | inactive | failed | running (sub-state) | all"),
    nameContains: literalText("nameContains", 128).optional().describe("literal substring of the unit name"),
    limit: count(1, 1000, 200),
  }),
  output: () => z.object({
    services: z.array(
      z.object({
        unit: z.string(),
        load: z.string().describe('loaded | not-found | masked | … ; "not-loaded" for an installed unit file systemd has not loaded'),
        active: z.string().describe("active | inactive | failed | activating | deactivating | reloading"),
        sub: z.string().describe("running | exited | dead | failed | auto-restart | …"),
        description: z.string().nullable(),
        unitFileState: z.string().nullable().describe("enabled | disabled | static | masked | … (null when unknown)"),
      }),
    ),
    total: z.number().int().describe("services matching the filter before the limit"),
    truncated: z.boolean().describe("true when total > limit"),
  }),
  limits: [
    "At most `limit` services (1..1000, default 200), sorted by name; `total` says how many matched.",
    "Two systemctl calls (list-units, list-unit-files), 10 s deadline each, output capped at 8 MiB.",
  ],
  examples: [
    { description: "Failed services", input: { state: "failed" } },
    { description: "Services whose name contains nginx", input: { nameContains: "nginx" } },
  ],
});

const unitInput = z.strictObject({ unit: unitName.describe('unit name; ".service" is added when no unit suffix is given') });

const serviceStatus = z.object({
  unit: z.string().describe("the canonical unit id"),
  names: z.array(z.string()).describe("the unit's names, aliases included"),
  description: z.string(),
  loadState: z.string().describe("loaded | masked | bad-setting | error | …"),
  loadError: z.string().nullable(),
  activeState: z.string(),
  subState: z.string(),
  result: z.string().nullable().describe('"success" or why the unit last failed (exit-code, signal, timeout, …)'),
  unitFileState: z.string().nullable(),
  unitFilePreset: z.string().nullable(),
  type: z.string().nullable().describe("service type (simple, forking, oneshot, notify, …)"),
  restartPolicy: z.string().nullable(),
  mainPid: z.number().int().nullable(),
  lastExit: z
    .object({ code: z.string().describe("exited | killed | dumped"), status: z.number().int().describe("exit status or signal number") })
    .nullable()
    .describe("how the main process last ended; null when it never ended"),
  restarts: z.number().int().nullable().describe("automatic restarts since the unit was last started by hand"),
  execMainStartedAt: timestamp,
  activeEnteredAt: timestamp,
  inactiveEnteredAt: timestamp,
  stateChangedAt: timestamp,
  memoryBytes: z.number().nullable().describe("null when memory accounting is off"),
  cpuNanoseconds: z.number().nullable().describe("null when CPU accounting is off"),
  tasks: z.number().int().nullable(),
  fragmentPath: z.string().nullable().describe("the unit file"),
  controlGroup: z.string().nullable(),
  requires: z.array(z.string()),
  wants: z.array(z.string()),
  bindsTo: z.array(z.string()),
  after: z.array(z.string()),
});

export const getServiceStatus = defineDiagnostic({
  name: "get_service_status",
  group: "services",
  title: "Service status",
  summary:
    "One unit's state as systemd reports it (systemctl show): load/active/sub state, result, main PID, last exit, restart count, timestamps, memory/CPU/tasks, unit file and dependencies. NOT_FOUND when systemd does not know the unit.",
  input: () => unitInput,
  output: () => serviceStatus,
  volatile: ["mainPid"],
  limits: ["One systemctl show call with a fixed property list, 10 s deadline; dependency lists capped at 200 names each."],
  examples: [
    { description: "Is nginx running", input: { unit: "nginx" } },
    { description: "A template instance", input: { unit: "getty@tty1.service" } },
  ],
});

export const getServiceLogs = defineDiagnostic({
  name: "get_service_logs",
  group: "services",
  title: "Service logs",
  summary:
    "The newest journal entries of one unit (oldest first), optionally since a time and at a priority or more severe. Returns the cursor of the last entry to page forward with get_journal_logs.",
  input: () => z.strictObject({
    unit: unitName,
    lines: count(1, 1000, 100),
    since: journalTime.optional().describe('"-1h", "-30min", "today", "2026-11-21 10:00:00"'),
    priority: priority.optional().describe("this level and more severe"),
  }),
  output: () => z.object({
    unit: z.string(),
    entries: z.array(journalEntry),
    cursor: z.string().nullable().describe("cursor of the last entry (get_journal_logs cursor= continues after it)"),
    truncated: z.boolean().describe("true when `lines` entries were returned (older ones may exist) or output was capped"),
  }),
  volatile: ["entries[].pid", "entries[].cursor"],
  limits: ["1..1000 entries (default 100); each message capped at 2 KiB; journalctl deadline 10 s, output capped at 8 MiB."],
  examples: [
    { description: "Last 50 lines of nginx", input: { unit: "nginx", lines: 50 } },
    { description: "Errors of unbound in the last hour", input: { unit: "unbound", since: "-1h", priority: "err" } },
  ],
});

export const checkServiceHealth = defineDiagnostic({
  name: "check_service_health",
  group: "services",
  title: "Service health check",
  summary:
    "A verdict (healthy | degraded | failed | inactive) with reasons for one unit, combining its systemd state, its recent journal errors, the TCP/UDP sockets its processes listen on, and dependencies (Requires/Wants/BindsTo) that are failed.",
  input: () => z.strictObject({
    unit: unitName,
    since: journalTime.optional().describe('window for recent errors, default "-1h"'),
  }),
  output: () => z.object({
    unit: z.string(),
    verdict: z.enum(["healthy", "degraded", "failed", "inactive"]),
    reasons: z.array(z.string()).describe("why the verdict is not healthy (empty when healthy)"),
    status: serviceStatus,
    recentErrors: z.array(journalEntry).describe("priority err or worse within the window, newest 20"),
    listening: z.object({
      readable: z.boolean().describe("false when the unit's processes or sockets could not be read"),
      note: z.string().nullable(),
      sockets: z.array(
        z.object({
          protocol: z.enum(["tcp", "tcp6", "udp", "udp6"]),
          address: z.string(),
          port: z.number().int(),
          pid: z.number().int(),
        }),
      ),
    }),
    failedDependencies: z.array(
      z.object({ unit: z.string(), relation: z.enum(["requires", "wants", "bindsTo"]), activeState: z.string(), result: z.string().nullable() }),
    ),
  }),
  volatile: ["status.mainPid", "listening.sockets[].pid", "recentErrors[].pid", "recentErrors[].cursor"],
  limits: [
    "Three systemctl/journalctl calls at most, 10 s deadline each; up to 20 recent errors; up to 100 dependencies checked;",
    "sockets from at most 256 processes of the unit's cgroup.",
  ],
  examples: [
    { description: "Is caddy healthy", input: { unit: "caddy" } },
    { description: "Health of unbound with errors from the last day", input: { unit: "unbound.service", since: "-1d" } },
  ],
});

export const listFailedUnits = defineDiagnostic({
  name: "list_failed_units",
  group: "services",
  title: "Failed units",
  summary: "Every unit (any type) systemd currently reports as failed. Use it first when something on a host is broken.",
  input: () => z.strictObject({}),
  output: () => z.object({
    units: z.array(z.object({ unit: z.string(), load: z.string(), active: z.string(), sub: z.string(), description: z.string().nullable() })),
    truncated: z.boolean(),
  }),
  limits: ["One systemctl call, 10 s deadline; at most 1000 units."],
  examples: [{ description: "What has failed", input: {} }],
});

export const listTimers = defineDiagnostic({
  name: "list_timers",
  group: "services",
  title: "Timers",
  summary: "Every systemd timer with the unit it activates and its next and last run times.",
  input: () => z.strictObject({}),
  output: () => z.object({
    timers: z.array(
      z.object({
        unit: z.string(),
        activates: z.string().nullable(),
        next: timestamp.describe("next elapse, ISO 8601 UTC; null when not scheduled"),
        last: timestamp.describe("last trigger, ISO 8601 UTC; null when it never ran"),
      }),
    ),
    truncated: z.boolean(),
  }),
  limits: ["One systemctl call, 10 s deadline; at most 1000 timers."],
  examples: [{ description: "When do the backups run", input: {} }],
});

export const listContainers = defineDiagnostic({
  name: "list_containers",
  group: "services",
  title: "Containers",
  summary: "podman containers on the host (running ones, or all with all=true): id, name, image, state, status, ports.",
  input: () => z.strictObject({ all: z.boolean().default(false).describe("include stopped containers") }),
  output: () => z.object({
    containers: z.array(
      z.object({
        id: z.string(),
        names: z.array(z.string()),
        image: z.string(),
        state: z.string(),
        status: z.string().nullable(),
        createdAt: timestamp,
        ports: z.array(z.string()).describe('"127.0.0.1:8080->80/tcp"'),
      }),
    ),
    truncated: z.boolean(),
  }),
  limits: ["One podman call, 15 s deadline; at most 500 containers. FAILED_PRECONDITION when podman is not installed."],
  examples: [
    { description: "Running containers", input: {} },
    { description: "All containers, stopped ones included", input: { all: true } },
  ],
});

export const getContainerStatus = defineDiagnostic({
  name: "get_container_status",
  group: "services",
  title: "Container status",
  summary: "One podman container's state (podman inspect): id, image, state, start time, restart count, health, published ports.",
  input: () => z.strictObject({ name: containerName.describe("container name or ID") }),
  output: () => z.object({
    id: z.string(),
    name: z.string(),
    image: z.string(),
    state: z.string().describe("running | exited | paused | created | …"),
    status: z.string().nullable(),
    exitCode: z.number().int().nullable(),
    startedAt: timestamp,
    finishedAt: timestamp,
    restartCount: z.number().int(),
    health: z.string().nullable().describe("healthy | unhealthy | starting; null without a health check"),
    ports: z.array(z.string()),
  }),
  limits: ["One podman call, 15 s deadline. NOT_FOUND for an unknown container; FAILED_PRECONDITION when podman is not installed."],
  examples: [{ description: "State of the web container", input: { name: "web" } }],
});

export const servicesDiagnostics = [
  listServices,
  getServiceStatus,
  getServiceLogs,
  checkServiceHealth,
  listFailedUnits,
  listTimers,
  listContainers,
  getContainerStatus,
] as const;
