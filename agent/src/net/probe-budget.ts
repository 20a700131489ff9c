// A host is not a scanner: test_connectivity and check_http share a budget, over a sliding minute,
// of probes per target (TCP connects or HTTP requests to one address: a port scan) and of distinct
// targets (a sweep of the network). Host-wide, whoever calls: several clients scanning together are
// still one scan. A call that would pass either bound is refused whole, before anything is sent,
// with RESOURCE_EXHAUSTED naming the limit and when to retry. Settings: agent.yaml network.
import type { AgentConfig } from "../config";
import { DiagnosticError } from "../diagnostics/context";

const WINDOW_MS = 60_000;

export interface ProbeBudget {
  /** Records `probes` probes of `target` now, or throws RESOURCE_EXHAUSTED (recording nothing). */
  spend(target: string, probes: number): void;
}

export function createProbeBudget(limits: { perTarget: number; targets: number }, now: () => number = Date.now): ProbeBudget {
  /** target → timestamps of its probes in the window (one per probe). */
  const seen = new Map<string, number[]>();
  const prune = (t: number) => {
    for (const [target, stamps] of seen) {
      const kept = stamps.filter((s) => s > t - WINDOW_MS);
      if (kept.length === 0) seen.delete(target);
      else seen.set(target, kept);
    }
  };
  return {
    spend(target, probes) {
      const t = now();
      prune(t);
      const mine = seen.get(target) ?? [];
      const retryIn = (stamps: number[]) => Math.max(1, Math.ceil(((stamps[0] ?? t) + WINDOW_MS - t) / 1000));
      if (mine.length === 0 && seen.size >= limits.targets) {
        const oldest = [...seen.values()].map((s) => s[s.length - 1] ?? t).sort((a, b) => a - b);
        throw new DiagnosticError(
          "RESOURCE_EXHAUSTED",
          `budget: this host has probed ${seen.size} different targets in the last minute, its limit (network.probeTargetsPerMinute in agent.yaml) is ${limits.targets}; retry in ${retryIn(oldest)} s`,
        );
      }
      if (mine.length + probes > limits.perTarget) {
        throw new DiagnosticError(
          "RESOURCE_EXHAUSTED",
          `budget: ${mine.length} probes of ${target} in the last minute and ${probes} more asked for, over its limit (network.probesPerTargetPerMinute in agent.yaml) of ${limits.perTarget}; retry in ${retryIn(mine)} s`,
        );
      }
      seen.set(target, [...mine, ...Array.from({ length: probes }, () => t)]);
    },
  };
}

const budgets = new WeakMap<object, ProbeBudget>();

/** The agent's one budget (per configuration object, i.e. per agent process). */
export function probeBudget(config: AgentConfig): ProbeBudget {
  let b = budgets.get(config.network);
  if (!b) {
    b = createProbeBudget({ perTarget: config.network.probesPerTargetPerMinute, targets: config.network.probeTargetsPerMinute });
    budgets.set(config.network, b);
  }
  return b;
}
