// Invariant: under agent/ only three modules start processes, each with a fixed program table,
// argv rules, a fixed environment and a deadline: agent/src/exec.ts (diagnostics),
// agent/src/actions/run-helper.ts (the operator agent starts the root helper, nothing else) and
// agent/src/helper/spawn.ts (the root helper's programs, on a pty); in the broker only
// broker/src/local/launcher.ts (the local development fleet). The list is
// scripts/spawning-modules.json, which eslint.config.mjs's no-restricted-imports reads too: this
// grep proves the list is exact (no module missing from it, none on it that does not spawn).
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import spawning from "../../scripts/spawning-modules.json";

const ROOT = join(import.meta.dirname, "..", "..");
const SOURCE = /\.(?:[cm]?[jt]s|tsx)$/;
// import … from "child_process", import("node:child_process"), require('child_process'), export … from
const CHILD_PROCESS = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["'](?:(?:node:)?child_process|node-pty)["']/;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : sources(path);
    return SOURCE.test(entry.name) ? [path] : [];
  });
}

describe("process spawning in the agent", () => {
  it("node:child_process and node-pty are imported by the agent modules of scripts/spawning-modules.json and by nothing else under agent/", () => {
    const importers = sources(join(ROOT, "agent"))
      .filter((file) => CHILD_PROCESS.test(readFileSync(file, "utf8")))
      .map((file) => relative(ROOT, file))
      .sort();
    expect(importers).toEqual(spawning.modules.filter((m) => m.startsWith("agent/")).sort());
  });

  it("in the broker only the broker modules of scripts/spawning-modules.json (the local development fleet) start processes", () => {
    const importers = sources(join(ROOT, "broker"))
      .filter((file) => CHILD_PROCESS.test(readFileSync(file, "utf8")))
      .map((file) => relative(ROOT, file));
    expect(importers).toEqual(spawning.modules.filter((m) => m.startsWith("broker/")));
  });

  it("scripts/spawning-modules.json, the list ESLint enforces, names only agent and broker modules", () => {
    for (const m of spawning.modules) expect(m).toMatch(/^(?:agent|broker)\/src\/[a-z0-9/-]+\.ts$/);
  });

  it("the pattern catches every import form (so the check above cannot pass vacuously)", () => {
    for (const line of [
      'import { spawn } from "node:child_process";',
      "import * as cp from 'child_process';",
      'const cp = require("child_process");',
      'const cp = await import("node:child_process");',
      'export { spawn } from "child_process";',
      'import * as pty from "node-pty";',
      'const pty = require("node-pty") as typeof NodePty;',
    ]) {
      expect(CHILD_PROCESS.test(line), line).toBe(true);
    }
    expect(CHILD_PROCESS.test('const note = "child_process is banned";')).toBe(false);
  });
});
