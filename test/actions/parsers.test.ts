// The helper's parsers of program output it decides from (helper/preview.ts, helper/actions.ts),
// on real output captured from Debian 12's tools.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { diskUsageBytes } from "../../agent/src/helper/actions";
import { candidateVersions, parseAptPolicy, parseAptSimulation, simulatedChanges } from "../../agent/src/helper/apt";
import { parseDpkgQuery } from "../../agent/src/helper/preview";

/** A file of test/fixtures/apt (README.md there: each one's command), as the helper's pipes give its lines. */
const apt = (name: string) => readFileSync(join(import.meta.dirname, "..", "fixtures", "apt", name), "utf8").replace(/\n$/, "").split("\n");

describe("journalctl --disk-usage", () => {
  it("reads the size with its unit (powers of 1024), and nothing from other text", () => {
    expect(diskUsageBytes(["Archived and active journals take up 8.0M in the file system."])).toBe(8 * 1024 * 1024);
    expect(diskUsageBytes(["Archived and active journals take up 1.5G in the file system."])).toBe(Math.round(1.5 * 1024 ** 3));
    expect(diskUsageBytes(["Archived and active journals take up 512B in the file system."])).toBe(512);
    expect(diskUsageBytes(["No journal files were found."])).toBeNull();
  });
});

describe("dpkg-query --show with DPKG_SHOWFORMAT", () => {
  it("keeps installed packages (status ii) only, without the architecture qualifier", () => {
    const lines = ["openssl\t3.0.15-1~deb12u1\tii ", "libssl3:amd64\t3.0.15-1~deb12u1\tii ", "removed\t1.0\trc ", "", "garbage"];
    expect([...parseDpkgQuery(lines)]).toEqual([
      ["openssl", "3.0.15-1~deb12u1"],
      ["libssl3", "3.0.15-1~deb12u1"],
    ]);
  });
});

describe("apt-cache policy, one call for several packages", () => {
  it("reads each package's installed and candidate version; a package apt does not know is absent", () => {
    const policy = parseAptPolicy(apt("policy-libssl3-openssl-bash.txt").join("\n"));
    expect(Object.fromEntries(policy)).toEqual({
      libssl3: { installed: "3.0.19-1~deb12u2", candidate: "3.0.22-1~deb12u2" },
      openssl: { installed: "3.0.19-1~deb12u2", candidate: "3.0.22-1~deb12u2" },
      bash: { installed: "5.2.15-2+b8", candidate: "5.2.15-2+b13" },
    });
    expect(policy.has("hwnosuchpkg")).toBe(false);
  });

  it('"(none)" is no version; a foreign architecture is found under the name too; the version table is not read as fields', () => {
    const text = ["libfoo:i386:", "  Installed: (none)", "  Candidate: 1.2-1", "  Version table:", "     1.2-1 500", "        500 http://deb.debian.org/debian bookworm/main i386 Packages", "local-only:", "  Installed: 0.1", "  Candidate: (none)", "  Version table:"].join("\n");
    const policy = parseAptPolicy(text);
    expect(policy.get("libfoo")).toEqual({ installed: null, candidate: "1.2-1" });
    expect(policy.get("libfoo:i386")).toBe(policy.get("libfoo"));
    expect(policy.get("local-only")).toEqual({ installed: "0.1", candidate: null });
    expect(parseAptPolicy("W: something\nE: broken").size).toBe(0);
  });
});

describe("apt-get --simulate install --only-upgrade --no-remove name=version…", () => {
  it("lists every package apt would upgrade, the named ones and a dependency (libssl-dev), and removes none", () => {
    const sim = parseAptSimulation(apt("simulate-upgrade-libssl3-openssl.txt"));
    expect(sim).toEqual({
      changes: {
        "libssl-dev": { from: "3.0.19-1~deb12u2", to: "3.0.22-1~deb12u2" },
        libssl3: { from: "3.0.19-1~deb12u2", to: "3.0.22-1~deb12u2" },
        openssl: { from: "3.0.19-1~deb12u2", to: "3.0.22-1~deb12u2" },
      },
      removes: [],
      errors: [],
    });
  });

  it("a new install has no version before it; a Remv line is a removal", () => {
    const sim = parseAptSimulation(apt("simulate-install-and-remove.txt"));
    expect(sim.changes["libssl-doc"]).toEqual({ from: null, to: "3.0.22-1~deb12u2" });
    expect(sim.changes.less).toEqual({ from: "590-2.1~deb12u2", to: null });
    expect(sim.removes).toEqual(["less"]);
    expect(Object.keys(sim.changes).sort()).toEqual(["less", "libssl-dev", "libssl-doc", "libssl3", "openssl"]);
  });

  it("--no-remove refusing: the package apt would remove is read from its list, and the error kept", () => {
    const sim = parseAptSimulation(apt("simulate-no-remove-refused.txt"));
    expect(sim.removes).toEqual(["bash"]);
    expect(sim.changes).toEqual({});
    expect(sim.errors).toEqual(["E: Packages need to be removed but remove is disabled."]);
  });

  it("a version apt does not have: no change, apt's error", () => {
    const sim = parseAptSimulation(apt("simulate-unknown-version.txt"));
    expect(sim).toEqual({ changes: {}, removes: [], errors: ["E: Version '9.9' for 'libssl3' was not found"] });
  });

  it("apt's line formats one by one: Inst with and without the current version, Conf, Remv, Purg (and purge's name*)", () => {
    const sim = parseAptSimulation([
      "Inst libssl3 [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])",
      "Inst libc6:i386 [2.36-9+deb12u3] (2.36-9+deb12u4 Debian:12.5/stable, Debian-Security:12/stable-security [i386]) []",
      "Inst newdep (1:2.0-1 Debian:12.5/stable [all])",
      "Conf libssl3 (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])",
      "Conf halfdone (1.0-1 Debian:12.5/stable [amd64])",
      "Remv oldlib [0.9-3]",
      "Purg oldconf [1.1]",
      "The following packages will be REMOVED:",
      "  oldlib oldconf*",
      "0 upgraded, 0 newly installed, 2 to remove and 0 not upgraded.",
      "Inst nonsense",
    ]);
    expect(sim.changes).toEqual({
      libssl3: { from: "3.0.11-1~deb12u1", to: "3.0.11-1~deb12u2" },
      "libc6:i386": { from: "2.36-9+deb12u3", to: "2.36-9+deb12u4" },
      newdep: { from: null, to: "1:2.0-1" },
      halfdone: { from: "1.0-1", to: "1.0-1" },
      oldlib: { from: "0.9-3", to: null },
      oldconf: { from: "1.1", to: null },
    });
    expect(sim.removes).toEqual(["oldconf", "oldlib"]);
  });
});

