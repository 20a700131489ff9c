// A bound on concurrent calls: past it callers get RESOURCE_EXHAUSTED at once rather than queue
// (a queue would hold memory and a broker's deadline would expire in it anyway).
export interface ConcurrencyLimit {
  readonly max: number;
  readonly active: number;
  /** A release function, or null when the limit is reached. Release exactly once. */
  tryAcquire(): (() => void) | null;
}

export function createConcurrencyLimit(max: number): ConcurrencyLimit {
  let active = 0;
  return {
    max,
    get active() {
      return active;
    },
    tryAcquire() {
      if (active >= max) return null;
      active += 1;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        active -= 1;
      };
    },
  };
}
