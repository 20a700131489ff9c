// The host's per-line stamp (ActionEvent.at_unix_micros) is untrusted host output like everything
// else an agent sends: the broker keeps it only as a plausible non-negative integer.
import { describe, expect, it } from "vitest";
import { hostStamp } from "../../../broker/src/actions/executor";

describe("hostStamp", () => {
  it("keeps a positive safe integer (µs since the Unix epoch)", () => {
    expect(hostStamp(1_795_312_168_276_123)).toBe(1_795_312_168_276_123);
  });
  it.each([0, -5, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60, "1795312168276123", undefined, null])("%s → 0 (unknown)", (value) => {
    expect(hostStamp(value)).toBe(0);
  });
});
