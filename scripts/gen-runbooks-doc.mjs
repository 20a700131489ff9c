#!/usr/bin/env node
// Writes docs/runbooks.md from the runbook definitions (bundling scripts/runbooks-doc.ts on the fly with esbuild).
// --check: exit 1 when docs/runbooks.md differs from what the runbooks generate.
import { build } from "esbuild";
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const result = await build({
  entryPoints: [join(root, "scripts/runbooks-doc.ts")],
  bundle: true,
  platform: "node",
  format: "cjs",
  write: false,
  logLevel: "warning",
});
const mod = { exports: {} };
new Function("module", "exports", "require", result.outputFiles[0].text)(mod, mod.exports, createRequire(import.meta.url));
const text = `${mod.exports.renderRunbooksDoc()}\n`;
const target = join(root, "docs/runbooks.md");
if (process.argv.includes("--check")) {
  const current = existsSync(target) ? readFileSync(target, "utf8") : "";
  if (current !== text) {
    console.error("docs/runbooks.md is stale: run `npm run gen` and commit the result");
    process.exit(1);
  }
  console.error("docs/runbooks.md is current");
} else {
  writeFileSync(target, text);
  console.error(`wrote ${target}`);
}
