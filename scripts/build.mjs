#!/usr/bin/env node
// Bundles every entry point into one CommonJS file with esbuild and writes each metafile beside
// it (dist/meta/), which test/agent/bundle-guard.test.ts reads to prove what a bundle contains.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync, readFileSync, renameSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { approvalViewHtml } from "./build-views.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

/** The broker needs Node 20+ (package.json "engines"); the agents run on the distributions' own
 *  nodejs, 18 or newer (Debian 12, Ubuntu 24.04, RHEL 9's module streams): their bundles are built
 *  for node18, and test/agent/node18.test.ts runs them on a Node 18 binary. */
export const BROKER_TARGET = "node20";
export const AGENT_TARGET = "node18";

export const ENTRIES = [
  { name: "hostward", entry: "broker/src/cli.ts", out: "dist/hostward.cjs", target: BROKER_TARGET },
  { name: "hostward-reader", entry: "agent/src/main-reader.ts", out: "dist/agent/hostward-reader.cjs", target: AGENT_TARGET },
  { name: "hostward-operator", entry: "agent/src/main-operator.ts", out: "dist/agent/hostward-operator.cjs", target: AGENT_TARGET },
  { name: "hostward-agent", entry: "agent/src/main-check.ts", out: "dist/agent/hostward-agent.cjs", target: AGENT_TARGET },
  { name: "hostward-action", entry: "agent/src/main-helper.ts", out: "dist/agent/hostward-action.cjs", target: AGENT_TARGET },
];

function writeAtomic(path, contents) {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
}

/**
 * The catalog hash each agent role (and the broker) reports (startup line, get_agent_info), computed here from the
 * same functions the entry points call and defined into their bundles: computing it at start
 * builds every schema of the catalog and its JSON schema (a few MiB of an idle agent's memory, and
 * TurboFan compiles). test/agent/startup.test.ts checks the bundles report the run-time value.
 */
async function catalogHashes() {
  const result = await build({
    stdin: {
      contents: `import { diagnostics } from "./proto/catalog/diagnostics/index";
import { hashableActions } from "./proto/catalog/actions/index";
import { catalogHash } from "./proto/catalog/hash";
const reader = catalogHash(diagnostics);
// The broker compares its diagnostics catalog with each reader's (ping_hosts): the same hash.
process.stdout.write(JSON.stringify({ "hostward-reader": reader, hostward: reader, "hostward-operator": catalogHash(hashableActions()) }));`,
      resolveDir: root,
      loader: "ts",
    },
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    write: false,
    logLevel: "warning",
  });
  return JSON.parse(execFileSync(process.execPath, ["-"], { input: result.outputFiles[0].contents, encoding: "utf8" }));
}

/**
 * grpc-js requires @grpc/proto-loader (and with it protobufjs, ~170 KB) only to serve channelz and
 * ORCA, which hostward never registers. Bundled, that code would still sit in every process's
 * memory as part of the bundle's source text; a stub that throws, should it ever be reached, stands
 * in for it.
 */
const noProtoLoader = {
  name: "no-proto-loader",
  setup(b) {
    b.onResolve({ filter: /^@grpc\/proto-loader$/ }, (args) => ({ path: args.path, namespace: "no-proto-loader" }));
    b.onLoad({ filter: /.*/, namespace: "no-proto-loader" }, () => ({
      contents: `throw new Error("@grpc/proto-loader is not bundled (grpc-js needs it only for channelz and ORCA)");`,
      loader: "js",
    }));
  },
};

/**
 * The OpenTelemetry packages (traces, off unless configured: shared/tracing.ts) are resolved to their
 * ES module builds, which declare no side effects, so esbuild keeps only what is used: their CommonJS
 * builds pulled in all of semantic-conventions, the metrics and logs SDKs (~550 KB per bundle).
 */
