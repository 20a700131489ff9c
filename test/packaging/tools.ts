// Runs the real host tools the packaging tests check with (systemd-analyze, visudo, dpkg-deb, rpm,
// lintian, rpmlint) and builds the packages once per test file into a temporary directory.
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "..", "..");

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function tool(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): ToolResult {
  // visudo, dpkg-shlibdeps … live in /usr/sbin, which a non-root user's PATH often lacks.
  const env = opts.env ?? process.env;
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd ?? ROOT,
    env: { ...env, PATH: `${env.PATH ?? "/usr/bin:/bin"}:/usr/sbin:/sbin` },
    encoding: "utf8",
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw new Error(`${cmd} could not run: ${r.error.message}`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface BuiltPackages {
  out: string;
  version: string;
  deb: string;
  rpm: string;
  stage: string;
  log: string;
}

/** npm run package's second half (the bundles exist: the global setup built them) into a temp dir. */
export function buildPackages(version: string): BuiltPackages {
  const out = mkdtempSync(join(tmpdir(), "hostward-pkg-"));
  const r = tool(process.execPath, [join(ROOT, "packaging/build.mjs"), "--no-build"], {
    env: { ...process.env, HOSTWARD_PKG_VERSION: version, HOSTWARD_PKG_OUT: out },
  });
  if (r.code !== 0) throw new Error(`packaging/build.mjs failed (${r.code}):\n${r.stdout}${r.stderr}`);
  return {
    out,
    version,
    deb: join(out, `hostward-agent_${version}_amd64.deb`),
    rpm: join(out, `hostward-agent-${version}-1.x86_64.rpm`),
    stage: join(out, "work", "stage"),
    log: r.stdout,
  };
}
