#!/usr/bin/env node
// Writes broker/src/mcp/tool-schemas.gen.ts, the JSON Schemas tools/list advertises, from the tools'
// zod schemas (bundling scripts/tool-schemas.ts on the fly with esbuild), so the broker answers its
// first tools/list without converting anything.
// --check: exit 1 when the committed file differs from what the schemas generate.
import { build } from "esbuild";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const result = await build({
  entryPoints: [join(root, "scripts/tool-schemas.ts")],
  bundle: true,
  platform: "node",
  format: "cjs",
  write: false,
  logLevel: "warning",
  // Packages load from node_modules: only the project's own TypeScript needs bundling.
  packages: "external",
  // As scripts/build.mjs bundles the broker.
  define: { HOSTWARD_VERSION: '"gen"' },
});
const mod = { exports: {} };
new Function("module", "exports", "require", "__filename", "__dirname", result.outputFiles[0].text)(mod, mod.exports, createRequire(import.meta.url), join(root, "scripts/tool-schemas.cjs"), join(root, "scripts"));
const text = mod.exports.renderToolSchemas();
const target = join(root, "broker/src/mcp/tool-schemas.gen.ts");
if (process.argv.includes("--check")) {
  const current = existsSync(target) ? readFileSync(target, "utf8") : "";
  if (current !== text) {
    console.error("broker/src/mcp/tool-schemas.gen.ts is stale: run `npm run gen` and commit the result");
    process.exit(1);
  }
  console.error("broker/src/mcp/tool-schemas.gen.ts is current");
} else {
  writeFileSync(target, text);
  console.error(`wrote ${target}`);
}
// The action tools' start-up timer is unref'd; nothing else keeps the process.
