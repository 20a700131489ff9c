// Ownership and permissions of the enrollment files. Everything under /etc/hostward is root's:
// the units get the TLS files through LoadCredential= (systemd reads them as root), so no
// unprivileged user ever needs to read them, and nobody but root may change them.
import { statSync, type Stats } from "node:fs";
import type { Findings } from "./findings";

export type FileKind = "config" | "certificate" | "key" | "directory";

function mode(stats: Stats): string {
  return (stats.mode & 0o7777).toString(8).padStart(4, "0");
}

function describeErrno(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "does not exist";
  if (code === "EACCES") return "cannot be read by this user (run the check as root)";
  if (code === "ENOTDIR") return "has a path component that is not a directory";
  return `cannot be examined (${code ?? (err as Error).message})`;
}

/** stat() with the failure turned into a finding; null when the file cannot be examined. */
export function statOrReport(findings: Findings, path: string, what: string): Stats | null {
  try {
    return statSync(path);
  } catch (err) {
    findings.error(path, `${what} ${describeErrno(err)}`);
    return null;
  }
}

/**
 * Checks owner and mode for one kind of file; returns true when nothing was wrong.
 * Keys: owned by root, no access at all for group or others (chmod 600).
 * Certificates and the config: owned by root, not writable by group or others.
 * Directories: owned by root, not writable by group or others.
 */
export function checkOwnership(findings: Findings, path: string, stats: Stats, kind: FileKind, rootUid = 0): boolean {
  const problems: string[] = [];
  const fixes: string[] = [];
  if (kind === "directory" ? !stats.isDirectory() : !stats.isFile()) {
    findings.error(path, `is not a ${kind === "directory" ? "directory" : "regular file"}`);
    return false;
  }
  if (stats.uid !== rootUid) {
    problems.push(`is owned by uid ${stats.uid}, not root`);
    fixes.push(`chown root:root ${path}`);
  }
  if (kind === "key" && (stats.mode & 0o077) !== 0) {
    problems.push(`is accessible by group or others (mode ${mode(stats)})`);
    fixes.push(`chmod 600 ${path}`);
  } else if (kind !== "key" && (stats.mode & 0o022) !== 0) {
    problems.push(`is writable by group or others (mode ${mode(stats)})`);
    fixes.push(`chmod go-w ${path}`);
  }
  if ((stats.mode & 0o6000) !== 0) {
    problems.push(`has the setuid or setgid bit (mode ${mode(stats)})`);
    fixes.push(`chmod ug-s ${path}`);
  }
  if (problems.length > 0) {
    findings.error(path, `${problems.join(" and ")}: ${fixes.join("; ")}`);
    return false;
  }
  return true;
}
