#!/usr/bin/env node
// `npm run bench`: checks what the benchmark needs, builds the product bundles, bundles the bench
// (TypeScript, test/bench/*.ts) with esbuild, and runs it. Run by hand, as root (sshd switches to
// a bench user), on Linux. Missing Debian packages are installed with apt-get when running as
// root — said on stderr — otherwise the bench stops and names them.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const say = (m) => process.stderr.write(`[bench] ${m}\n`);
const fail = (m) => {
  say(`cannot run: ${m}`);
  process.exit(1);
};

if (process.platform !== "linux") fail("the benchmark needs Linux (/proc, OpenSSH's sshd, grep)");
if (process.getuid() !== 0) fail("run it as root: sshd must switch to the bench user hwbench (created if missing)");

// Program → the Debian package that provides it.
const NEEDS = [
  ["/usr/sbin/sshd", "openssh-server"],
  ["/usr/bin/ssh", "openssh-client"],
  ["/usr/bin/ssh-keygen", "openssh-client"],
  ["/usr/bin/rg", "ripgrep"],
  ["/usr/bin/grep", "grep"],
];
const missing = [...new Set(NEEDS.filter(([file]) => !existsSync(file)).map(([, pkg]) => pkg))];
if (missing.length > 0) {
  if (!existsSync("/usr/bin/apt-get")) fail(`missing Debian package(s): ${missing.join(" ")} (no apt-get here: install them another way)`);
  say(`installing missing Debian package(s) with apt-get (running as root): ${missing.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const opts = { stdio: ["ignore", "inherit", "inherit"], env };
  if (spawnSync("apt-get", ["-o", "DPkg::Lock::Timeout=300", "update", "-qq"], opts).status !== 0) fail("apt-get update failed");
  const r = spawnSync("apt-get", ["-o", "DPkg::Lock::Timeout=300", "install", "-y", "-qq", "--no-install-recommends", ...missing], opts);
  if (r.status !== 0) fail(`apt-get install ${missing.join(" ")} failed: install them and run again`);
}
// ssh2's optional native crypto binding makes the kept-open baseline faster (fair to SSH).
if (!existsSync(join(root, "node_modules", "ssh2"))) fail("node_modules/ssh2 is missing: run npm ci");

say("building the bundles (scripts/build.mjs)");
if (spawnSync(process.execPath, [join(root, "scripts", "build.mjs")], { stdio: "inherit" }).status !== 0) fail("the build failed");

// The bench's own bundles go under node_modules/.cache so that their external packages resolve.
const out = join(root, "node_modules", ".cache", "hostward-bench");
mkdirSync(out, { recursive: true });
const { build } = await import("esbuild");
const common = { bundle: true, platform: "node", target: "node20", format: "cjs", logLevel: "warning", legalComments: "none" };
// Only the driver carries a source map: the launcher and the floor server are measured for memory.
await build({ ...common, entryPoints: [join(root, "test", "bench", "main.ts")], outfile: join(out, "main.cjs"), packages: "external", sourcemap: "inline" });
// The launcher is the agent's own server code: bundled like the agent (one file, everything in).
await build({
  ...common,
  entryPoints: [join(root, "test", "bench", "multi-agent.ts")],
  outfile: join(out, "multi-agent.cjs"),
  define: { HOSTWARD_VERSION: '"bench"' },
  external: ["pino-pretty"],
});

await build({ ...common, entryPoints: [join(root, "test", "bench", "floor-server.ts")], outfile: join(out, "floor-server.cjs") });
await build({ ...common, entryPoints: [join(root, "test", "bench", "channel-floor.ts")], outfile: join(out, "channel-floor.cjs") });

// test/bench/baseline.json: the results of the same bench on the product before the performance
// work (commit b78b821); results.md shows before → after from it. Pass --baseline FILE to compare
// with another run instead.
const passed = process.argv.slice(2);
const baseline = join(root, "test", "bench", "baseline.json");
const extra = !passed.includes("--baseline") && existsSync(baseline) ? ["--baseline", baseline] : [];
const args = ["--enable-source-maps", join(out, "main.cjs"), "--launcher", join(out, "multi-agent.cjs"), "--floor", join(out, "floor-server.cjs"), "--channel-floor", join(out, "channel-floor.cjs"), ...extra, ...passed];
const r = spawnSync(process.execPath, args, { stdio: "inherit" });
process.exit(r.status ?? 1);
