#!/usr/bin/env node
// The `hostward` command: runs the bundled CLI built by `npm run build` (npm ci builds it).
"use strict";
const { existsSync } = require("node:fs");
const { join } = require("node:path");
const bundle = join(__dirname, "..", "dist", "hostward.cjs");
if (!existsSync(bundle)) {
  process.stderr.write(`hostward: ${bundle} is missing; run "npm run build" in ${join(__dirname, "..")}\n`);
  process.exit(1);
}
require(bundle);
