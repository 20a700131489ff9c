// Pure parsers for `podman ps --format json` and `podman container inspect --format json`
// (podman 4.x; fixtures in test/fixtures/systemd/podman/). No process here: the reader's
// diagnostics (systemd/podman.ts) and the root helper's container actions both parse with these.
import { z } from "zod";
import { DiagnosticError } from "../diagnostic-error";

const str = (max: number) => z.string().transform((s) => s.slice(0, max));

const psPort = z.object({
  host_ip: z.string().max(64).optional(),
  container_port: z.number().int(),
  host_port: z.number().int(),
  range: z.number().int().optional(),
  protocol: z.string().max(8).optional(),
});

const psRow = z.object({
  Id: z.string().regex(/^[0-9a-f]{12,64}$/),
  Names: z.array(str(256)).max(16).nullable().optional(),
  Image: str(512),
  State: str(32),
  Status: str(256).optional(),
  Created: z.number().optional(),
  Ports: z.array(psPort).nullable().optional(),
});

export interface ContainerSummary {
  id: string;
  names: string[];
  image: string;
  state: string;
  status: string | null;
  createdAt: string | null;
  ports: string[];
}

function unixToIso(seconds: number | undefined): string | null {
  // podman prints Go's zero time (-62135596800) for "never".
  if (seconds === undefined || seconds <= 0) return null;
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function formatPsPort(p: z.infer<typeof psPort>): string {
  const range = p.range ?? 1;
  const proto = p.protocol ?? "tcp";
  const span = (start: number) => (range > 1 ? `${start}-${start + range - 1}` : String(start));
  const host = p.host_ip ? `${p.host_ip.includes(":") ? `[${p.host_ip}]` : p.host_ip}:` : "";
  return `${host}${span(p.host_port)}->${span(p.container_port)}/${proto}`;
}

function jsonArray(stdout: string, what: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout.trim() === "" ? "[]" : stdout);
  } catch (err) {
    throw new DiagnosticError("UNAVAILABLE", `podman ${what} printed invalid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new DiagnosticError("UNAVAILABLE", `podman ${what} did not print a JSON array`);
  return parsed;
}

export function parsePodmanPs(stdout: string): ContainerSummary[] {
  const out: ContainerSummary[] = [];
  for (const r of jsonArray(stdout, "ps")) {
    const p = psRow.safeParse(r);
    if (!p.success) continue;
    const c = p.data;
    out.push({
      id: c.Id,
      names: c.Names ?? [],
      image: c.Image,
      state: c.State,
      status: c.Status ?? null,
      createdAt: unixToIso(c.Created),
      ports: (c.Ports ?? []).slice(0, 64).map(formatPsPort),
    });
  }
  return out;
}

const portBinding = z.object({ HostIp: z.string().max(64).optional(), HostPort: z.string().max(16).optional() });

const inspectRow = z.object({
  Id: z.string().regex(/^[0-9a-f]{12,64}$/),
  Name: str(256),
  ImageName: str(512).optional(),
  Image: str(512).optional(),
  RestartCount: z.number().int().optional(),
  State: z.object({
    Status: str(32),
    ExitCode: z.number().int().optional(),
    StartedAt: z.string().max(64).optional(),
    FinishedAt: z.string().max(64).optional(),
    Health: z.object({ Status: z.string().max(32).optional() }).nullable().optional(),
    Healthcheck: z.object({ Status: z.string().max(32).optional() }).nullable().optional(),
  }),
  Config: z.object({ Image: str(512).optional() }).nullable().optional(),
  NetworkSettings: z.object({ Ports: z.record(z.string(), z.array(portBinding).nullable()).nullable().optional() }).nullable().optional(),
});

export interface ContainerStatus {
  id: string;
  name: string;
  image: string;
  state: string;
  status: string | null;
  exitCode: number | null;
  startedAt: string | null;
  finishedAt: string | null;
  restartCount: number;
  health: string | null;
  ports: string[];
}

function goTime(s: string | undefined): string | null {
  if (!s || s.startsWith("0001-01-01")) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** A one-line status like podman ps prints ("Up (healthy)", "Exited (2)", "Created"). */
function statusLine(state: string, exitCode: number | null, health: string | null): string {
  const head = state === "running" ? "Up" : state.charAt(0).toUpperCase() + state.slice(1);
  const code = exitCode !== null ? ` (${exitCode})` : "";
  return `${head}${code}${health ? ` (${health})` : ""}`;
}

/** The first container of `podman container inspect --format json` output, or null for "[]". */
export function parsePodmanInspect(stdout: string): ContainerStatus | null {
  const [first] = jsonArray(stdout, "container inspect");
  if (first === undefined) return null;
  const p = inspectRow.safeParse(first);
  if (!p.success) throw new DiagnosticError("UNAVAILABLE", "podman container inspect printed an unexpected document");
  const c = p.data;
  const ports: string[] = [];
  for (const [containerPort, bindings] of Object.entries(c.NetworkSettings?.Ports ?? {}).slice(0, 64)) {
    if (!bindings || bindings.length === 0) {
      ports.push(containerPort);
      continue;
    }
    for (const b of bindings.slice(0, 8)) ports.push(`${b.HostIp ? `${b.HostIp}:` : ""}${b.HostPort ?? ""}->${containerPort}`);
  }
  const health = c.State.Health?.Status || c.State.Healthcheck?.Status || null;
  const ended = c.State.Status === "exited" || c.State.Status === "stopped";
  return {
    id: c.Id,
    name: c.Name,
    image: c.ImageName ?? c.Config?.Image ?? c.Image ?? "",
    state: c.State.Status,
    status: statusLine(c.State.Status, ended ? (c.State.ExitCode ?? null) : null, health),
    exitCode: ended ? (c.State.ExitCode ?? null) : null,
    startedAt: goTime(c.State.StartedAt),
    finishedAt: goTime(c.State.FinishedAt),
    restartCount: c.RestartCount ?? 0,
    health,
    ports,
  };
}
