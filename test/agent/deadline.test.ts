// How the agent tells a caller's deadline from a caller's cancel (agent/src/server/deadline.ts):
// both arrive as a cancellation, and the server's deadline is computed when the request arrives,
// so on a busy host it lies later than the caller's own by the request's delay.
import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { CallCancelled, DeadlineExceeded, callSignal, cancelledByDeadline } from "../../agent/src/server/deadline";

function fakeCall(deadline: number) {
  const e = new EventEmitter() as EventEmitter & { getDeadline(): number; cancelled?: boolean };
  e.getDeadline = () => deadline;
  return e;
}

describe("cancelledByDeadline", () => {
  const now = 1_000_000;
  it("a cancel long before the deadline is the caller's", () => expect(cancelledByDeadline(now + 5_000, now)).toBe(false));
  it("a cancel after the deadline is the deadline", () => expect(cancelledByDeadline(now - 1, now)).toBe(true));
  it("a cancel shortly before the server's deadline is the deadline (the request arrived late)", () =>
    expect(cancelledByDeadline(now + 300, now)).toBe(true));
  it("no deadline: always the caller's", () => expect(cancelledByDeadline(Infinity, now)).toBe(false));
});

describe("callSignal", () => {
  it("aborts with CallCancelled on an early cancel, DeadlineExceeded near the deadline", () => {
    const early = fakeCall(Date.now() + 60_000);
    const a = callSignal(early);
    early.emit("cancelled");
    expect(a.signal.reason).toBeInstanceOf(CallCancelled);
    a.dispose();

    const late = fakeCall(Date.now() + 300);
    const b = callSignal(late);
    late.emit("cancelled");
    expect(b.signal.reason).toBeInstanceOf(DeadlineExceeded);
    b.dispose();
  });
});
