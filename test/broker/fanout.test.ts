// Fan-out (broker/src/fanout.ts): concurrency cap, per-item deadline, failures isolated, order kept.
import { describe, expect, it } from "vitest";
import { HostCallError } from "../../broker/src/agents/errors";
import { fanout } from "../../broker/src/fanout";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("fanout", () => {
  it("returns outcomes in input order whatever the completion order", async () => {
    const out = await fanout([50, 10, 30, 0], async (ms) => (await sleep(ms), ms), { concurrency: 4, timeoutMs: 1000 });
    expect(out.map((o) => o.ok && o.value)).toEqual([50, 10, 30, 0]);
  });

  it("never runs more than `concurrency` at once", async () => {
    let running = 0;
    let peak = 0;
    const out = await fanout(
      Array.from({ length: 20 }, (_, i) => i),
      async (i) => {
        running++;
        peak = Math.max(peak, running);
        await sleep(5);
        running--;
        return i;
      },
      { concurrency: 3, timeoutMs: 1000 },
    );
    expect(peak).toBe(3);
    expect(out).toHaveLength(20);
  });

  it("a failing item does not fail the others", async () => {
    const out = await fanout(
      ["a", "b", "c"],
      async (x) => {
        if (x === "b") throw new HostCallError("UNAVAILABLE", "b is unreachable");
        return x;
      },
      { concurrency: 3, timeoutMs: 1000 },
    );
    expect(out[0]).toMatchObject({ ok: true, value: "a" });
    expect(out[1]).toMatchObject({ ok: false, error: { code: "UNAVAILABLE", message: "b is unreachable" } });
    expect(out[2]).toMatchObject({ ok: true, value: "c" });
  });

  it("a hung item is cut at its deadline and does not hold the others", async () => {
    const started = Date.now();
    const out = await fanout(["fast", "hang", "fast2"], (x) => (x === "hang" ? new Promise<string>(() => undefined) : Promise.resolve(x)), {
      concurrency: 1,
      timeoutMs: 100,
      graceMs: 0,
    });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(out[1]).toMatchObject({ ok: false, error: { code: "DEADLINE_EXCEEDED", message: "no answer within 100 ms" } });
    expect(out[2]).toMatchObject({ ok: true, value: "fast2" });
  });

  it("passes the deadline and an abort signal to the work", async () => {
    let signal: AbortSignal | undefined;
    await fanout(["x"], async (_x, ctx) => {
      signal = ctx.signal;
      expect(ctx.timeoutMs).toBe(50);
      await sleep(200);
    }, { concurrency: 1, timeoutMs: 50, graceMs: 0 });
    expect(signal?.aborted).toBe(true);
  });

  it("an unexpected exception becomes INTERNAL for that item", async () => {
    const out = await fanout([1], async () => {
      throw new TypeError("boom");
    }, { concurrency: 1, timeoutMs: 100 });
    expect(out[0]).toMatchObject({ ok: false, error: { code: "INTERNAL", message: "boom" } });
  });

  it("handles no items", async () => {
    expect(await fanout([], async () => 1, { concurrency: 4, timeoutMs: 10 })).toEqual([]);
  });
});