const otelEsm = {
  name: "otel-esm",
  setup(b) {
    b.onResolve({ filter: /^@opentelemetry\/[^/]+$/ }, (args) => {
      for (let d = args.resolveDir; ; d = dirname(d)) {
        const pkgFile = join(d, "node_modules", args.path, "package.json");
        if (existsSync(pkgFile)) {
          const pkg = JSON.parse(readFileSync(pkgFile, "utf8"));
          // @opentelemetry/resources: only its Resource implementation. Its index also re-exports
          // the resource detectors, one of which runs a program (child_process) for a machine id;
          // tracing uses none, and the bundles' only process spawners stay exec.ts and the helper
          // launcher (test/agent/bundle-guard.test.ts).
          if (args.path === "@opentelemetry/resources") return { path: join(dirname(pkgFile), "build/esm/ResourceImpl.js") };
          const dot = pkg.exports?.["."];
          let esm = pkg.module ?? dot?.module ?? dot?.import ?? dot?.default;
          if (esm !== null && typeof esm === "object") esm = esm.default;
          return typeof esm === "string" ? { path: join(dirname(pkgFile), esm) } : undefined;
        }
        if (dirname(d) === d) return undefined;
      }
    });
  },
};

/**
 * node-pty's native addon beside the agent bundles (dist/agent/pty.node): the local fleet's helper
 * (`hostward local up`, `hostward demo`) loads it from there, and `npm pack` ships it, so the
 * installed CLI needs no compiler. node-pty is a devDependency: it is compiled here, on the build
 * machine, never by `npm install -g hostward-<version>.tgz`. The host packages take the same file.
 */
function copyPtyAddon() {
  const from = join(root, "node_modules/node-pty/build/Release/pty.node");
  if (!existsSync(from)) {
    process.stderr.write(`build: ${from} is missing (npm ci compiles node-pty); dist/agent/pty.node not written\n`);
    return;
  }
  writeAtomic(join(root, "dist/agent/pty.node"), readFileSync(from));
}

mkdirSync(join(root, "dist/meta"), { recursive: true });
const only = process.argv.slice(2);
const selected = ENTRIES.filter((e) => only.length === 0 || only.includes(e.name));
const hashes = selected.some((e) => e.name !== "hostward-agent" && e.name !== "hostward-action") ? await catalogHashes() : {};
// The broker serves its MCP Apps approval view (ui://hostward/approval) from this one string.
const view = selected.some((e) => e.name === "hostward") ? await approvalViewHtml() : undefined;
if (view) writeAtomic(join(root, "dist/meta", "approval-view.json"), JSON.stringify(view.metafile));
await Promise.all(
  selected.map(async (e) => {
    const result = await build({
      entryPoints: [join(root, e.entry)],
      outfile: join(root, e.out),
      bundle: true,
      platform: "node",
      target: e.target,
      format: "cjs",
      sourcemap: "linked",
      metafile: true,
      write: false,
      legalComments: "none",
      // Drops comments: one non-ASCII character in a comment makes V8 hold the whole bundle as a
      // two-byte string (~7 MiB per process, test/bench/results.md). Names are kept for stack traces.
      minifyWhitespace: true,
      logLevel: "warning",
      define: {
        HOSTWARD_VERSION: JSON.stringify(pkg.version),
        ...(hashes[e.name] ? { HOSTWARD_CATALOG_HASH: JSON.stringify(hashes[e.name]) } : {}),
        ...(e.name === "hostward" && view ? { HOSTWARD_APPROVAL_VIEW: JSON.stringify(view.html) } : {}),
      },
      banner: { js: "#!/usr/bin/env node\n// Bundled by scripts/build.mjs; do not edit." },
      // Optional native/transport modules that the bundled code never loads at run time.
      // fs-native-extensions loads its prebuilt addon from its own package directory (node_modules).
      external: ["pino-pretty", "osx-temperature-sensor", "fs-native-extensions", "pg-native"],
      plugins: [noProtoLoader, otelEsm],
    });
    // Written to a temporary name then renamed: concurrent test runs never read a half-written file.
    for (const f of result.outputFiles) writeAtomic(f.path, f.contents);
    writeAtomic(join(root, "dist/meta", `${e.name}.json`), JSON.stringify(result.metafile));
  }),
);
if (selected.some((e) => e.out.startsWith("dist/agent/"))) copyPtyAddon();
