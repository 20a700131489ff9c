// The agent's own counters, kept in memory for the life of the process and answered by the
// get_agent_metrics diagnostic (no listening port of its own, no file): calls by method and
// outcome, refusals by the interceptor (authorisation, revocation), processes spawned for calls.
// Written by the one interceptor (interceptor.ts) when a call ends, so the call asking for them is
// not counted yet.

/** Methods are the services' own (bounded); the cap only guards against a surprise. */
const MAX_KEYS = 512;

interface CallCount {
  method: string;
  outcome: string;
  count: number;
}

class AgentCounters {
  readonly startedAt = Date.now();
  #calls = new Map<string, CallCount>();
  refusals = 0;
  spawns = 0;

  /** One finished call (its gRPC status name), whether the interceptor refused it, the processes it started. */
  record(method: string, outcome: string, refused: boolean, spawns: number): void {
    const key = `${method}\u0000${outcome}`;
    let entry = this.#calls.get(key);
    if (!entry) {
      if (this.#calls.size >= MAX_KEYS) return;
      entry = { method, outcome, count: 0 };
      this.#calls.set(key, entry);
    }
    entry.count += 1;
    if (refused) this.refusals += 1;
    this.spawns += spawns;
  }

  /** Sorted by method, then outcome. */
  calls(): CallCount[] {
    return [...this.#calls.values()].map((c) => ({ ...c })).sort((a, b) => a.method.localeCompare(b.method) || a.outcome.localeCompare(b.outcome));
  }
}

/** One per agent process. */
export const agentCounters = new AgentCounters();
