// The store behind summary answers' `page` cursors (broker/src/mcp/answers.ts) and compare_hosts'
// judgement (broker/src/mcp/fleet-compare.ts), on generated fleets: paging shows every host exactly
// once, in order; bad, expired, foreign and mismatched cursors are refused with their code; the
// store keeps its count, byte and time bounds.
import { describe, expect, it } from "vitest";
import { getDiskUsage, getLoad, getSystemInfo } from "../../proto/catalog/diagnostics/system";
import { AnswerStore, callerKey, encodeCursor, pageOf } from "../../broker/src/mcp/answers";
import { compareHost } from "../../broker/src/mcp/fleet-compare";
import { fleetDefOf } from "../../broker/src/mcp/fleet-shape";
import { summarize, type HostResult, type HostResults } from "../../broker/src/mcp/host-results";
import { hostName, loadFleet } from "./helpers/fleet-gen";

const output = (results: HostResult[]): HostResults => ({ results, summary: summarize(results) });
const CALLER = callerKey({ transport: "stdio" });
const call = { tool: "get_load", args: '{"target":"*"}', caller: CALLER };

/** Follows the cursors from the first to the last page; returns the hosts seen and the page count. */
function pageThrough(store: AnswerStore, first: string, maxBytes: number): { hosts: string[]; pages: number } {
  const hosts: string[] = [];
  let cursor: string | undefined = first;
  let pages = 0;
  while (cursor !== undefined) {
    const found = store.resolve(cursor, call);
    if (!found.ok) throw new Error(found.problem.message);
    const page = pageOf(found.answer, found.offset, maxBytes);
    const json = Buffer.byteLength(JSON.stringify(page.results));
    if (page.results.length > 1) expect(json).toBeLessThanOrEqual(maxBytes + 2);
    hosts.push(...page.results.map((r) => r.host));
    cursor = page.next === undefined ? undefined : encodeCursor(found.answer.id, page.next);
    pages++;
  }
  return { hosts, pages };
}

describe("paging a stored answer", () => {
  it.each([1000, 10_000])("returns each of %i hosts exactly once, in inventory order", (n) => {
    const store = new AnswerStore();
    const fleet = loadFleet(n);
    const id = store.put({ callId: "c1", ...call, output: output(fleet.results) })!;
    const { hosts, pages } = pageThrough(store, encodeCursor(id, 0), 32 * 1024);
    expect(hosts).toEqual(fleet.results.map((r) => r.host));
    expect(new Set(hosts).size).toBe(n);
    expect(pages).toBeGreaterThan(n / 300);
  });

  it("a page holds at least one host, however small the page budget", () => {
    const store = new AnswerStore();
    const results = loadFleet(20).results;
    const id = store.put({ callId: "c1", ...call, output: output(results) })!;
    const { hosts, pages } = pageThrough(store, encodeCursor(id, 0), 10);
    expect(hosts).toEqual(results.map((r) => r.host));
    expect(pages).toBe(20);
  });
});

describe("cursor errors", () => {
  const store = new AnswerStore();
  const id = store.put({ callId: "c1", ...call, output: output(loadFleet(30).results) })!;

  it.each([
    ["garbage", "not a cursor!"],
    ["base64 of something else", Buffer.from('{"x":1}').toString("base64url")],
    ["a negative offset", encodeCursor(id, -1)],
    ["an offset past the last host", encodeCursor(id, 30)],
    ["too long", "A".repeat(300)],
  ])("%s: PAGE_INVALID", (_what, cursor) => {
    const r = store.resolve(cursor, call);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem.code).toBe("PAGE_INVALID");
  });

  it("an unknown answer, or another caller's: PAGE_EXPIRED, saying how long answers are kept", () => {
    for (const r of [store.resolve(encodeCursor("no-such-answer", 0), call), store.resolve(encodeCursor(id, 0), { ...call, caller: callerKey({ transport: "http", token: "other" }) })]) {
      expect(r).toMatchObject({ ok: false, problem: { code: "PAGE_EXPIRED" } });
      if (!r.ok) expect(r.problem.message).toContain("kept 10 minutes");
    }
  });

  it("another tool, or other arguments: PAGE_MISMATCH, naming the call's arguments", () => {
    expect(store.resolve(encodeCursor(id, 0), { ...call, tool: "get_memory_info" })).toMatchObject({ ok: false, problem: { code: "PAGE_MISMATCH" } });
    const r = store.resolve(encodeCursor(id, 0), { ...call, args: '{"target":"tag:web"}' });
    expect(r).toMatchObject({ ok: false, problem: { code: "PAGE_MISMATCH" } });
    if (!r.ok) expect(r.problem.message).toContain('{"target":"*"}');
  });
});

