// Tests that need root (CI runs as root and runs them all). Run as another user, each is skipped
// with its reason in its name, and the global setup (test/support/global-setup.ts) lists them all
// with why before the run starts, instead of letting them fail with EPERM/EACCES.
//
//   itAsRoot("reports a hung mount …", "mounts a tmpfs and a FUSE-less stall", async () => { … });
//   describeAsRoot("dns_lookup", "a DNS server on port 53", () => { … });
//
// The name and the reason must be string literals: the global setup reads them from the files.
import { describe, it } from "vitest";

const IS_ROOT = process.getuid?.() === 0;

const label = (name: string, reason: string) => (IS_ROOT ? name : `${name} [needs root: ${reason}]`);

export function itAsRoot(name: string, reason: string, fn: () => unknown, timeout?: number): void {
  it.skipIf(!IS_ROOT)(label(name, reason), fn, timeout);
}

export function describeAsRoot(name: string, reason: string, fn: () => void): void {
  describe.skipIf(!IS_ROOT)(label(name, reason), fn);
}

/** Every itAsRoot / describeAsRoot of the test files: {file, name, reason}. */
export function rootOnlyTests(files: ReadonlyArray<{ file: string; text: string }>): Array<{ file: string; name: string; reason: string }> {
  const out: Array<{ file: string; name: string; reason: string }> = [];
  const re = /\b(?:itAsRoot|describeAsRoot)\(\s*"((?:[^"\\]|\\.)*)",\s*"((?:[^"\\]|\\.)*)"/g;
  for (const { file, text } of files) for (const m of text.matchAll(re)) out.push({ file, name: m[1] as string, reason: m[2] as string });
  return out;
}
