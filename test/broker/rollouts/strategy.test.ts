// A roll-out's strategy (broker/src/rollouts/strategy.ts): batches as Ansible's `serial` makes
// them (canaries first), the error budget as `max_fail_percentage`, and gates typed against the
// catalog's own output schemas before anything runs.
import { describe, expect, it } from "vitest";
import { checkGates, conditionText, failureBudget, holds, planBatches, rolloutStrategy } from "../../../broker/src/rollouts/strategy";

const hosts = (n: number) => Array.from({ length: n }, (_, i) => `web${i + 1}`);

describe("batches", () => {
  it("one canary, then batches of a count or a percentage of all hosts (rounded up), in the order given", () => {
    expect(planBatches(hosts(7), { canaries: 1, batchSize: 3 })).toEqual([["web1"], ["web2", "web3", "web4"], ["web5", "web6", "web7"]]);
    expect(planBatches(hosts(10), { canaries: 2, batchSize: "25%" })).toEqual([["web1", "web2"], ["web3", "web4", "web5"], ["web6", "web7", "web8"], ["web9", "web10"]]);
    expect(planBatches(hosts(3), { canaries: 0, batchSize: "100%" })).toEqual([hosts(3)]);
    expect(planBatches(hosts(2), { canaries: 5, batchSize: 1 })).toEqual([hosts(2)]);
    expect(planBatches(hosts(4), { canaries: 0, batchSize: 0 })).toEqual([["web1"], ["web2"], ["web3"], ["web4"]]);
    const big = planBatches(hosts(1000), { canaries: 1, batchSize: 50 });
    expect(big.length).toBe(1 + 20);
    expect(big.flat()).toEqual(hosts(1000));
  });

  it("the error budget: a count, or a percentage of the plan rounded down; defaults stop at the first failure", () => {
    expect(failureBudget({ maxFailures: 2 }, 10)).toBe(2);
    expect(failureBudget({ maxFailures: "10%" }, 5)).toBe(0);
    expect(failureBudget({ maxFailures: "10%" }, 25)).toBe(2);
    const defaults = rolloutStrategy.parse({});
    expect(defaults).toMatchObject({ canaries: 1, batchSize: 1, maxFailures: 0, pauseSeconds: 0, gates: [] });
  });

  it("refuses a malformed strategy naming the field", () => {
    const r = rolloutStrategy.safeParse({ batchSize: "150%", canaries: -1, extra: true });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join(".") || i.message);
    expect(paths).toEqual(expect.arrayContaining(["batchSize", "canaries"]));
    expect(r.error!.issues.some((i) => i.code === "unrecognized_keys")).toBe(true);
  });
});

describe("gates, typed by the catalog", () => {
  it("accepts conditions on real output fields with fitting types", () => {
    expect(
      checkGates([
        { diagnostic: "check_http", input: { url: "http://127.0.0.1/" }, when: [{ field: "status", op: "==", value: 200 }, { field: "timings.totalMs", op: "<=", value: 2000 }] },
        { diagnostic: "get_load", input: {}, when: [{ field: "load1", op: "<", value: 8 }] },
      ]),
    ).toEqual([]);
  });

  it("names each problem: an unknown diagnostic, a bad input, a missing field, a type mismatch, an order on a string, null on a field that never is", () => {
    const problems = checkGates([
      { diagnostic: "check_htp", input: {}, when: [{ field: "status", op: "==", value: 200 }] },
      { diagnostic: "check_http", input: {}, when: [{ field: "stauts", op: "==", value: 200 }] },
      { diagnostic: "check_http", input: { url: "http://127.0.0.1/" }, when: [{ field: "status", op: "==", value: "200" }, { field: "method", op: ">", value: "GET" }, { field: "timings.totalMs", op: "==", value: null }, { field: "timings", op: "==", value: 1 }] },
    ]);
    expect(problems).toEqual([
      'gates[0].diagnostic: "check_htp" is not a diagnostic of the catalog',
      expect.stringMatching(/^gates\[1\]\.input: not a valid input of check_http: url: /),
      expect.stringMatching(/^gates\[1\]\.when\[0\]\.field: stauts is not a field \(fields there: url, method, address, status/),
      "gates[2].when[0].value: status of check_http is a number, not a string",
      "gates[2].when[1].op: > compares numbers; method is a string (use == or !=)",
      "gates[2].when[2].value: timings.totalMs of check_http is never null",
      expect.stringMatching(/^gates\[2\]\.when\[3\]\.field: timings is not a number, string or boolean/),
    ]);
  });

  it("a condition holds or not on one output, and says what it saw", () => {
    const out = { status: 503, timings: { totalMs: 12.5 } };
    expect(holds({ field: "status", op: "==", value: 200 }, out)).toEqual({ ok: false, seen: 503 });
    expect(holds({ field: "timings.totalMs", op: "<=", value: 2000 }, out)).toEqual({ ok: true, seen: 12.5 });
    expect(holds({ field: "status", op: "<", value: 500 }, { status: null })).toEqual({ ok: false, seen: null });
    expect(holds({ field: "status", op: "==", value: null }, { status: null })).toEqual({ ok: true, seen: null });
    expect(holds({ field: "missing.deep", op: "!=", value: 1 }, out)).toEqual({ ok: true, seen: null });
    expect(conditionText({ field: "status", op: "==", value: 200 })).toBe("status == 200");
  });
});
