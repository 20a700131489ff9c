// The text of an action's impact preview, a pure function of the facts the host's helper computed
// and the validated parameters: previewSummary(def, params, facts). The helper returns it with
// its facts (old consumers read `summary`), the broker renders it again itself and shows only its
// own rendering, and both refuse a preview whose `summary` is not what its facts say
// (previewProblem): the human signs a hash over facts AND text, and the helper re-derives the facts
// at execution, so the text the approver read cannot say something else than the facts do.
//
// Facts are untrusted host output: each preview kind has its own strict zod schema (bounded
// strings, numbers, lists), checked before anything is rendered. Every value the host chose
// (a unit name, a path, a version, a user, a timestamp) is shown with shared/printable.ts
// `quoted()` — a JSON string escaped ASCII-only, one visibly delimited token on one line — so it
// can neither break a line nor pass itself off as the catalog's own words. Numbers are validated
// integers; the words around them are the catalog's.
import { z } from "zod";
import { quoted, truncateText } from "../../shared/printable";
import { describeIssues } from "../../shared/zod-issues";
import { MAX_SUMMARY_LINE, MAX_SUMMARY_LINES, type ActionDef, type ActionPreview, type Facts, type PreviewKind } from "./define-action";
import { unitName } from "./grammar";

type Params = Record<string, unknown>;

/** A count or size the host measured (a non-negative safe integer). */
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const str = (max: number) => z.string().max(max);
const list = (max: number, item = str(256)) => z.array(item).max(max);

