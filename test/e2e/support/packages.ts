// The packages under test, as `npm run package` names them (copied by the global setup into
// test/.tmp/e2e/packages/ so that a later build cannot change them mid-run).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PACKAGES_DIR, ROOT } from "./paths";

/** The "previous build" an upgrade starts from: the same tree packaged with an older version. */
export const PREVIOUS_VERSION = "0.0.1";

/** The version `npm run package` uses by default: package.json's. */
export function currentVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
}

export const debFile = (version: string) => `hostward-agent_${version}_amd64.deb`;
export const rpmFile = (version: string) => `hostward-agent-${version}-1.x86_64.rpm`;

/** The CLI as users install it: `npm pack`'s tarball. */
export const cliFile = (version: string) => `hostward-${version}.tgz`;
export const cliPath = (version: string = currentVersion()) => join(PACKAGES_DIR, cliFile(version));

export const debPath = (version: string = currentVersion()) => join(PACKAGES_DIR, debFile(version));
export const rpmPath = (version: string = currentVersion()) => join(PACKAGES_DIR, rpmFile(version));
