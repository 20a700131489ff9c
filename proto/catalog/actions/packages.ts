// upgrade_packages: named, installed packages to the candidate version the host's configured
// repositories offered when the preview was made, pinned (`name=version`), and whatever apt must
// change besides for them, which the preview shows; never a removal (`--no-remove`). The preview
// asks the host's package database for each package's installed and candidate version (from → to,
// one `apt-cache policy` for all) and simulates the upgrade (`apt-get --simulate`, read-only, no
// lock) for the set of packages apt would install or upgrade; the helper refuses at execution
// when either changed since (HOST_CHANGED), and before approval when apt would remove anything.
// apt only for now: on a dnf host the preview says so and the action is refused before approval.
import { z } from "zod";
import { defineAction } from "../define-action";

/**
 * A Debian package name (Debian policy 5.6.1, 5.6.7: lowercase letters, digits, + - ., at least two
 * characters, starting with a letter or digit), not ending in "-": apt-get reads `name-` as
 * "remove name" whatever the command (no Debian package ends in "-"). A trailing "+" stays
 * allowed: it is apt's "install" suffix, but apt takes a word that names a package as that package
 * first, and real packages end in "+" (g++, libdb5.3++, afl++: 31 in Debian 12); the plan passes
 * apt `name=version` anyway, which ends in the version.
 */
export const packageName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9+.-]{0,126}[a-z0-9+.]$/, 'a package name: lowercase letters, digits, + - . (at least two characters, starting with a letter or digit, not ending in "-", which apt reads as "remove")');

/**
 * apt-get's options for the upgrade, after its subcommand: the plan's step runs exactly these, and
 * the preview simulates exactly these (`apt-get --simulate …`), so what it shows is what apt does.
 */
export const APT_UPGRADE_OPTIONS = ["install", "--only-upgrade", "--no-remove", "--no-install-recommends"] as const;

/** dpkg-query's format for package, version and status, one per line (parsed by helper/preview.ts parseDpkgQuery). */
export const DPKG_SHOWFORMAT = "--showformat=${Package}\\t${Version}\\t${db:Status-Abbrev}\\n";

const upgradePackages = defineAction({
  name: "upgrade_packages",
  title: "Upgrade packages",
  summary:
    "Upgrades the named installed packages to the exact candidate versions the preview showed (apt-get install --only-upgrade --no-remove name=version), with the dependencies apt must install or upgrade for them, which the preview lists; never a removal, never a package that is not installed among the named. Services using them may restart (needrestart only lists them). The preview shows each version from → to.",
  impact: "HIGH",
  params: z.strictObject({
    packages: z.array(packageName).min(1).max(32).describe("installed packages to upgrade, each listed in actions.yaml `packages`"),
  }),
  timeoutMs: 600_000,
  allowlist: "packages",
  needsSystemd: true,
  preview: "packages",
  material: ["manager", "versions", "changes"],
  prechecks: [
    { text: "every package is listed in actions.yaml `packages` and installed" },
    { text: "apt-get is the package manager (dnf hosts: not yet)" },
    { text: "apt's simulation of the upgrade removes nothing (else refused before approval)" },
    { text: "installed and candidate versions, and the packages apt's simulation changes, are still those the preview showed" },
  ],
  steps: [
    { id: "query", program: "dpkg-query", options: ["--show", DPKG_SHOWFORMAT], values: ["{touched...}"], quiet: true },
    {
      id: "upgrade",
      program: "apt-get",
      options: [...APT_UPGRADE_OPTIONS, "--yes", "--quiet", "--option=Dpkg::Options::=--force-confold"],
      // name=version, the candidates of the preview: a version published since is not what installs.
      values: ["{pins...}"],
      // needrestart (Debian, Ubuntu) in "list" mode: it names services to restart, never restarts one itself.
      env: { DEBIAN_FRONTEND: "noninteractive", NEEDRESTART_MODE: "l" },
      transient: {},
      when: { fact: "manager", equals: "apt" },
    },
    { id: "query-after", program: "dpkg-query", options: ["--show", DPKG_SHOWFORMAT], values: ["{touched...}"], quiet: true },
  ],
  postchecks: [{ text: "apt-get exits 0 and each package apt's simulation changed (the named ones first) has the simulated version; the result lists the changed versions" }],
  examples: [{ description: "Upgrade openssl and libssl3", params: { packages: ["openssl", "libssl3"] } }],
});

export const packageActions = [upgradePackages] as const;
