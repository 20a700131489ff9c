// The summariser (broker/src/mcp/fleet-summary.ts) on generated fleets of the catalog's own output
// shapes: counts, failed and denied hosts by code, every outlier named, distributions, groups of
// identical answers, keyed arrays, and the 8 KB budget at 1000 and 10,000 hosts.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { diagnostics } from "../../proto/catalog/diagnostics/index";
import { getAgentInfo, getTimeSync } from "../../proto/catalog/diagnostics/health";
import { getDiskUsage, getLoad, getSystemInfo } from "../../proto/catalog/diagnostics/system";
import { fleetDefOf } from "../../broker/src/mcp/fleet-shape";
import { summariseFleet, type FleetSummary } from "../../broker/src/mcp/fleet-summary";
import { summarize, type HostResult } from "../../broker/src/mcp/host-results";
import { SUMMARY_MAX_BYTES } from "../../broker/src/mcp/fleet-view";
import { hostName, loadFleet, prng } from "./helpers/fleet-gen";

const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v), "utf8");

/** The answer as the tool sends it (fleet-view.ts), with a cursor of a realistic length. */
function answer(def: Parameters<typeof fleetDefOf>[0], results: HostResult[]) {
  const page = "x".repeat(76);
  const summary = summarize(results);
  const fleet = summariseFleet(fleetDefOf(def), results, { maxBytes: SUMMARY_MAX_BYTES, overheadBytes: bytes({ summary, fleet: {}, page }) });
  return { structured: { summary, fleet, page }, fleet };
}

// The outlier rule written out again, independently of broker/src/mcp/fleet-stats.ts.
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
function standsApart(xs: number[]): (x: number) => boolean {
  const med = median(xs);
  const dev = xs.map((x) => Math.abs(x - med));
  const mad = median(dev);
  const sigma = mad > 0 ? 1.4826 * mad : 1.253314 * (dev.reduce((a, b) => a + b, 0) / dev.length);
  const t = Math.max(3.5 * sigma, 0.25 * Math.abs(med), 0.5);
  return (x) => xs.length >= 5 && Math.abs(x - med) > t + 1e-9;
}

/** host → fields standing apart, by the rule above, over the ok hosts' top-level numbers. */
function expectedApart(results: HostResult[], fields: string[]): Map<string, string[]> {
  const ok = results.filter((r) => r.ok) as Array<HostResult<Record<string, number>>>;
  const out = new Map<string, string[]>();
  for (const f of fields) {
    const apart = standsApart(ok.map((r) => r.data![f]!));
    for (const r of ok) if (apart(r.data![f]!)) out.set(r.host, [...(out.get(r.host) ?? []), f]);
  }
  return out;
}

const LOAD_FIELDS = ["load1", "load5", "load15", "cpus", "runnable", "tasks", "uptimeSeconds"];

