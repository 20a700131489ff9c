// Host health diagnostics.
import { z } from "zod";
import { defineDiagnostic } from "../define";

/** Package names get_reboot_required returns at most. */
export const REBOOT_PACKAGES_MAX = 100;
/** Installed kernel versions get_reboot_required lists at most (newest kept). */
export const KERNELS_MAX = 32;
/** Deadline of the one timedatectl call of get_time_sync. */
export const TIMEDATECTL_TIMEOUT_MS = 5000;

export const getTimeSync = defineDiagnostic({
  name: "get_time_sync",
  group: "health",
  title: "Time synchronisation",
  summary:
    "Whether the system clock is synchronised (NTP), which time daemon runs (systemd-timesyncd, chronyd, ntpd), the time zone and whether the RTC keeps local time. Uses timedatectl where systemd runs, otherwise files and /proc. Use it when logs, TLS or Kerberos suggest clock skew.",
  input: () => z.strictObject({}),
  output: () => z.object({
    source: z
      .enum(["timedatectl", "files"])
      .describe('"timedatectl": systemd answered; "files": systemd is not running (or failed) and only files and /proc were read'),
    synchronized: z
      .boolean()
      .nullable()
      .describe("true when the kernel clock is NTP-synchronised; null when it cannot be told without systemd"),
    ntpEnabled: z.boolean().nullable().describe("systemd's NTP= setting (a time service is enabled); null when unknown"),
    ntpDaemons: z.array(z.string()).describe('time daemons found running: "systemd-timesyncd", "chronyd", "ntpd", …'),
    timezone: z.string(),
    localRtc: z.boolean().nullable().describe("true when the hardware clock keeps local time instead of UTC (discouraged)"),
    systemTime: z.string().describe("the host's clock when it answered, ISO 8601 UTC: compare with your own"),
    notes: z.array(z.string()).describe("why a value is null, or what fallback was used"),
  }),
  limits: [
    `At most one process spawned (timedatectl show, deadline ${TIMEDATECTL_TIMEOUT_MS} ms), only when systemd is PID 1; otherwise reads files and /proc only.`,
  ],
  examples: [{ description: "Is the clock synchronised", input: {} }],
});

export const getRebootRequired = defineDiagnostic({
  name: "get_reboot_required",
  group: "health",
  title: "Reboot required",
  summary:
    "Whether the host needs a reboot and why: Debian/Ubuntu's /run/reboot-required flag and the packages that set it, and a running kernel older than the newest installed one (any distribution). Use it after updates or before planning maintenance.",
  input: () => z.strictObject({}),
  output: () => z.object({
    required: z.boolean(),
    reasons: z.array(z.string()).describe("one sentence per reason; empty when no reboot is needed"),
    packages: z.array(z.string()).describe("packages that asked for the reboot (/run/reboot-required.pkgs)"),
    runningKernel: z.string().describe("uname -r"),
    newestInstalledKernel: z.string().nullable().describe("newest of /lib/modules/* and /boot/vmlinuz-*; null when none is visible (containers)"),
    installedKernels: z.array(z.string()).describe("installed kernel versions, oldest first"),
    notes: z.array(z.string()),
  }),
  limits: [
    `No arguments; reads /run, /boot and /lib/modules only, nothing spawned; at most ${REBOOT_PACKAGES_MAX} packages and ${KERNELS_MAX} kernels listed.`,
  ],
  examples: [{ description: "Does the host need a reboot after updates", input: {} }],
});

export const getAgentInfo = defineDiagnostic({
  name: "get_agent_info",
  group: "health",
  title: "Agent information",
  summary:
    "The hostward agent's version, role, catalog hash and uptime on this host. Use it to check that a host runs the expected agent build.",
  input: () => z.strictObject({}),
  output: () => z.object({
    version: z.string(),
    role: z.enum(["reader", "operator"]),
    catalogHash: z.string().describe("SHA-256 of the catalog this agent serves; equal on broker and agent when they match"),
    uptimeSeconds: z.number().describe("seconds since this agent process started"),
    nodeVersion: z.string(),
    pid: z.number().int(),
  }),
  volatile: ["pid"],
  limits: ["No arguments; constant-size reply."],
  examples: [{ description: "Which agent build is running", input: {} }],
});

export const getAgentMetrics = defineDiagnostic({
  name: "get_agent_metrics",
  group: "health",
  title: "Agent counters",
  summary:
    "The reader agent's own counters since it started: calls by method and gRPC outcome, refused calls, processes spawned, uptime.",
  input: () => z.strictObject({}),
  output: () => z.object({
    role: z.enum(["reader", "operator"]),
    uptimeSeconds: z.number().describe("seconds since the agent (and its counters) started"),
    callsTotal: z.number().int().describe("finished calls (not this one)"),
    calls: z
      .array(z.object({ method: z.string(), outcome: z.string().describe("gRPC status: OK, PERMISSION_DENIED, …"), count: z.number().int() }))
      .describe("by method and outcome"),
    refusals: z.number().int().describe("calls refused before their handler ran (role, revocation)"),
    spawns: z.number().int().describe("processes started for calls"),
  }),
  limits: ["No arguments; counters are in memory, at most 512 method and outcome pairs; the reader's own only (the operator agent serves no diagnostic)."],
  examples: [{ description: "What this host's agent has served", input: {} }],
});

export const healthDiagnostics = [getTimeSync, getRebootRequired, getAgentInfo, getAgentMetrics] as const;