/** Facts every preview has: is systemd PID 1, and each planned program's absolute path on the host. */
const common = () => ({
  systemd: z.boolean(),
  paths: z.record(str(64), str(256).regex(/^\//)),
});

const socket = z.strictObject({ protocol: z.enum(["tcp", "tcp6", "udp", "udp6"]), address: str(64), port: z.number().int().min(0).max(65535) });

const JOURNAL_DIRS = ["/var/log/journal", "/run/log/journal"] as const;
const RESOLVERS = ["unbound.service", "systemd-resolved.service"] as const;

const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
const q = (s: string) => quoted(s);

/** At most `max` quoted items, then how many more the facts hold. */
function some(items: readonly string[], max = 8): string {
  const shown = items.slice(0, max).map(q).join(", ");
  return items.length > max ? `${shown} and ${items.length - max} more` : shown;
}

function uptime(seconds: number): string {
  return `${Math.floor(seconds / 86400)} d ${Math.floor((seconds % 86400) / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

interface KindSpec {
  facts: () => z.ZodType;
  lines: (facts: never, params: Params) => string[];
}

/** One preview kind: its facts' schema (built on first use) and its lines, typed by that schema. */
function kind<S extends z.ZodType>(facts: () => S, lines: (facts: z.output<S>, params: Params) => string[]): KindSpec {
  let built: S | undefined;
  return { facts: () => (built ??= facts()), lines: lines as KindSpec["lines"] };
}

// One entry per preview kind (define-action.ts PreviewKind): a missing or an extra kind does not compile.
const KINDS = {
  service: kind(
    () => {
      const shown = {
        ...common(),
        unit: unitName,
        loadState: str(32),
        activeState: str(32),
        subState: str(32),
        mainPid: count,
        canReload: z.boolean(),
        unitFileState: str(32),
        requiredBy: list(256),
        wantedBy: list(256),
        triggeredBy: list(256),
        tasks: count.nullable(),
        restarts: count.nullable(),
        activeSince: str(64).nullable(),
        /** Only for a loaded unit: what it listens on (from its cgroup's processes). */
        sockets: z.strictObject({ readable: z.boolean(), note: str(400).nullable(), listening: z.array(socket).max(64), connections: count.nullable() }).nullable(),
      };
      // Without systemd the helper knows only the unit's canonical name.
      return z.union([z.strictObject({ ...common(), unit: unitName }), z.strictObject(shown)]);
    },
    (f) => {
      if (!("loadState" in f)) return [];
      if (f.loadState !== "loaded") return [`${q(f.unit)} is not loaded (LoadState=${f.loadState === "" ? "unknown" : q(f.loadState)}): the action will fail its pre-check`];
      const n = (v: number | null) => (v === null ? "?" : String(v));
      const out = [
        `${q(f.unit)}: ${q(f.activeState)}/${q(f.subState)}, MainPID ${f.mainPid}, ${n(f.tasks)} task(s), ${n(f.restarts)} automatic restart(s); last started ${f.activeSince === null ? "never" : q(f.activeSince)}`,
        `at boot: ${f.unitFileState === "" ? "unknown" : q(f.unitFileState)}`,
        f.requiredBy.length > 0 ? `units that require it (a stop or restart reaches them too): ${some(f.requiredBy, 16)}` : "no unit requires it (RequiredBy/BoundBy empty)",
      ];
      if (f.wantedBy.length > 0) out.push(`wanted by: ${some(f.wantedBy)}`);
      if (f.triggeredBy.length > 0) out.push(`socket-activated by: ${some(f.triggeredBy)} (connections to those sockets are queued, not refused, while it restarts)`);
      const s = f.sockets;
      if (s && s.listening.length > 0) {
        const where = s.listening.slice(0, 8).map((l) => `${l.protocol} ${q(l.address)}:${l.port}`).join(", ");
        out.push(`listening on ${where}${s.listening.length > 8 ? ` and ${s.listening.length - 8} more` : ""}; ${s.connections === null ? "open connections not visible" : `${s.connections} open TCP connection(s) to those ports`}`);
      } else if (s && !s.readable) {
        out.push(`its sockets and connections are not visible from here (${s.note === null ? "unreadable" : q(s.note)})`);
      } else {
        out.push("it listens on no TCP/UDP socket of its own");
      }
      return out;
    },
  ),
  container: kind(
    () =>
      z.strictObject({
        ...common(),
        id: z.string().regex(/^[0-9a-f]{64}$/),
        name: str(256),
        state: str(32),
        status: str(256),
        /** "" when it never started. */
        startedAt: str(64),
        image: str(512),
        restartCount: count,
        ports: list(64, str(128)),
      }),
    (f) => {
      const out = [`container ${q(f.name)} (${f.id.slice(0, 12)}), image ${q(f.image)}: ${q(f.status)}, started ${f.startedAt === "" ? "never" : q(f.startedAt)}, ${f.restartCount} restart(s)`];
      if (f.ports.length > 0) out.push(`publishes ${some(f.ports)}`);
      return out;
    },
  ),
  reboot: kind(
    () =>
      z.strictObject({
        ...common(),
        minutes: z.number().int().min(1).max(60),
        users: list(256, str(80)),
        /** With systemd only: services running now, and seconds since the kernel booted (null: unknown). */
        runningServices: count.optional(),
        uptimeSeconds: count.nullable().optional(),
      }),
    (f) => {
      const out = [`reboot in ${f.minutes} minute(s); logged in now: ${f.users.length > 0 ? some(f.users, 16) : "nobody"}`];
      if (f.runningServices !== undefined) out.push(`${f.runningServices} running service(s) stop; up ${f.uptimeSeconds == null ? "for an unknown time" : uptime(f.uptimeSeconds)}`);
      return out;
    },
  ),
  journal: kind(
    () =>
      z.strictObject({
        ...common(),
        journalDir: z.enum(JOURNAL_DIRS),
        usageBytes: count,
        freesBytes: count,
        removesFiles: count,
        files: count,
        archivedFiles: count,
      }),
    (f, params) => [
      `journal in ${f.journalDir}: ${mib(f.usageBytes)} in ${f.files} file(s), ${f.archivedFiles} archived`,
      `${params.by === "size" ? `keeping at most ${mib(Number(params.maxBytes))}` : `keeping ${String(params.maxAgeDays)} day(s)`} frees about ${mib(f.freesBytes)} (${f.removesFiles} archived file(s)); the active files are never removed`,
    ],
  ),
  logFile: kind(
    () =>
      z.strictObject({
        ...common(),
        path: str(4096).regex(/^\//),
        // As stat reports them (a 64-bit inode may be beyond a safe integer: compared, never counted).
        device: z.number().min(0),
        inode: z.number().min(0),
        sizeBytes: count,
        /** The file's mtime, milliseconds since the epoch (whole). */
        modifiedMs: z.number().int().min(0).max(8.64e15),
      }),
    (f) => [`${q(f.path)}: regular file, ${mib(f.sizeBytes)} (${f.sizeBytes} bytes) freed by emptying it; last written ${new Date(f.modifiedMs).toISOString()}`],
  ),
  packages: kind(
    () =>
      z.strictObject({
        ...common(),
        manager: z.literal("apt"),
        versions: z.record(str(128), z.strictObject({ from: str(128), to: str(128) })),
        /** name=version of each named package: what the upgrade step installs. */
        pins: z.array(str(260)).max(32),
        /** Every package apt's simulation of that step changes: from (null: new) → to. */
        changes: z.record(str(128), z.strictObject({ from: str(128).nullable(), to: str(128).nullable() })),
        touched: z.array(str(128)).max(5000),
      }),
    (f, params) => {
      const names = params.packages as readonly string[];
      const asked = new Set(names);
      const extra = Object.keys(f.versions).find((k) => !asked.has(k));
      if (extra !== undefined) throw new Error(`versions names ${q(extra)}, which is not one of the packages asked for`);
      const out: string[] = [];
      let changing = 0;
      for (const p of names) {
        const v = f.versions[p];
        if (!v) throw new Error(`versions has no entry for ${p}`);
        if (v.from !== v.to) changing += 1;
        out.push(v.from === v.to ? `${p} ${q(v.from)}: already the candidate, unchanged` : `${p} ${q(v.from)} → ${q(v.to)}`);
      }
      out.push(`${changing} of ${names.length} package(s) change; candidates from the host's configured repositories as of its last \`apt-get update\``);
      const others = Object.keys(f.changes).filter((p) => !asked.has(p)).sort();
      if (others.length === 0) out.push("apt's simulation changes no other package and removes none");
      else {
        const entry = (p: string) => (f.changes[p]?.from === null ? `${q(p)} (new) ${q(f.changes[p]?.to ?? "")}` : `${q(p)} ${q(f.changes[p]?.from ?? "")} → ${q(f.changes[p]?.to ?? "")}`);
        out.push(...changeLines(`apt also changes ${others.length} other package(s) for them (its simulation): `, others.map(entry), 6));
      }
      return out;
    },
  ),
  packageCache: kind(
    () =>
      z.strictObject({
        ...common(),
        manager: z.enum(["apt", "dnf"]),
        cacheDir: z.enum(["/var/cache/apt/archives", "/var/cache/dnf"]),
        cacheBytes: count,
      }),
    (f) => [`${f.manager}: ${mib(f.cacheBytes)} of downloaded packages in ${f.cacheDir} freed`],
  ),
  resolver: kind(
    () => z.strictObject({ ...common(), resolver: z.enum(RESOLVERS).nullable() }),
    (f) => [f.resolver ? `flushes the cache of ${f.resolver}` : "neither unbound.service nor systemd-resolved.service is active: the action will fail its pre-check"],
  ),
  logrotate: kind(
    () =>
      z.strictObject({
        ...common(),
        /** "" when systemd does not run or `systemctl show` failed. */
        loadState: str(32),
        lastRun: str(64).nullable(),
        result: str(32).nullable(),
      }),
    (f) => {
      if (!f.systemd) return ["logrotate.service cannot be run here (no systemd)"];
      if (f.loadState === "") return ["logrotate.service could not be inspected (systemctl show failed): the action will fail its pre-check"];
      return [`runs logrotate.service (${q(f.loadState)}; last run ${f.lastRun === null ? "never" : q(f.lastRun)}, Result=${f.result === null ? "?" : q(f.result)})`];
    },
  ),
} satisfies Record<PreviewKind, KindSpec>;

