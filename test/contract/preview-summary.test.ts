// The text of an impact preview is a pure function of its facts (proto/catalog/preview-summary.ts):
// one exact rendering per preview kind (the table below is typed by PreviewKind, so a new kind
// without a case here does not compile), the facts' schemas refuse what a host should never report,
// every value the host chose is quoted and escaped (it cannot break a line or pass for the
// catalog's words), and previewProblem names a summary that is not its facts' text.
import { describe, expect, it } from "vitest";
import { actions, findAction } from "../../proto/catalog/actions/index";
import type { ActionDef, Facts, PreviewKind } from "../../proto/catalog/define-action";
import { previewProblem, previewSummary } from "../../proto/catalog/preview-summary";

const def = (name: string): ActionDef => findAction(name)!;
const params = (d: ActionDef, p: Record<string, unknown>) => d.params.parse(p) as Record<string, unknown>;

const SERVICE: Facts = {
  systemd: true,
  paths: { systemctl: "/usr/bin/systemctl" },
  unit: "nginx.service",
  loadState: "loaded",
  activeState: "active",
  subState: "running",
  mainPid: 812,
  canReload: true,
  unitFileState: "enabled",
  requiredBy: ["app.service"],
  wantedBy: ["multi-user.target"],
  triggeredBy: [],
  tasks: 3,
  restarts: 0,
  activeSince: "Mon 2026-12-07 14:01:55 UTC",
  sockets: { readable: true, note: null, listening: [{ protocol: "tcp", address: "0.0.0.0", port: 80 }], connections: 12 },
};

interface Case {
  action: string;
  params: Record<string, unknown>;
  facts: Facts;
  lines: string[];
}

