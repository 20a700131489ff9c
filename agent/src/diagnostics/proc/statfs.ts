// statfs with a deadline. A hung network mount makes statfs(2) block forever inside a libuv
// thread-pool thread; we cannot cancel that thread, but we can (1) stop waiting for it and
// (2) never start a second statfs on the same mount while the first is still stuck, so hung
// mounts cannot eat the agent's whole thread pool (4 threads by default) one call at a time.
import type { StatsFs } from "node:fs";
import { statfs } from "node:fs/promises";

export type StatfsResult = { ok: true; stats: StatsFs } | { ok: false; error: string };

/** statfs calls that have not returned yet, by path: a hung mount stays here until it answers. */
const inFlight = new Map<string, Promise<StatsFs>>();

export async function statfsWithTimeout(path: string, timeoutMs: number): Promise<StatfsResult> {
  if (inFlight.has(path)) {
    return { ok: false, error: "statfs from an earlier call has not returned yet (hung mount?); not retried" };
  }
  const call = statfs(path);
  inFlight.set(path, call);
  // Leave the map only once the kernel answers, whenever that is.
  const settle = () => {
    if (inFlight.get(path) === call) inFlight.delete(path);
  };
  call.then(settle, settle);

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<StatfsResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, error: `statfs did not answer within ${timeoutMs} ms (hung mount?)` }), timeoutMs);
  });
  try {
    return await Promise.race([
      call.then(
        (stats): StatfsResult => ({ ok: true, stats }),
        (err: NodeJS.ErrnoException): StatfsResult => ({ ok: false, error: `statfs failed: ${err.code ?? err.message}` }),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
