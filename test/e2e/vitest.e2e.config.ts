// `npm run test:e2e`: the end-to-end suite on a real systemd (systemd-nspawn containers, network
// namespaces, the .deb and .rpm). Not part of `npm test` (the root config excludes test/e2e/**).
// Needs root; see test/e2e/README.md. Results also go to test/.tmp/vitest-e2e.json for .ci/run.
import { join } from "node:path";
import { defineConfig } from "vitest/config";

const root = join(import.meta.dirname, "..", "..");

export default defineConfig({
  test: {
    root,
    include: ["test/e2e/**/*.test.ts"],
    globalSetup: ["test/e2e/global-setup.ts"],
    // One file at a time: containers share 2 cores with everything else, and timings stay stable.
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 300_000,
    reporters: ["default", "json"],
    outputFile: { json: "test/.tmp/vitest-e2e.json" },
  },
});