describe("get_load on 1000 generated hosts", () => {
  const fleet = loadFleet(1000);
  const { structured, fleet: s } = answer(getLoad, fleet.results);

  it(`fits in ${SUMMARY_MAX_BYTES} bytes of structured content`, () => {
    expect(bytes(structured)).toBeLessThanOrEqual(SUMMARY_MAX_BYTES);
    expect(s.omitted).toBeUndefined();
  });

  it("counts hosts, ok, failed and denied", () => {
    expect(structured.summary).toEqual({ hosts: 1000, ok: 1000 - fleet.failed.size - fleet.denied.length, failed: fleet.failed.size, denied: fleet.denied.length });
  });

  it("lists outliers first, and names every failed and denied host under its code", () => {
    expect(Object.keys(s)[0]).toBe("outliers");
    const byCode = new Map(s.outliers.errors.map((e) => [e.code, e]));
    expect([...byCode.keys()].sort()).toEqual(["DEADLINE_EXCEEDED", "POLICY_DENIED", "UNAVAILABLE"]);
    expect(byCode.get("POLICY_DENIED")!.hosts).toEqual(fleet.denied);
    for (const code of ["UNAVAILABLE", "DEADLINE_EXCEEDED"]) {
      const want = [...fleet.failed].filter(([, c]) => c === code).map(([h]) => h);
      expect(byCode.get(code)).toMatchObject({ count: want.length, hosts: want });
      expect(byCode.get(code)!.message).toContain(want[0]);
    }
    // Largest group first.
    expect(s.outliers.errors.map((e) => e.count)).toEqual([...s.outliers.errors.map((e) => e.count)].sort((a, b) => b - a));
  });

  it("names every host whose numbers stand apart, with the fields and values, the farthest first", () => {
    const want = expectedApart(fleet.results, LOAD_FIELDS);
    expect(new Set(s.outliers.apart.map((a) => a.host))).toEqual(new Set(want.keys()));
    for (const hot of fleet.hot) expect(want.has(hot)).toBe(true);
    for (const a of s.outliers.apart) {
      const data = fleet.results.find((r) => r.host === a.host)!.data as Record<string, number>;
      expect(Object.keys(a.values).sort()).toEqual(want.get(a.host)!.sort());
      for (const [field, value] of Object.entries(a.values)) expect(value).toBe(data[field]);
    }
    const loads = s.outliers.apart.map((a) => a.values.load1!);
    expect(loads).toEqual([...loads].sort((x, y) => y - x));
  });

  it("gives every number as a distribution, with the hosts at its minimum and maximum", () => {
    const ok = fleet.results.filter((r) => r.ok) as Array<HostResult<Record<string, number>>>;
    expect(s.numbers.map((n) => n.field)).toEqual(LOAD_FIELDS);
    for (const n of s.numbers) {
      const xs = ok.map((r) => r.data![n.field]!);
      const sorted = [...xs].sort((a, b) => a - b);
      expect(n).toMatchObject({ n: ok.length, min: sorted[0], max: sorted.at(-1), p90: sorted[Math.ceil(0.9 * xs.length) - 1] });
      expect(n.median).toBeCloseTo(median(xs), 9);
      expect((ok.find((r) => r.host === n.minHost)!.data![n.field])).toBe(n.min);
      expect((ok.find((r) => r.host === n.maxHost)!.data![n.field])).toBe(n.max);
    }
    expect(s.numbers.find((n) => n.field === "load1")!.maxHost).toBe(s.outliers.apart[0]!.host);
  });

  it("puts every answering host in one group: get_load's answers differ only in numbers", () => {
    expect(s.groups).toHaveLength(1);
    expect(s.groups[0]).toMatchObject({ count: structured.summary.ok, hosts: ["host0001", "host0002", "host0003"] });
    expect(s.groups[0]!.data).toEqual(fleet.results[0]!.data);
    expect(s.varies).toBeUndefined();
  });
});

describe("the 8 KB budget", () => {
  it("holds at 10,000 generated hosts: what is not named is counted", () => {
    const fleet = loadFleet(10_000, 7);
    const { structured, fleet: s } = answer(getLoad, fleet.results);
    expect(bytes(structured)).toBeLessThanOrEqual(SUMMARY_MAX_BYTES);
    expect(structured.summary.hosts).toBe(10_000);
    const named = s.outliers.errors.reduce((n, e) => n + e.hosts.length, 0);
    const counted = s.outliers.errors.reduce((n, e) => n + e.count, 0);
    expect(counted).toBe(fleet.failed.size + fleet.denied.length);
    expect(named + (s.omitted?.errorHosts ?? 0)).toBe(counted);
    const want = expectedApart(fleet.results, LOAD_FIELDS);
    expect(s.outliers.apart.length + (s.omitted?.apartHosts ?? 0)).toBe(want.size);
    // The farthest are the ones named: every hot host (load 25+) stands apart more than the rest.
    const apart = new Set(s.outliers.apart.map((a) => a.host));
    expect(fleet.hot.filter((h) => apart.has(h)).length).toBe(Math.min(fleet.hot.length, apart.size));
  });

  it("keeps outliers over everything else: 2000 failed hosts with long names still fit, counted", () => {
    const results: HostResult[] = Array.from({ length: 3000 }, (_, i) => {
      const host = `a-rather-long-host-name-in-a-big-datacenter-${String(i).padStart(5, "0")}`;
      return i % 3 === 0
        ? { host, ok: true, data: { load1: 0.5, load5: 0.5, load15: 0.5, cpus: 4, runnable: 1, tasks: 300, uptimeSeconds: 1000 } }
        : { host, ok: false, error: { code: i % 3 === 1 ? "UNAVAILABLE" : "DEADLINE_EXCEEDED", message: "down" } };
    });
    const { structured, fleet: s } = answer(getLoad, results);
    expect(bytes(structured)).toBeLessThanOrEqual(SUMMARY_MAX_BYTES);
    expect(s.outliers.errors.map((e) => e.count)).toEqual([1000, 1000]);
    const named = s.outliers.errors.reduce((n, e) => n + e.hosts.length, 0);
    expect(named).toBeGreaterThan(50);
    expect(named + s.omitted!.errorHosts!).toBe(2000);
    // The cut takes from the longest list, so both codes keep names.
    expect(Math.abs(s.outliers.errors[0]!.hosts.length - s.outliers.errors[1]!.hosts.length)).toBeLessThanOrEqual(1);
  });
});