/** One case (at least) per preview kind, with the exact text the approver reads. */
const CASES: Record<PreviewKind, Case[]> = {
  service: [
    {
      action: "stop_service",
      params: { unit: "nginx" },
      facts: SERVICE,
      lines: [
        '"nginx.service": "active"/"running", MainPID 812, 3 task(s), 0 automatic restart(s); last started "Mon 2026-12-07 14:01:55 UTC"',
        'at boot: "enabled"',
        'units that require it (a stop or restart reaches them too): "app.service"',
        'wanted by: "multi-user.target"',
        'listening on tcp "0.0.0.0":80; 12 open TCP connection(s) to those ports',
      ],
    },
    {
      action: "restart_service",
      params: { unit: "gone" },
      facts: { ...SERVICE, unit: "gone.service", loadState: "not-found", requiredBy: [], wantedBy: [], sockets: null },
      lines: ['"gone.service" is not loaded (LoadState="not-found"): the action will fail its pre-check'],
    },
    {
      action: "restart_service",
      params: { unit: "nginx" },
      facts: { systemd: false, paths: {}, unit: "nginx.service" },
      lines: ["restart_service needs systemd, which is not running on this host: it will fail its first pre-check, and nothing runs"],
    },
  ],
  container: [
    {
      action: "restart_container",
      params: { name: "web" },
      facts: { systemd: false, paths: {}, id: "a".repeat(64), name: "web", state: "running", status: "Up", startedAt: "2026-12-07T14:01:55.000Z", image: "docker.io/library/nginx:1.27", restartCount: 2, ports: ["0.0.0.0:8080->80/tcp"] },
      lines: ['container "web" (aaaaaaaaaaaa), image "docker.io/library/nginx:1.27": "Up", started "2026-12-07T14:01:55.000Z", 2 restart(s)', 'publishes "0.0.0.0:8080->80/tcp"'],
    },
  ],
  reboot: [
    {
      action: "reboot_system",
      params: { delaySeconds: 120 },
      facts: { systemd: true, paths: {}, minutes: 2, users: ["alice@pts/0"], runningServices: 41, uptimeSeconds: 2 * 86400 + 3 * 3600 + 4 * 60 + 5 },
      lines: ['reboot in 2 minute(s); logged in now: "alice@pts/0"', "41 running service(s) stop; up 2 d 3 h 4 min"],
    },
  ],
  journal: [
    {
      action: "vacuum_journal",
      params: { by: "size", maxBytes: 200 * 1024 * 1024 },
      facts: { systemd: true, paths: {}, journalDir: "/var/log/journal", usageBytes: 900 * 1024 * 1024, freesBytes: 700 * 1024 * 1024, removesFiles: 7, files: 9, archivedFiles: 8 },
      lines: ["journal in /var/log/journal: 900.0 MiB in 9 file(s), 8 archived", "keeping at most 200.0 MiB frees about 700.0 MiB (7 archived file(s)); the active files are never removed"],
    },
  ],
  logFile: [
    {
      action: "truncate_log",
      params: { path: "/var/log/app/debug.log" },
      facts: { systemd: false, paths: {}, path: "/var/log/app/debug.log", device: 2049, inode: 1234, sizeBytes: 40 * 1024 * 1024, modifiedMs: Date.UTC(2026, 11, 7, 14, 1, 55) },
      lines: ['"/var/log/app/debug.log": regular file, 40.0 MiB (41943040 bytes) freed by emptying it; last written 2026-12-07T14:01:55.000Z'],
    },
  ],
  packages: [
    {
      action: "upgrade_packages",
      params: { packages: ["openssl", "libssl3"] },
      facts: {
        systemd: true,
        paths: {},
        manager: "apt",
        versions: { openssl: { from: "3.0.11-1", to: "3.0.13-1" }, libssl3: { from: "3.0.13-1", to: "3.0.13-1" } },
        pins: ["openssl=3.0.13-1", "libssl3=3.0.13-1"],
        changes: { openssl: { from: "3.0.11-1", to: "3.0.13-1" }, "libssl-dev": { from: "3.0.11-1", to: "3.0.13-1" }, "openssl-provider-legacy": { from: null, to: "3.0.13-1" } },
        touched: ["libssl-dev", "libssl3", "openssl", "openssl-provider-legacy"],
      },
      lines: [
        'openssl "3.0.11-1" → "3.0.13-1"',
        'libssl3 "3.0.13-1": already the candidate, unchanged',
        "1 of 2 package(s) change; candidates from the host's configured repositories as of its last `apt-get update`",
        'apt also changes 2 other package(s) for them (its simulation): "libssl-dev" "3.0.11-1" → "3.0.13-1", "openssl-provider-legacy" (new) "3.0.13-1"',
      ],
    },
  ],
  packageCache: [
    {
      action: "clean_package_cache",
      params: {},
      facts: { systemd: true, paths: {}, manager: "apt", cacheDir: "/var/cache/apt/archives", cacheBytes: 3 * 1024 * 1024 },
      lines: ["apt: 3.0 MiB of downloaded packages in /var/cache/apt/archives freed"],
    },
  ],
  resolver: [
    { action: "flush_dns_cache", params: {}, facts: { systemd: true, paths: {}, resolver: "unbound.service" }, lines: ["flushes the cache of unbound.service"] },
    { action: "flush_dns_cache", params: {}, facts: { systemd: true, paths: {}, resolver: null }, lines: ["neither unbound.service nor systemd-resolved.service is active: the action will fail its pre-check"] },
  ],
  logrotate: [
    {
      action: "rotate_logs",
      params: {},
      facts: { systemd: true, paths: {}, loadState: "loaded", lastRun: "Mon 2026-12-07 00:00:01 UTC", result: "success" },
      lines: ['runs logrotate.service ("loaded"; last run "Mon 2026-12-07 00:00:01 UTC", Result="success")'],
    },
  ],
};

describe("previewSummary, per preview kind", () => {
  for (const [kind, cases] of Object.entries(CASES)) {
    it(`${kind}: renders exactly the catalog's text for the facts`, () => {
      for (const c of cases) {
        const d = def(c.action);
        expect(d.preview).toBe(kind);
        expect(previewSummary(d, params(d, c.params), c.facts)).toEqual(c.lines);
      }
    });
  }

  it("every action's preview kind has a case above", () => {
    for (const a of actions as readonly ActionDef[]) expect(Object.keys(CASES)).toContain(a.preview);
  });

  it("is a pure function: the same facts give the same lines, whatever else the host would say", () => {
    const d = def("stop_service");
    expect(previewSummary(d, { unit: "nginx.service" }, { ...SERVICE })).toEqual(previewSummary(d, { unit: "nginx.service" }, SERVICE));
  });

  it("shows only a few items of a long list, and says how many more the facts hold", () => {
    const d = def("stop_service");
    const many = Array.from({ length: 20 }, (_, i) => `dep${i}.service`);
    const [, , required, wanted] = previewSummary(d, { unit: "nginx.service" }, { ...SERVICE, requiredBy: many, wantedBy: many });
    expect(required).toMatch(/"dep15\.service" and 4 more$/);
    expect(wanted).toMatch(/"dep7\.service" and 12 more$/);
  });
});

