// Output capping (broker/src/mcp/output-cap.ts): under maxOutputBytes, marked truncated, journal
// cursors kept for paging, schema-breaking cuts replaced by OUTPUT_TOO_LARGE.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { summarize, type HostResult, type HostResults } from "../../broker/src/mcp/host-results";
import { capOutput } from "../../broker/src/mcp/output-cap";

const entry = (i: number) => ({ cursor: `s=abc;i=${i}`, message: `line ${i} ${"x".repeat(80)}` });
const journal = z.object({ entries: z.array(z.object({ cursor: z.string(), message: z.string() })), nextCursor: z.string().optional() });

function output(hosts: Array<{ host: string; data?: unknown }>): HostResults {
  const results = hosts.map((h): HostResult => (h.data === undefined ? { host: h.host, ok: false, error: { code: "UNAVAILABLE", message: "down" } } : { host: h.host, ok: true, data: h.data }));
  return { results, summary: summarize(results) };
}

const size = (v: unknown) => Buffer.byteLength(JSON.stringify(v));

describe("capOutput", () => {
  it("leaves a small output untouched (same object, no truncated flag)", () => {
    const o = output([{ host: "a", data: { entries: [entry(1)] } }]);
    expect(capOutput(o, 10_000, () => true)).toBe(o);
  });

  it("cuts the largest array from the end, marks truncation and keeps the paging cursor", () => {
    const o = output([{ host: "a", data: { entries: Array.from({ length: 500 }, (_, i) => entry(i)) } }]);
    const capped = capOutput(o, 8192, (d) => journal.safeParse(d).success);
    expect(size(capped)).toBeLessThanOrEqual(8192);
    expect(capped.truncated).toBe(true);
    const r = capped.results[0]!;
    expect(r.truncated).toBe(true);
    const kept = (r.data as { entries: Array<{ cursor: string }> }).entries;
    expect(kept.length).toBeGreaterThan(10);
    expect(kept[0]!.cursor).toBe("s=abc;i=0");
    expect(r.nextCursor).toBe(kept[kept.length - 1]!.cursor);
    // The input object was not modified.
    expect((o.results[0]!.data as { entries: unknown[] }).entries).toHaveLength(500);
  });

  it("journal pages: the data's own nextCursor and truncated flag follow the cut", () => {
    const entries = Array.from({ length: 300 }, (_, i) => entry(i));
    const o = output([{ host: "a", data: { entries, nextCursor: "s=abc;i=299", scanned: 300, truncated: false } }]);
    const capped = capOutput(o, 8192, () => true);
    const data = capped.results[0]!.data as { entries: Array<{ cursor: string }>; nextCursor: string; truncated: boolean };
    const last = data.entries[data.entries.length - 1]!.cursor;
    expect(data.nextCursor).toBe(last);
    expect(capped.results[0]!.nextCursor).toBe(last);
    expect(data.truncated).toBe(true);
  });

  it("read_log_file tail mode keeps the newest lines", () => {
    const lines = Array.from({ length: 1000 }, (_, i) => `line ${i} ${"z".repeat(40)}`);
    const size = lines.reduce((n, l) => n + l.length + 1, 0);
    const o = output([{ host: "a", data: { mode: "tail", startOffset: 0, nextOffset: size, lines, truncated: false } }]);
    const capped = capOutput(o, 8192, () => true);
    const data = capped.results[0]!.data as { lines: string[]; startOffset: number; nextOffset: number; truncated: boolean };
    expect(data.lines[data.lines.length - 1]).toBe(lines[999]);
    expect(data.nextOffset).toBe(size);
    expect(data.startOffset).toBe(size - data.lines.reduce((n, l) => n + l.length + 1, 0));
    expect(data.truncated).toBe(true);
  });

  it("read_log_file range mode moves nextOffset back to just after the last line kept", () => {
    const lines = Array.from({ length: 1000 }, (_, i) => `line ${i} ${"z".repeat(40)}`);
    const o = output([{ host: "a", data: { mode: "range", startOffset: 5000, nextOffset: 999_999, lines, truncated: false } }]);
    const capped = capOutput(o, 8192, () => true);
    const data = capped.results[0]!.data as { lines: string[]; startOffset: number; nextOffset: number };
    expect(data.lines[0]).toBe(lines[0]);
    expect(data.nextOffset).toBe(5000 + data.lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0));
  });

  it("trims each host's data, keeping failures and the summary intact", () => {
    const big = { entries: Array.from({ length: 200 }, (_, i) => entry(i)) };
    const o = output([{ host: "a", data: big }, { host: "b" }, { host: "c", data: big }]);
    const capped = capOutput(o, 12_000, () => true);
    expect(size(capped)).toBeLessThanOrEqual(12_000);
    expect(capped.results.map((r) => r.host)).toEqual(["a", "b", "c"]);
    expect(capped.results[1]).toEqual({ host: "b", ok: false, error: { code: "UNAVAILABLE", message: "down" } });
    expect(capped.summary).toEqual({ hosts: 3, ok: 2, failed: 1, denied: 0 });
  });

  it("cuts a long string when there is no array", () => {
    const o = output([{ host: "a", data: { content: "y".repeat(50_000), path: "/var/log/syslog" } }]);
    const capped = capOutput(o, 5000, () => true);
    expect(size(capped)).toBeLessThanOrEqual(5000);
    const data = capped.results[0]!.data as { content: string; path: string };
    expect(data.path).toBe("/var/log/syslog");
    expect(data.content.endsWith("…[truncated]")).toBe(true);
  });

  it("replaces data that no longer satisfies its schema with OUTPUT_TOO_LARGE", () => {
    const atLeast2000 = z.object({ items: z.array(z.number()).min(2000) });
    const o = output([{ host: "a", data: { items: Array.from({ length: 5000 }, (_, i) => i) } }]);
    const capped = capOutput(o, 4096, (d) => atLeast2000.safeParse(d).success);
    expect(capped.results[0]).toMatchObject({ host: "a", ok: false, truncated: true, error: { code: "OUTPUT_TOO_LARGE" } });
    expect(capped.results[0]!.data).toBeUndefined();
    expect(capped.summary).toEqual({ hosts: 1, ok: 0, failed: 1, denied: 0 });
  });

  it("drops whole data when many hosts cannot fit even trimmed", () => {
    const fields = Object.fromEntries(Array.from({ length: 12 }, (_, k) => [`field${k}`, "v".repeat(40)]));
    const hosts = Array.from({ length: 60 }, (_, i) => ({ host: `h${i}`, data: { ...fields, name: `h${i}` } }));
    const capped = capOutput(output(hosts), 16_384, () => true);
    expect(size(capped)).toBeLessThanOrEqual(16_384);
    expect(capped.results).toHaveLength(60);
    expect(capped.results.some((r) => r.error?.code === "OUTPUT_TOO_LARGE")).toBe(true);
    expect(capped.results.some((r) => r.ok)).toBe(true);
  });

  it("a thousand hosts over the cap: every host keeps trimmed, valid data; the input is untouched", () => {
    const hosts = Array.from({ length: 1000 }, (_, i) => ({ host: `h${i}`, data: { entries: Array.from({ length: 20 }, (_, k) => entry(k)) } }));
    const o = output(hosts);
    const capped = capOutput(o, 262_144, (d) => journal.safeParse(d).success);
    expect(size(capped)).toBeLessThanOrEqual(262_144);
    expect(capped.truncated).toBe(true);
    expect(capped.summary).toEqual({ hosts: 1000, ok: 1000, failed: 0, denied: 0 });
    for (const r of capped.results) {
      expect(journal.safeParse(r.data).success).toBe(true);
      if (r.truncated !== true) expect((r.data as { entries: unknown[] }).entries).toHaveLength(20);
    }
    expect(capped.results.filter((r) => r.truncated).length).toBeGreaterThan(900);
    expect(o.results.every((r) => (r.data as { entries: unknown[] }).entries.length === 20)).toBe(true);
  });
});
