// upgrade_packages' preview through the BUILT helper (a read-only query) on this machine's own apt
// (Debian 12 here): dpkg-query, then ONE apt-cache policy for every package, then apt-get
// --simulate of the pinned upgrade — three processes whatever the number of packages — giving
// the versions from → to, the pins the plan passes apt (name=version) and, as a material fact,
// every package apt's simulation changes. The versions depend on this machine's package lists,
// so the expectations are read from dpkg-query and apt-cache themselves.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { HELPER_EXIT } from "../../agent/src/helper/exit-codes";
import { findAction } from "../../proto/catalog/actions/index";
import type { ActionPreview } from "../../proto/catalog/define-action";
import { makeApprover, makeHost, runHelperBundle, type HostDirs } from "./support";

const hasApt = existsSync("/usr/bin/apt-get") && existsSync("/usr/bin/apt-cache") && existsSync("/usr/bin/dpkg-query") && existsSync("/var/lib/apt/lists") && readdirSync("/var/lib/apt/lists").some((f) => f.endsWith("_Packages") || f.includes("_Packages."));
const ENV = { ...process.env, LC_ALL: "C.UTF-8", LANG: "C.UTF-8" };
const installedOf = (p: string) => execFileSync("/usr/bin/dpkg-query", ["--show", "--showformat=${Version}", "--", p], { encoding: "utf8", env: ENV });
const candidateOf = (p: string) => /^ {2}Candidate: (\S+)$/m.exec(execFileSync("/usr/bin/apt-cache", ["policy", "--", p], { encoding: "utf8", env: ENV }))?.[1];

let host: HostDirs;
beforeAll(() => {
  host = makeHost([makeApprover("HIGH")], "units: []\ncontainers: []\npackages: [bash, dpkg, hwnosuchpkg]\n");
});

const preview = (params: Record<string, unknown>) => runHelperBundle(host.env, JSON.stringify({ query: "preview", action: "upgrade_packages", params }));

describe.runIf(hasApt)("upgrade_packages' preview on this machine's apt", () => {
  it("versions from dpkg-query and one apt-cache policy, pins name=candidate, the simulated changes; three processes for two packages", async () => {
    const r = await preview({ packages: ["bash", "dpkg"] });
    expect(r.code, r.stderr).toBe(HELPER_EXIT.succeeded);
    const p = r.lines[0]?.preview as ActionPreview;
    const expected = Object.fromEntries(["bash", "dpkg"].map((name) => [name, { from: installedOf(name), to: candidateOf(name) === "(none)" ? installedOf(name) : candidateOf(name) }]));
    const want = (name: string) => expected[name]!;
    expect(p.facts.versions).toEqual({ bash: want("bash"), dpkg: want("dpkg") });
    expect(p.facts.pins).toEqual([`bash=${want("bash").to}`, `dpkg=${want("dpkg").to}`]);
    const changes = p.facts.changes as Record<string, { from: string | null; to: string | null }>;
    for (const name of ["bash", "dpkg"]) {
      if (want(name).from !== want(name).to) expect(changes[name]).toEqual(want(name));
      else expect(changes[name]).toBeUndefined();
    }
    expect(Object.values(changes).every((c) => c.to !== null), "no removal").toBe(true);
    expect(p.facts.touched).toEqual([...new Set(["bash", "dpkg", ...Object.keys(changes)])].sort());
    expect(findAction("upgrade_packages")?.material).toContain("changes");
    expect(p.summary.some((l) => /^apt(?: also changes \d+ other package\(s\) for them \(its simulation\): |'s simulation changes no other package and removes none$)/.test(l)), p.summary.join("\n")).toBe(true);
    // dpkg-query, apt-cache policy (once, for both), apt-get --simulate.
    expect(r.audit).toMatchObject({ event: "previewed", spawns: 3 });
  });

  it("a package that is not installed is refused, naming it", async () => {
    const r = await preview({ packages: ["bash", "hwnosuchpkg"] });
    expect(r.lines.at(-1)).toMatchObject({ type: "refused", code: "BAD_REQUEST" });
    expect(String(r.lines.at(-1)?.reason)).toBe('invalid argument "packages": hwnosuchpkg is not installed on this host (upgrade_packages never installs a new package)');
  });

  it('a name ending in "-" (apt: remove) is refused by the catalog\'s schema, naming the field, before anything runs', async () => {
    const r = await preview({ packages: ["bash-"] });
    expect(r.lines.at(-1)).toMatchObject({ type: "refused", code: "BAD_REQUEST", spawns: 0 });
    expect(String(r.lines.at(-1)?.reason)).toMatch(/^invalid argument "packages\.0": a package name: .*not ending in "-", which apt reads as "remove"/);
  });
});
