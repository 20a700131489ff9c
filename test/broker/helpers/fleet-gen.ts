// Generated fleets for the summariser's tests: deterministic (seeded), shaped like the catalog's
// outputs, with known outliers, failures and denials.
import type { HostResult } from "../../../broker/src/mcp/host-results";

/** mulberry32: a small seeded PRNG, so a failing fleet can be regenerated. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function hostName(i: number, width = 5): string {
  return `host${String(i).padStart(width, "0")}`;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

export interface LoadFleet {
  results: HostResult[];
  /** Hosts given a load far above the rest. */
  hot: string[];
  failed: Map<string, string>;
  denied: string[];
}

/**
 * get_load on `n` hosts: loads 0.2–0.8, 4 or 8 CPUs (70/30), uptime ~29 days ± 1; every 125th
 * host is hot (load 25–40), every 67th fails (UNAVAILABLE, every third of them DEADLINE_EXCEEDED),
 * every 199th is denied by policy.
 */
export function loadFleet(n: number, seed = 1): LoadFleet {
  const rnd = prng(seed);
  const fleet: LoadFleet = { results: [], hot: [], failed: new Map(), denied: [] };
  for (let i = 1; i <= n; i++) {
    const host = hostName(i, String(n).length);
    if (i % 199 === 0) {
      fleet.denied.push(host);
      fleet.results.push({ host, ok: false, error: { code: "POLICY_DENIED", message: `get_load is not allowed on ${host} (no rule allows it)` } });
      continue;
    }
    if (i % 67 === 0) {
      const code = (i / 67) % 3 === 0 ? "DEADLINE_EXCEEDED" : "UNAVAILABLE";
      fleet.failed.set(host, code);
      fleet.results.push({ host, ok: false, error: { code, message: `${host}: ${code === "UNAVAILABLE" ? "connection refused" : "no answer within 10000 ms"}` }, durationMs: 3 });
      continue;
    }
    const hot = i % 125 === 0;
    if (hot) fleet.hot.push(host);
    const base = hot ? 25 + rnd() * 15 : 0.2 + rnd() * 0.6;
    const data = {
      load1: round2(base),
      load5: round2(base * (hot ? 0.8 : 0.9 + rnd() * 0.2)),
      load15: round2(base * (hot ? 0.6 : 0.9 + rnd() * 0.2)),
      cpus: rnd() < 0.7 ? 4 : 8,
      runnable: Math.floor(rnd() * 3),
      tasks: 300 + Math.floor(rnd() * 100),
      uptimeSeconds: round2(2_500_000 + (rnd() - 0.5) * 172_800),
    };
    fleet.results.push({ host, ok: true, data, durationMs: 2 + Math.floor(rnd() * 5) });
  }
  return fleet;
}
