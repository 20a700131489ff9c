// upgrade_packages: named, installed packages to the newest version the host's configured
// repositories offer, nothing else (no new package, no removal). The preview asks the host's
// package database for each package's installed and candidate version (from → to); the helper
// refuses at execution when either changed since (HOST_CHANGED). apt only for now: on a dnf host
// the preview says so and the action is refused before approval.
import { z } from "zod";
import { defineAction } from "../define-action";

/** A Debian/RPM package name (Debian policy 5.6.1: lowercase, digits, + - .; at least two characters). */
export const packageName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9+.-]{1,127}$/, "a package name: lowercase letters, digits, + - . (at least two characters, starting with a letter or digit)");

/** dpkg-query's format for package, version and status, one per line (parsed by helper/preview.ts parseDpkgQuery). */
export const DPKG_SHOWFORMAT = "--showformat=${Package}\\t${Version}\\t${db:Status-Abbrev}\\n";

const upgradePackages = defineAction({
  name: "upgrade_packages",
  title: "Upgrade packages",
  summary:
    "Upgrades the named installed packages to the candidate version of the host's configured repositories (apt-get install --only-upgrade), nothing else: no new package, no removal. Services using them may restart. The preview shows each version from → to.",
  impact: "HIGH",
  params: z.strictObject({
    packages: z.array(packageName).min(1).max(32).describe("installed packages to upgrade, each listed in actions.yaml `packages`"),
  }),
  timeoutMs: 600_000,
  allowlist: "packages",
  needsSystemd: true,
  preview: "packages",
  material: ["manager", "versions"],
  prechecks: [
    { text: "every package is listed in actions.yaml `packages` and installed" },
    { text: "apt-get is the package manager (dnf hosts: not yet)" },
    { text: "installed and candidate versions are still those the preview showed" },
  ],
  steps: [
    { id: "query", program: "dpkg-query", options: ["--show", DPKG_SHOWFORMAT], values: ["{packages...}"], quiet: true },
    {
      id: "upgrade",
      program: "apt-get",
      options: ["install", "--only-upgrade", "--yes", "--quiet", "--no-install-recommends", "--option=Dpkg::Options::=--force-confold"],
      values: ["{packages...}"],
      env: { DEBIAN_FRONTEND: "noninteractive" },
      transient: {},
      when: { fact: "manager", equals: "apt" },
    },
    { id: "query-after", program: "dpkg-query", options: ["--show", DPKG_SHOWFORMAT], values: ["{packages...}"], quiet: true },
  ],
  postchecks: [{ text: "apt-get exits 0 and each package's installed version is the previewed candidate; the result lists the changed versions" }],
  examples: [{ description: "Upgrade openssl and libssl3", params: { packages: ["openssl", "libssl3"] } }],
});

export const packageActions = [upgradePackages] as const;