/** get_system_info-shaped answers: two OS releases, unique host names and boot times. */
function systemFleet(n: number): HostResult[] {
  const rnd = prng(3);
  return Array.from({ length: n }, (_, k) => {
    const i = k + 1;
    const debian = i % 4 !== 0;
    return {
      host: hostName(i, 3),
      ok: true,
      data: {
        hostname: `${hostName(i, 3)}.example.org`,
        os: { prettyName: debian ? "Debian GNU/Linux 12 (bookworm)" : "Ubuntu 24.04 LTS", id: debian ? "debian" : "ubuntu", idLike: debian ? [] : ["debian"], versionId: debian ? "12" : "24.04", versionCodename: debian ? "bookworm" : "noble" },
        kernel: { release: debian ? "6.1.0-18-amd64" : "6.8.0-31-generic", version: "#1 SMP" },
        arch: "x86_64",
        hardware: { vendor: "QEMU", product: "Standard PC" },
        virtualization: { vm: "kvm", container: null },
        logicalCpus: 4,
        memoryTotalBytes: 8_000_000_000,
        bootTime: new Date(Date.UTC(2026, 0, 1) + Math.floor(rnd() * 1e9)).toISOString(),
        uptimeSeconds: 1e6 + Math.floor(rnd() * 1000),
        timezone: i === 7 ? "Europe/Berlin" : "UTC",
        utcOffset: i === 7 ? "+01:00" : "+00:00",
      },
    };
  });
}

