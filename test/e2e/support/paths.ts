// Where the e2e suite finds what it tests and keeps what it makes.
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "..", "..", "..");
export const BROKER_BUNDLE = join(ROOT, "dist", "hostward.cjs");
/** Logs, certificates, broker configurations and the packages under test (git-ignored). */
export const E2E_TMP = join(ROOT, "test", ".tmp", "e2e");
export const PACKAGES_DIR = join(E2E_TMP, "packages");
export const MEASUREMENTS_FILE = join(ROOT, "test", ".tmp", "e2e-measurements.json");
/** Container root filesystems are extracted here (not under the repository: 300 MB each). */
export const ROOTFS_PARENT = "/var/tmp";
