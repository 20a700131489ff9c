// Runs one piece of work per host, at most `concurrency` at a time, each bounded by its own
// deadline. A host that fails or hangs produces an error outcome for itself only: it never blocks
// the others or fails the whole call. Outcomes come back in the order of the input (inventory order).
import { HostCallError, toHostError, type HostError } from "./agents/errors";

export interface FanoutOptions {
  concurrency: number;
  /** Per-item deadline; the work gets it to pass on (gRPC deadline) and is also raced against it. */
  timeoutMs: number;
  /** Slack after the deadline before the broker gives up on work that ignores it. */
  graceMs?: number;
}

export type FanoutOutcome<T> = { ok: true; value: T; durationMs: number } | { ok: false; error: HostError; durationMs: number };

export interface WorkContext {
  timeoutMs: number;
  signal: AbortSignal;
}

export async function fanout<I, T>(
  items: readonly I[],
  work: (item: I, ctx: WorkContext) => Promise<T>,
  options: FanoutOptions,
): Promise<FanoutOutcome<T>[]> {
  const outcomes = new Array<FanoutOutcome<T>>(items.length);
  const grace = options.graceMs ?? 250;
  let next = 0;

  const runOne = async (index: number): Promise<void> => {
    const item = items[index] as I;
    const controller = new AbortController();
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new HostCallError("DEADLINE_EXCEEDED", `no answer within ${options.timeoutMs} ms`));
      }, options.timeoutMs + grace);
    });
    try {
      const value = await Promise.race([work(item, { timeoutMs: options.timeoutMs, signal: controller.signal }), expired]);
      outcomes[index] = { ok: true, value, durationMs: Math.round(performance.now() - started) };
    } catch (err) {
      outcomes[index] = { ok: false, error: toHostError(err), durationMs: Math.round(performance.now() - started) };
    } finally {
      clearTimeout(timer);
    }
  };

  const runner = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      await runOne(index);
    }
  };
  const workers = Math.max(1, Math.min(options.concurrency, items.length));
  await Promise.all(Array.from({ length: workers }, runner));
  return outcomes;
}
