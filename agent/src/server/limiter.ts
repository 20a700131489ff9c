// Bounds on concurrent calls: past them callers get RESOURCE_EXHAUSTED at once rather than queue
// (a queue would hold memory and a broker's deadline would expire in it anyway). Two bounds: the
// agent's total, and each client certificate's share of it (limits.maxConcurrentCallsPerClient),
// so one authenticated client cannot take every slot and starve the broker's own calls.
export interface ConcurrencyLimit {
  readonly max: number;
  readonly perClient: number;
  readonly active: number;
  /**
   * A release function, or why not: "total" (the agent's limit is reached) or "client" (this
   * client's is). `client`: the caller's certificate fingerprint (null: counted under one key).
   * Release exactly once.
   */
  tryAcquire(client?: string | null): (() => void) | "total" | "client";
}

export function createConcurrencyLimit(max: number, perClient = max): ConcurrencyLimit {
  let active = 0;
  const byClient = new Map<string, number>();
  return {
    max,
    perClient,
    get active() {
      return active;
    },
    tryAcquire(client = null) {
      const key = client ?? "";
      const mine = byClient.get(key) ?? 0;
      if (active >= max) return "total";
      if (mine >= perClient) return "client";
      active += 1;
      byClient.set(key, mine + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        active -= 1;
        const left = (byClient.get(key) ?? 1) - 1;
        if (left <= 0) byClient.delete(key);
        else byClient.set(key, left);
      };
    },
  };
}

/** The RESOURCE_EXHAUSTED message for a refused acquire, naming the limit. */
export function limitMessage(limit: ConcurrencyLimit, why: "total" | "client"): string {
  return why === "client"
    ? `this client certificate already has ${limit.perClient} calls in progress on this agent, its limit (limits.maxConcurrentCallsPerClient); retry shortly`
    : `the agent is already serving its limit of ${limit.max} concurrent calls (limits.maxConcurrentCalls); retry shortly`;
}