describe("the store's bounds", () => {
  it("expires answers after their time", () => {
    let now = 1_000_000;
    const store = new AnswerStore({ ttlMs: 60_000, maxAnswers: 8, maxBytes: 1 << 20 }, () => now);
    const id = store.put({ callId: "c1", ...call, output: output(loadFleet(5).results) })!;
    now += 59_999;
    expect(store.resolve(encodeCursor(id, 0), call).ok).toBe(true);
    now += 1;
    expect(store.resolve(encodeCursor(id, 0), call)).toMatchObject({ ok: false, problem: { code: "PAGE_EXPIRED" } });
    expect(store.size).toBe(0);
  });

  it("keeps at most maxAnswers, dropping the least recently used", () => {
    const store = new AnswerStore({ ttlMs: 60_000, maxAnswers: 3, maxBytes: 1 << 20 });
    const ids = [1, 2, 3].map((i) => store.put({ callId: `c${i}`, ...call, output: output(loadFleet(5, i).results) })!);
    expect(store.resolve(encodeCursor(ids[0]!, 0), call).ok).toBe(true); // c1 is now the most recent
    store.put({ callId: "c4", ...call, output: output(loadFleet(5).results) });
    expect(store.size).toBe(3);
    expect(store.resolve(encodeCursor(ids[0]!, 0), call).ok).toBe(true);
    expect(store.resolve(encodeCursor(ids[1]!, 0), call).ok).toBe(false);
    expect(store.resolve(encodeCursor(ids[2]!, 0), call).ok).toBe(true);
  });

  it("keeps at most maxBytes of results; an answer larger than that alone is not kept", () => {
    const one = output(loadFleet(100).results);
    const size = one.results.reduce((n, r) => n + Buffer.byteLength(JSON.stringify(r)), 0);
    const store = new AnswerStore({ ttlMs: 60_000, maxAnswers: 100, maxBytes: Math.floor(size * 2.5) });
    const ids = [1, 2, 3].map((i) => store.put({ callId: `c${i}`, ...call, output: one }));
    expect(store.size).toBe(2);
    expect(store.resolve(encodeCursor(ids[0]!, 0), call).ok).toBe(false);
    expect(new AnswerStore({ ttlMs: 60_000, maxAnswers: 100, maxBytes: size - 1 }).put({ callId: "c", ...call, output: one })).toBeUndefined();
  });
});

describe("compare_hosts' judgement", () => {
  it("names the numbers of a hot host with the fleet's median and the share within the usual band", () => {
    const fleet = loadFleet(300);
    const ok = fleet.results.filter((r) => r.ok);
    const hot = ok.find((r) => r.host === fleet.hot[0])!;
    const others = ok.filter((r) => r !== hot).map((r) => r.data);
    const c = compareHost(fleetDefOf(getLoad), hot.data, others);
    const fields = c.differences.map((d) => d.field);
    expect(fields).toEqual(expect.arrayContaining(["load1", "load5", "load15"]));
    const load1 = c.differences.find((d) => d.field === "load1")!;
    expect(load1.host).toBe((hot.data as { load1: number }).load1);
    expect(load1.usual).toBeGreaterThan(0.3);
    expect(load1.usual).toBeLessThan(0.7);
    // Every other hot host is outside the band too.
    expect(load1.share).toBeCloseTo((others.length - (fleet.hot.length - 1)) / others.length, 2);
    expect(c.same + c.differences.length).toBe(7);
  });

  it("a usual host differs in nothing", () => {
    const ok = loadFleet(300).results.filter((r) => r.ok);
    const c = compareHost(fleetDefOf(getLoad), ok[0]!.data, ok.slice(1).map((r) => r.data));
    expect(c.differences).toEqual([]);
    expect(c.same).toBe(7);
  });

  it("drift in values: the other OS and time zone, with the share of the fleet on the usual value; names vary", () => {
    const data = (i: number, over: Record<string, unknown> = {}) => ({
      hostname: hostName(i, 2),
      os: { prettyName: "Debian GNU/Linux 12 (bookworm)", id: "debian", idLike: [], versionId: "12", versionCodename: "bookworm" },
      kernel: { release: "6.1.0-18-amd64", version: "#1 SMP" },
      arch: "x86_64",
      hardware: { vendor: "QEMU", product: "Standard PC" },
      virtualization: { vm: "kvm", container: null },
      logicalCpus: 4,
      memoryTotalBytes: 8_000_000_000,
      bootTime: new Date(1e12 + i * 1e6).toISOString(),
      uptimeSeconds: 1e6,
      timezone: i % 10 === 0 ? "Europe/Berlin" : "UTC",
      utcOffset: "+00:00",
      ...over,
    });
    const fleet = Array.from({ length: 40 }, (_, i) => data(i + 1));
    const odd = data(99, { timezone: "Asia/Tokyo", kernel: { release: "6.12.0", version: "#1 SMP" } });
    const c = compareHost(fleetDefOf(getSystemInfo), odd, fleet);
    expect(c.differences).toEqual([
      { field: "kernel.release", host: "6.12.0", usual: "6.1.0-18-amd64", share: 1 },
      { field: "timezone", host: "Asia/Tokyo", usual: "UTC", share: 0.9 },
    ]);
    expect(c.varies).toEqual(["hostname"]);
  });

  it("a mount the fleet lacks is one difference, of the mount list", () => {
    const fsOf = (mountPoint: string, usedPercent: number) => ({
      mountPoint, device: "/dev/vda1", fsType: "ext4", readOnly: false, totalBytes: 100, usedBytes: usedPercent, availableBytes: 100 - usedPercent, usedPercent,
      inodesTotal: 10, inodesUsed: 1, inodesFree: 9, inodesUsedPercent: 10, error: null,
    });
    const fleet = Array.from({ length: 20 }, (_, i) => ({ filesystems: [fsOf("/", 40 + (i % 3))], totalMounts: 1, truncated: false }));
    const host = { filesystems: [fsOf("/", 41), fsOf("/data", 97)], totalMounts: 2, truncated: false };
    const c = compareHost(fleetDefOf(getDiskUsage), host, fleet);
    expect(c.differences).toEqual([
      { field: "filesystems", host: ["/", "/data"], usual: ["/"], share: 1 },
      { field: "totalMounts", host: 2, usual: 1, share: 1 },
    ]);
  });
});
