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

const DEADLINE_SLACK_MS = 100;

export function callSignal(call: CancellableCall): CallSignal {
  const controller = new AbortController();
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  let timer: NodeJS.Timeout | undefined;
  const onCancelled = () => {
    // The client's deadline timer runs on the client's clock and fires a little before ours: a
    // cancellation arriving within DEADLINE_SLACK_MS of the deadline is the deadline passing.
    const passed = Number.isFinite(at) && at <= Date.now() + DEADLINE_SLACK_MS;
    controller.abort(passed ? new DeadlineExceeded("deadline exceeded") : new CallCancelled("cancelled by the caller"));
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
