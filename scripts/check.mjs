#!/usr/bin/env node
// npm run check: generated code is fresh, docs/catalog.md, docs/runbooks.md and the tool schemas are fresh, the
// README's runnable blocks are runnable, proto lint, lint (ESLint's invariants, knip's dead code),
// typecheck, tests.
// Stops at the first failing step and says which.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules/.bin", name);
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: "inherit" });

function files(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

function step(name, fn) {
  process.stderr.write(`\n== ${name}\n`);
  try {
    fn();
  } catch (err) {
    process.stderr.write(`\ncheck failed at: ${name}${err?.message ? `\n${err.message}` : ""}\n`);
    process.exit(1);
  }
}

step("actions.proto is fresh (scripts/gen-actions-proto.mjs from the action catalog)", () => run(process.execPath, [join(root, "scripts/gen-actions-proto.mjs"), "--check"]));
step("generated code is fresh (buf generate → proto/gen)", () => {
  const tmp = mkdtempSync(join(tmpdir(), "hostward-gen-"));
  try {
    run(bin("buf"), ["generate", "--output", tmp]);
    const fresh = files(join(tmp, "proto/gen")).map((f) => relative(tmp, f)).sort();
    const committed = files(join(root, "proto/gen")).map((f) => relative(root, f)).sort();
    if (JSON.stringify(fresh) !== JSON.stringify(committed)) throw new Error(`file lists differ:\n${fresh}\n${committed}`);
    for (const f of fresh) {
      if (readFileSync(join(tmp, f), "utf8") !== readFileSync(join(root, f), "utf8")) {
        throw new Error(`${f} is stale: run "npm run gen" and commit the result`);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
step("docs/catalog.md is fresh", () => run(process.execPath, [join(root, "scripts/gen-catalog-doc.mjs"), "--check"]));
step("docs/runbooks.md is fresh", () => run(process.execPath, [join(root, "scripts/gen-runbooks-doc.mjs"), "--check"]));
step("tools/list's JSON Schemas are fresh (broker/src/mcp/tool-schemas.gen.ts)", () => run(process.execPath, [join(root, "scripts/gen-tool-schemas.mjs"), "--check"]));
step("README's runnable blocks run as written (scripts/readme-blocks.mjs; test/e2e/readme.test.ts runs them)", () => run(process.execPath, [join(root, "scripts/readme-blocks.mjs")]));
step("proto lint (buf lint)", () => run(bin("buf"), ["lint"]));
step("lint (eslint, knip)", () => {
  run(bin("eslint"), ["."]);
  run(bin("knip"), []);
});
step("typecheck (tsc; the approval view with the DOM's types: broker/app)", () => {
  run(bin("tsc"), ["-p", "."]);
  run(bin("tsc"), ["-p", "broker/app"]);
});
if (!process.argv.includes("--no-test")) step("tests (vitest)", () => run(bin("vitest"), ["run"]));
process.stderr.write("\ncheck passed\n");