describe("groups of identical answers", () => {
  it("group by what is not a number, a time or a per-host name; the per-host fields are listed", () => {
    const results = systemFleet(40);
    const s = summariseFleet(fleetDefOf(getSystemInfo), results, { maxBytes: SUMMARY_MAX_BYTES, overheadBytes: 100 });
    // hostname differs on every host: not grouped by, listed; bootTime is a time: neither.
    expect(s.varies).toEqual([{ field: "hostname", distinct: 40 }]);
    expect(s.groups.map((g) => [g.count, g.hosts])).toEqual([
      [29, ["001", "002", "003"].map((x) => `host${x}`)],
      [10, ["004", "008", "012"].map((x) => `host${x}`)],
      [1, ["host007"]],
    ]);
    expect((s.groups[1]!.data as { os: { id: string } }).os.id).toBe("ubuntu");
    expect((s.groups[2]!.data as { timezone: string }).timezone).toBe("Europe/Berlin");
    expect(s.numbers.map((n) => n.field)).toEqual(["uptimeSeconds"]);
    expect(s.constant).toEqual({ logicalCpus: 4, memoryTotalBytes: 8_000_000_000 });
  });

  it("a time the catalog describes as ISO 8601 does not split groups (get_time_sync's systemTime)", () => {
    const results: HostResult[] = Array.from({ length: 12 }, (_, i) => ({
      host: hostName(i + 1, 2),
      ok: true,
      data: { source: "timedatectl", synchronized: i !== 5, ntpEnabled: true, ntpDaemons: ["systemd-timesyncd"], timezone: "UTC", localRtc: false, systemTime: new Date(1e12 + i * 1000).toISOString(), notes: [] },
    }));
    const s = summariseFleet(fleetDefOf(getTimeSync), results, { maxBytes: SUMMARY_MAX_BYTES, overheadBytes: 100 });
    expect(s.groups.map((g) => g.count)).toEqual([11, 1]);
    expect(s.groups[1]!.hosts).toEqual(["host06"]);
    expect(s.varies).toBeUndefined();
  });

  it("a field the catalog marks volatile (get_agent_info's pid) is neither grouped nor spread", () => {
    const results: HostResult[] = Array.from({ length: 20 }, (_, i) => ({
      host: hostName(i + 1, 2),
      ok: true,
      data: { version: "0.1.0", role: "reader", catalogHash: "sha256:ab", uptimeSeconds: 5000, nodeVersion: "v20.1.0", pid: i === 3 ? 999_999 : 1000 + i },
    }));
    const s = summariseFleet(fleetDefOf(getAgentInfo), results, { maxBytes: SUMMARY_MAX_BYTES, overheadBytes: 100 });
    expect(s.numbers).toEqual([]);
    expect(s.constant).toEqual({ uptimeSeconds: 5000 });
    expect(s.outliers.apart).toEqual([]);
    expect(s.groups).toHaveLength(1);
  });

  it("counts the groups beyond the first ten", () => {
    const results = systemFleet(30).map((r, i) => ({ ...r, data: { ...(r.data as object), arch: `arch${i % 15}` } }));
    const s = summariseFleet(fleetDefOf(getSystemInfo), results, { maxBytes: SUMMARY_MAX_BYTES, overheadBytes: 100 });
    expect(s.groups).toHaveLength(10);
    expect(s.omitted).toMatchObject({ groups: expect.any(Number), groupedHosts: 30 - s.groups.reduce((n, g) => n + g.count, 0) });
  });
});

describe("keyed arrays (get_disk_usage's filesystems, by mountPoint)", () => {
  const fs = (mountPoint: string, usedPercent: number) => ({
    mountPoint,
    device: `/dev/${mountPoint === "/" ? "vda1" : "vdb1"}`,
    fsType: "ext4",
    readOnly: false,
    totalBytes: 100_000,
    usedBytes: usedPercent * 1000,
    availableBytes: (100 - usedPercent) * 1000,
    usedPercent,
    inodesTotal: 1000,
    inodesUsed: 100,
    inodesFree: 900,
    inodesUsedPercent: 10,
    error: null,
  });
  const results: HostResult[] = Array.from({ length: 50 }, (_, k) => {
    const i = k + 1;
    const filesystems = [fs("/", 40 + (i % 7)), ...(i <= 45 ? [fs("/var", i === 13 ? 99 : 30 + (i % 5))] : [])];
    return { host: hostName(i, 2), ok: true, data: { filesystems, totalMounts: filesystems.length, truncated: false } };
  });
  const s = summariseFleet(fleetDefOf(getDiskUsage), results, { maxBytes: SUMMARY_MAX_BYTES, overheadBytes: 100 });

  it("names a field per mount point, and the host whose /var stands apart", () => {
    expect(s.outliers.apart).toEqual([
      { host: "host13", values: { "filesystems[/var].usedBytes": 99_000, "filesystems[/var].availableBytes": 1000, "filesystems[/var].usedPercent": 99 } },
      // The five hosts without /var: totalMounts 1 where 45 of 50 have 2 (MAD 0: the mean deviation decides).
      ...["host46", "host47", "host48", "host49", "host50"].map((host) => ({ host, values: { totalMounts: 1 } })),
    ]);
    const varUsed = s.numbers.find((n) => n.field === "filesystems[/var].usedPercent")!;
    expect(varUsed).toMatchObject({ n: 45, max: 99, maxHost: "host13" });
    expect(s.numbers.find((n) => n.field === "filesystems[/].usedPercent")).toMatchObject({ n: 50, min: 40, max: 46 });
  });

  it("groups by which mounts a host has", () => {
    expect(s.groups.map((g) => [g.count, g.hosts[0]])).toEqual([
      [45, "host01"],
      [5, "host46"],
    ]);
  });
});