describe("the preview's reading of them: a failure names the package, never 'unchanged'", () => {
  const policy = { exitCode: 0, timedOut: false, lines: apt("policy-libssl3-openssl-bash.txt") };
  const installed = new Map([["libssl3", "3.0.19-1~deb12u2"], ["openssl", "3.0.19-1~deb12u2"], ["bash", "5.2.15-2+b8"], ["hwnosuchpkg", "1.0"]]);

  it("one apt-cache policy for every package → from → to", () => {
    expect(candidateVersions(policy, ["libssl3", "openssl", "bash"], installed)).toEqual({
      libssl3: { from: "3.0.19-1~deb12u2", to: "3.0.22-1~deb12u2" },
      openssl: { from: "3.0.19-1~deb12u2", to: "3.0.22-1~deb12u2" },
      bash: { from: "5.2.15-2+b8", to: "5.2.15-2+b13" },
    });
  });

  it("a package missing from the output, a non-zero exit, a timeout, an installed version apt reads otherwise: refused, naming it", () => {
    expect(() => candidateVersions(policy, ["bash", "hwnosuchpkg"], installed)).toThrow(/^apt-cache policy says nothing of hwnosuchpkg: its candidate version is unknown/);
    expect(() => candidateVersions({ exitCode: 100, timedOut: false, lines: ["E: Could not open file /var/lib/apt/lists/x - open (13: Permission denied)"] }, ["libssl3", "openssl"], installed)).toThrow(
      /^apt-cache policy exited with 100 \(E: Could not open file .*\): the candidate versions of libssl3, openssl are unknown$/,
    );
    expect(() => candidateVersions({ exitCode: 137, timedOut: true, lines: [] }, ["bash"], installed)).toThrow(/^apt-cache policy did not finish in time: the candidate versions of bash are unknown$/);
    expect(() => candidateVersions(policy, ["bash"], new Map([["bash", "5.2.15-2+b1"]]))).toThrow(/reads bash's installed version as 5\.2\.15-2\+b8, dpkg-query as 5\.2\.15-2\+b1/);
    const plus = { exitCode: 0, timedOut: false, lines: ["odd:", "  Installed: 1.0", "  Candidate: 1.1+"] };
    expect(() => candidateVersions(plus, ["odd"], new Map([["odd", "1.0"]]))).toThrow(/odd's candidate version 1\.1\+ ends in "\+"/);
  });

  it("the simulation of the pinned upgrade: the named packages and what else changes; a removal or a failure refuses", () => {
    const versions = { libssl3: { from: "3.0.19-1~deb12u2", to: "3.0.22-1~deb12u2" }, openssl: { from: "3.0.19-1~deb12u2", to: "3.0.22-1~deb12u2" } };
    const pins = ["libssl3=3.0.22-1~deb12u2", "openssl=3.0.22-1~deb12u2"];
    const ok = { exitCode: 0, timedOut: false, lines: apt("simulate-upgrade-libssl3-openssl.txt") };
    expect(Object.keys(simulatedChanges(ok, pins, versions)).sort()).toEqual(["libssl-dev", "libssl3", "openssl"]);
    // Removals: refused by --no-remove (the list apt printed), or listed as Remv lines.
    expect(() => simulatedChanges({ exitCode: 100, timedOut: false, lines: apt("simulate-no-remove-refused.txt") }, ["bash=5.2.15-2+b13"], { bash: { from: "5.2.15-2+b8", to: "5.2.15-2+b13" } })).toThrow(
      /^apt would remove bash to upgrade bash: upgrade_packages never removes a package/,
    );
    expect(() => simulatedChanges({ exitCode: 0, timedOut: false, lines: apt("simulate-install-and-remove.txt") }, pins, versions)).toThrow(/^apt would remove less to upgrade libssl3, openssl/);
    expect(() => simulatedChanges({ exitCode: 100, timedOut: false, lines: apt("simulate-unknown-version.txt") }, ["libssl3=9.9"], { libssl3: { from: "3.0.19-1~deb12u2", to: "9.9" } })).toThrow(
      /^apt-get --simulate install libssl3=9\.9 exited with 100: E: Version '9\.9' for 'libssl3' was not found$/,
    );
    expect(() => simulatedChanges({ exitCode: 137, timedOut: true, lines: [] }, pins, versions)).toThrow(/did not finish in time/);
    // A named package apt would not bring to its candidate (held back, another version).
    expect(() => simulatedChanges(ok, pins, { ...versions, bash: { from: "5.2.15-2+b8", to: "5.2.15-2+b13" } })).toThrow(/does not bring bash from 5\.2\.15-2\+b8 to 5\.2\.15-2\+b13 \(it says nothing of it\)/);
  });
});
