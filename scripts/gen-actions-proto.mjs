#!/usr/bin/env node
// Writes the generated half of proto/hostward/v1/actions.proto (below its marker) from the action
// catalog (bundling scripts/actions-proto.ts on the fly with esbuild). --check: exit 1 when stale.
import { build } from "esbuild";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const result = await build({ entryPoints: [join(root, "scripts/actions-proto.ts")], bundle: true, platform: "node", format: "cjs", write: false, logLevel: "warning" });
const mod = { exports: {} };
new Function("module", "exports", "require", result.outputFiles[0].text)(mod, mod.exports, createRequire(import.meta.url));
const target = join(root, "proto/hostward/v1/actions.proto");
const current = readFileSync(target, "utf8");
const at = current.indexOf(mod.exports.MARKER);
if (at < 0) {
  console.error(`${target} has no marker line:\n${mod.exports.MARKER}`);
  process.exit(1);
}
const text = current.slice(0, at) + mod.exports.renderActionsProto();
if (process.argv.includes("--check")) {
  if (text !== current) {
    console.error("proto/hostward/v1/actions.proto is stale: run `npm run gen` and commit the result");
    process.exit(1);
  }
  console.error("proto/hostward/v1/actions.proto is current");
} else {
  writeFileSync(target, text);
  console.error(`wrote ${target}`);
}