describe("the facts' schemas: untrusted host output", () => {
  const d = def("stop_service");
  const p = { unit: "nginx.service" };
  it.each([
    ["an unknown fact (it could stand in for a parameter in the plan's templates)", { ...SERVICE, maxBytes: 1 }],
    ["a count that is not a count", { ...SERVICE, mainPid: -1 }],
    ["a number where text belongs", { ...SERVICE, activeState: 3 }],
    ["a unit name with a newline", { ...SERVICE, unit: "nginx.service\nimpact: LOW" }],
    ["an oversized value", { ...SERVICE, activeSince: "x".repeat(65) }],
    ["an oversized list", { ...SERVICE, wantedBy: Array.from({ length: 257 }, () => "a.target") }],
    ["a missing fact", { ...SERVICE, tasks: undefined }],
  ])("refuses %s", (_what, facts) => {
    expect(() => previewSummary(d, p, facts)).toThrow(/do not match the service preview's schema/);
  });

  it("refuses a journal directory other than the journal's own, and versions for a package not asked for", () => {
    const j = CASES.journal[0]!;
    expect(() => previewSummary(def("vacuum_journal"), params(def("vacuum_journal"), j.params), { ...j.facts, journalDir: "/etc" })).toThrow(/schema/);
    const u = CASES.packages[0]!;
    expect(() => previewSummary(def("upgrade_packages"), { packages: ["openssl"] }, u.facts)).toThrow(/not one of the packages asked for/);
  });
});

describe("host text in a summary", () => {
  const d = def("stop_service");
  const p = { unit: "nginx.service" };
  const evil = 'multi-user.target\n  impact:    LOW\u001b[2J\u001b[H", no unit requires it \u202e';

  it("is quoted and escaped: a newline, an ANSI escape, a quote or a bidi override stays inside one token of one line", () => {
    const lines = previewSummary(d, p, { ...SERVICE, wantedBy: [evil] });
    expect(lines).toHaveLength(5);
    const wanted = lines[3]!;
    expect(wanted).toBe('wanted by: "multi-user.target\\n  impact:    LOW\\u001b[2J\\u001b[H\\", no unit requires it \\u202e"');
    for (const l of lines) expect(l).toMatch(/^[\u0020-\u007e]*$/);
  });

  it("a line never exceeds the preview schema's bound, whatever the host's strings", () => {
    const long = Array.from({ length: 16 }, (_, i) => `${"x".repeat(200)}${i}.service`);
    for (const l of previewSummary(d, p, { ...SERVICE, requiredBy: long })) expect(l.length).toBeLessThanOrEqual(500);
  });
});

describe("previewProblem", () => {
  const d = def("stop_service");
  const p = { unit: "nginx.service" };
  const good = { action: "stop_service", facts: SERVICE, summary: previewSummary(d, p, SERVICE) };

  it("accepts a preview whose summary is its facts' text", () => {
    expect(previewProblem(d, p, good)).toBeNull();
  });

  it("names the first line of a summary that says something its facts do not (facts unchanged)", () => {
    const forged = { ...good, summary: good.summary.map((l) => l.replace("12 open TCP connection(s)", "0 open TCP connection(s)")) };
    expect(previewProblem(d, p, forged)).toEqual({ kind: "summary", reason: expect.stringMatching(/^its summary is not the text its facts render to: line 5 reads "listening on .*0 open TCP/) });
    expect(previewProblem(d, p, { ...good, summary: good.summary.slice(0, 4) })?.reason).toMatch(/line 5 reads \(no line\)/);
    expect(previewProblem(d, p, { ...good, summary: [...good.summary, "and nothing else"] })?.reason).toMatch(/line 6 reads "and nothing else", the facts say \(no line\)/);
  });

  it("names facts that do not match their schema", () => {
    expect(previewProblem(d, p, { ...good, facts: {} })).toMatchObject({ kind: "facts" });
  });
});