/** A line of at most MAX_SUMMARY_LINE characters (the preview schema's bound), cut with "...". */
function bounded(line: string): string {
  return line.length <= MAX_SUMMARY_LINE ? line : `${truncateText(line, MAX_SUMMARY_LINE - 3)}...`;
}

/**
 * What the approver reads about this preview: rendered from the facts (validated with the kind's
 * schema first: throws, naming the fact, when they do not match) and the validated parameters.
 */
export function previewSummary(def: ActionDef, params: Params, facts: Facts): string[] {
  const spec = KINDS[def.preview];
  const parsed = spec.facts().safeParse(facts);
  if (!parsed.success) throw new Error(`its facts do not match the ${def.preview} preview's schema (${describeIssues(parsed.error, { max: 1, top: "facts" })})`);
  const lines = spec.lines(parsed.data as never, params);
  if (def.needsSystemd && facts.systemd !== true) lines.push(`${def.name} needs systemd, which is not running on this host: it will fail its first pre-check, and nothing runs`);
  return lines.slice(0, MAX_SUMMARY_LINES).map(bounded);
}

/**
 * Why this preview cannot be shown or approved, or null: its facts do not match its kind's schema
 * ("facts"), or its `summary` is not exactly the text its facts render to ("summary": altered on
 * the way, or computed by another version of the catalog).
 */
export function previewProblem(def: ActionDef, params: Params, preview: ActionPreview): { kind: "facts" | "summary"; reason: string } | null {
  let rendered: string[];
  try {
    rendered = previewSummary(def, params, preview.facts);
  } catch (err) {
    return { kind: "facts", reason: (err as Error).message };
  }
  const at = rendered.findIndex((l, i) => l !== preview.summary[i]);
  if (at < 0 && rendered.length === preview.summary.length) return null;
  const i = at < 0 ? rendered.length : at;
  const show = (l: string | undefined) => (l === undefined ? "(no line)" : quoted(l, 160));
  return { kind: "summary", reason: `its summary is not the text its facts render to: line ${i + 1} reads ${show(preview.summary[i])}, the facts say ${show(rendered[i])} (altered on the way, or another version of the catalog)` };
}

/**
 * "title a 1 → 2, b (new) 3, …" in at most `max` lines of about 480 characters (a summary line
 * holds 500): what does not fit is counted (the facts list every one: changes).
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
