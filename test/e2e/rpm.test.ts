// The .rpm is built from the same staged tree as the .deb: the same files with the same modes and
// the same bytes, the same dependency on the distribution's nodejs; and it installs with
// `rpm -i --root` (no RPM-based container here: files only, no scriptlets).
import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { record } from "./support/measurements";
import { debPath, rpmPath } from "./support/packages";
import { runOk } from "./support/run";
import { createScope, requirePackages } from "./support/scope";

interface Entry {
  /** "-", "d" or "l" */
  type: string;
  /** permission bits, e.g. "rwxr-xr-x" */
  perms: string;
}

const scope = createScope("rpm");
afterAll(() => scope.close());
beforeAll(() => requirePackages());

/**
 * Debian 12 packages ship units in /lib/systemd/system (dpkg does not know /lib and /usr/lib are
 * one directory on a merged-/usr system); RPM distributions use /usr/lib/systemd/system. The same
 * file, so the .deb's path is compared in its /usr form.
 */
function usrMerged(path: string): string {
  return path === "/lib" || path.startsWith("/lib/") ? `/usr${path}` : path;
}

/** `dpkg-deb -c`: "-rw-r--r-- root/root 123 2026-11-21 10:00 ./usr/lib/x" (symlinks end "-> target"); keys in /usr-merged form. */
async function debEntries(file: string): Promise<Map<string, Entry & { debPath: string }>> {
  const out = (await runOk("dpkg-deb", ["-c", file])).stdout;
  const entries = new Map<string, Entry & { debPath: string }>();
  for (const line of out.split("\n").filter(Boolean)) {
    const m = /^([-dl])(\S{9})\s+\S+\s+\d+\s+\S+\s+\S+\s+\.(\/\S*?)\/?(?: -> .*)?$/.exec(line);
    if (!m?.[1] || !m[2] || m[3] === undefined) throw new Error(`unexpected dpkg-deb -c line: ${line}`);
    if (m[3] !== "/" && m[3] !== "") entries.set(usrMerged(m[3]), { type: m[1], perms: m[2], debPath: m[3] });
  }
  return entries;
}

async function rpmEntries(file: string): Promise<Map<string, Entry>> {
  const out = (await runOk("rpm", ["-qp", "--queryformat", "[%{FILEMODES:perms} %{FILENAMES}\\n]", file])).stdout;
  const entries = new Map<string, Entry>();
  for (const line of out.split("\n").filter(Boolean)) {
    const m = /^([-dl])(\S{9}) (\/.*)$/.exec(line);
    if (!m?.[1] || !m[2] || !m[3]) throw new Error(`unexpected rpm -qp line: ${line}`);
    entries.set(m[3], { type: m[1], perms: m[2] });
  }
  return entries;
}

/** Files and symlinks as {path: {type, perms}}. */
const nonDirs = (m: Map<string, Entry>) => new Map([...m].filter(([, e]) => e.type !== "d").map(([p, e]) => [p, { type: e.type, perms: e.perms }]));
const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

describe("the .rpm", () => {
  test("ships the .deb's files, with the same types and modes, and depends on nodejs like it", async () => {
    const deb = await debEntries(debPath());
    const rpm = await rpmEntries(rpmPath());
    expect(nonDirs(rpm).size).toBeGreaterThanOrEqual(8);
    expect(Object.fromEntries(nonDirs(rpm))).toEqual(Object.fromEntries(nonDirs(deb)));
    // The rpm owns only its own directories; each of them is in the .deb too.
    for (const [path, e] of rpm) if (e.type === "d") expect(deb.get(path), path).toMatchObject(e);

    const debDepends = (await runOk("dpkg-deb", ["-f", debPath(), "Depends"])).stdout;
    expect(debDepends).toMatch(/(^|[ ,])nodejs\b/);
    const rpmRequires = (await runOk("rpm", ["-qp", "--requires", rpmPath()])).stdout.split("\n");
    expect(rpmRequires.some((r) => /^nodejs\b/.test(r))).toBe(true);

    record(".deb size, KiB", Math.round(statSync(debPath()).size / 1024));
    record(".rpm size, KiB", Math.round(statSync(rpmPath()).size / 1024));
  });

  test("installs with rpm -i --root, every file byte-identical to the .deb's", async () => {
    const root = join(scope.dir, "rpmroot");
    const debTree = join(scope.dir, "debtree");
    mkdirSync(root, { recursive: true });
    await runOk("rpm", ["-i", "--root", root, "--dbpath", "/var/lib/rpm", "--nodeps", "--noscripts", rpmPath()], { timeoutMs: 120_000 });
    const q = await runOk("rpm", ["-q", "--root", root, "--dbpath", "/var/lib/rpm", "hostward-agent"]);
    expect(q.stdout.trim()).toMatch(/^hostward-agent-/);
    await runOk("dpkg-deb", ["-x", debPath(), debTree]);

    const files = nonDirs(await rpmEntries(rpmPath()));
    const deb = await debEntries(debPath());
    for (const [path, e] of files) {
      const installed = join(root, path);
      const fromDeb = join(debTree, deb.get(path)?.debPath ?? path);
      if (e.type === "l") {
        expect(lstatSync(installed).isSymbolicLink(), path).toBe(true);
        expect(readlinkSync(installed), path).toBe(readlinkSync(fromDeb));
      } else {
        expect(sha256(installed), path).toBe(sha256(fromDeb));
      }
    }
    const installedKiB = Number((await runOk("du", ["-sk", join(root, "usr")])).stdout.split("\t")[0]);
    record("installed size (/usr), KiB", installedKiB);
  });
});