describe("small and degenerate fleets", () => {
  it("names no outlier below five hosts", () => {
    const results = loadFleet(4).results.map((r, i) => (i === 0 ? { ...r, data: { ...(r.data as object), load1: 90 } } : r));
    const s = summariseFleet(fleetDefOf(getLoad), results, { maxBytes: SUMMARY_MAX_BYTES, overheadBytes: 100 });
    expect(s.outliers.apart).toEqual([]);
    expect(s.numbers[0]).toMatchObject({ field: "load1", n: 4, max: 90, maxHost: "host1" });
  });

  it("every host failed: errors only", () => {
    const results: HostResult[] = Array.from({ length: 30 }, (_, i) => ({ host: hostName(i, 2), ok: false, error: { code: "UNAVAILABLE", message: "refused" } }));
    const s: FleetSummary = summariseFleet(fleetDefOf(getLoad), results, { maxBytes: SUMMARY_MAX_BYTES, overheadBytes: 100 });
    expect(s).toEqual({ outliers: { errors: [{ code: "UNAVAILABLE", count: 30, hosts: results.map((r) => r.host), message: "refused" }], apart: [] }, groups: [], numbers: [] });
  });

  it("a field most hosts share (MAD 0) still names the few that differ, not a third of the fleet", () => {
    const base = { load1: 0.5, load5: 0.5, load15: 0.5, runnable: 1, tasks: 300, uptimeSeconds: 1000 };
    const few = Array.from({ length: 100 }, (_, i): HostResult => ({ host: hostName(i, 3), ok: true, data: { ...base, cpus: i < 3 ? 64 : 4 } }));
    expect(summariseFleet(fleetDefOf(getLoad), few, { maxBytes: SUMMARY_MAX_BYTES, overheadBytes: 100 }).outliers.apart.map((a) => a.host)).toEqual(["host000", "host001", "host002"]);
    const third = Array.from({ length: 100 }, (_, i): HostResult => ({ host: hostName(i, 3), ok: true, data: { ...base, cpus: i < 33 ? 16 : 4 } }));
    expect(summariseFleet(fleetDefOf(getLoad), third, { maxBytes: SUMMARY_MAX_BYTES, overheadBytes: 100 }).outliers.apart).toEqual([]);
  });
});

describe("the catalog's volatile hints", () => {
  /** Whether a pattern ("a.b", "list[].c") names a field of a JSON Schema. */
  function resolves(schema: unknown, pattern: string): boolean {
    let nodes: unknown[] = [schema];
    for (const part of pattern.split(".")) {
      const [name, ...arrays] = part.split("[]");
      const next = (n: unknown): unknown[] => {
        const o = n as { properties?: Record<string, unknown>; anyOf?: unknown[] };
        return [...(o.properties?.[name!] !== undefined ? [o.properties[name!]] : []), ...(o.anyOf ?? []).flatMap(next)];
      };
      nodes = nodes.flatMap(next);
      for (let i = 0; i < arrays.length; i++) nodes = nodes.flatMap((n) => [(n as { items?: unknown }).items, ...((n as { anyOf?: unknown[] }).anyOf ?? []).map((b) => (b as { items?: unknown }).items)]).filter((x) => x !== undefined);
    }
    return nodes.length > 0;
  }

  it.each(diagnostics.filter((d) => d.volatile !== undefined).map((d) => [d.name, d] as const))("%s: every volatile path names a field of its output", (_name, def) => {
    const schema = z.toJSONSchema(def.output, { io: "output" });
    for (const path of def.volatile!) expect(resolves(schema, path), path).toBe(true);
  });

  it("the resolver itself refuses a path that is not there", () => {
    expect(resolves(z.toJSONSchema(getAgentInfo.output, { io: "output" }), "pid")).toBe(true);
    expect(resolves(z.toJSONSchema(getAgentInfo.output, { io: "output" }), "pids")).toBe(false);
  });
});
