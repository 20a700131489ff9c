// An AbortSignal that fires when the caller cancels or its deadline passes, so handlers (and the
// processes exec.ts starts for them) stop working for a caller who is gone.
import type * as grpc from "@grpc/grpc-js";

export interface CallSignal {
  signal: AbortSignal;
  /** Clears the deadline timer and the listener; call when the handler has finished. */
  dispose(): void;
}

export class DeadlineExceeded extends Error {
  override name = "DeadlineExceeded";
}
export class CallCancelled extends Error {
  override name = "CallCancelled";
}

interface CancellableCall {
  getDeadline(): grpc.Deadline;
  on(event: "cancelled", listener: () => void): unknown;
  removeListener(event: "cancelled", listener: () => void): unknown;
  cancelled?: boolean;
}

/**
 * A cancellation is the deadline passing when it arrives within this much of the deadline. The
 * caller's deadline timer runs on its own clock and the server computes its deadline from the
 * grpc-timeout header when the request arrives, so a request that took long to arrive (a busy
 * host) has a server deadline later than the caller's by that delay. The cost of a generous slack
 * is only that an explicit cancel in the last second is logged as DEADLINE_EXCEEDED.
 */
const DEADLINE_SLACK_MS = 1_000;

/** Whether a cancellation arriving now is the caller's deadline passing (see DEADLINE_SLACK_MS). */
export function cancelledByDeadline(deadline: grpc.Deadline, now = Date.now()): boolean {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) && at <= now + DEADLINE_SLACK_MS;
}

/** `maxMs`: the agent's own bound on the call (limits.maxCallSeconds), applied when it is sooner than the caller's deadline. */
export function callSignal(call: CancellableCall, maxMs = Infinity): CallSignal {
  const controller = new AbortController();
  const deadline = call.getDeadline();
  const callerAt = deadline instanceof Date ? deadline.getTime() : deadline;
  const at = Math.min(Number.isFinite(callerAt) ? callerAt : Infinity, Date.now() + maxMs);
  let timer: NodeJS.Timeout | undefined;
  const onCancelled = () => {
    controller.abort(cancelledByDeadline(deadline) ? new DeadlineExceeded("deadline exceeded") : new CallCancelled("cancelled by the caller"));
  };
  call.on("cancelled", onCancelled);
  if (call.cancelled) onCancelled();
  if (Number.isFinite(at) && !controller.signal.aborted) {
    // grpc-js also cancels at the deadline; our own timer makes the signal independent of that.
    timer = setTimeout(() => controller.abort(new DeadlineExceeded("deadline exceeded")), Math.max(0, at - Date.now()));
    timer.unref();
  }
  return {
    signal: controller.signal,
    dispose() {
      if (timer) clearTimeout(timer);
      call.removeListener("cancelled", onCancelled);
    },
  };
}
