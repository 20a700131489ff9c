// Builds the bundles once before any test: tests run what ships. Run as a user other than root,
// it first names every test that needs root and why (test/support/root.ts); those are skipped.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { rootOnlyTests } from "./root";

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return n === "e2e" || n === "bench" || n === ".tmp" ? [] : testFiles(p);
    return n.endsWith(".test.ts") ? [p] : [];
  });
}

export default function setup(): void {
  const root = join(import.meta.dirname, "..", "..");
  if (process.getuid?.() !== 0) {
    const tests = rootOnlyTests(testFiles(join(root, "test")).map((f) => ({ file: relative(root, f), text: readFileSync(f, "utf8") })));
    const lines = tests.map((t) => `  ${t.file}: ${t.name} — needs root: ${t.reason}`);
    process.stderr.write(`\nnpm test as uid ${process.getuid?.()}, not root: these ${tests.length} tests need root and are skipped (CI runs them as root):\n${lines.join("\n")}\n\n`);
  }
  execFileSync(process.execPath, [join(root, "scripts/build.mjs")], { cwd: root, stdio: "inherit" });
}
