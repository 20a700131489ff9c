// Disk-space repairs: the journal, one log file, the package cache. The bytes each will free are
// computed by the host before approval (the preview) and reported again after. Each write outside
// the operator unit's sandbox runs as a transient systemd unit that may write only the directory
// it cleans (define-action.ts `transient`).
import { z } from "zod";
import { defineAction } from "../define-action";
import { absolutePath } from "../grammar";

const MiB = 1024 * 1024;

const vacuumJournal = defineAction({
  name: "vacuum_journal",
  title: "Shrink the systemd journal",
  summary:
    "Deletes the oldest archived journal files until the journal is at most `maxBytes` (by: size) or holds nothing older than `maxAgeDays` (by: age). The active files are never removed. The preview says how many bytes it will free.",
  impact: "LOW",
  params: z.strictObject({
    by: z.enum(["size", "age"]).describe("size: keep at most maxBytes; age: keep at most maxAgeDays"),
    maxBytes: z.number().int().min(16 * MiB).max(1024 * 1024 * MiB).default(512 * MiB).describe("by size: bytes to keep (16 MiB..1 TiB; default 512 MiB)"),
    maxAgeDays: z.number().int().min(1).max(3650).default(30).describe("by age: days of journal to keep (1..3650; default 30)"),
  }),
  timeoutMs: 120_000,
  allowlist: "journal",
  needsSystemd: true,
  preview: "journal",
  material: ["journalDir"],
  prechecks: [{ text: "actions.yaml has `journal: true`" }, { text: "the journal is persistent or volatile on this host (journalctl --disk-usage answers)" }],
  steps: [
    { id: "usage", program: "journalctl", options: ["--disk-usage"], quiet: true },
    { id: "vacuum-size", program: "journalctl", options: ["--vacuum-size={maxBytes}"], when: { fact: "by", equals: "size" }, transient: { readWritePaths: ["{journalDir}"] } },
    { id: "vacuum-age", program: "journalctl", options: ["--vacuum-time={maxAgeDays}d"], when: { fact: "by", equals: "age" }, transient: { readWritePaths: ["{journalDir}"] } },
    { id: "usage-after", program: "journalctl", options: ["--disk-usage"], quiet: true },
  ],
  postchecks: [{ text: "journalctl --vacuum-… exits 0; the result reports the bytes used before and after" }],
  examples: [
    { description: "Keep 200 MiB of journal", params: { by: "size", maxBytes: 200 * MiB } },
    { description: "Keep two weeks of journal", params: { by: "age", maxAgeDays: 14 } },
  ],
});

const truncateLog = defineAction({
  name: "truncate_log",
  title: "Empty a log file",
  summary:
    "Truncates one log file to 0 bytes in place (the writer keeps its descriptor, so nothing needs a restart). The file must be a regular file under the allowed log roots (actions.yaml `logFiles`), reached without a symlink, in directories only root can write. Its content is lost: read what matters first.",
  impact: "MEDIUM",
  params: z.strictObject({ path: absolutePath.describe("the log file, e.g. /var/log/app/debug.log (under actions.yaml `logFiles`)") }),
  timeoutMs: 30_000,
  allowlist: "logFile",
  needsSystemd: false,
  preview: "logFile",
  material: ["path", "device", "inode"],
  prechecks: [
    { text: "path is under an actions.yaml `logFiles` root; no component is a symlink; it is a regular file; it has one name (no other hard link); every directory above it is root's and not writable by group or others (a sticky directory like /tmp only when the entry in it is root's too)" },
    { text: "it is still the file the preview measured (same device and inode)" },
  ],
  steps: [{ id: "truncate", program: "truncate", options: ["--no-create", "--size=0"], values: ["{path}"], transient: { readWritePaths: ["{path}"] } }],
  postchecks: [{ text: "the same file (device, inode) is now smaller than before (0 bytes, or what was written since)" }],
  examples: [{ description: "Empty a runaway debug log", params: { path: "/var/log/app/debug.log" } }],
});

const cleanPackageCache = defineAction({
  name: "clean_package_cache",
  title: "Clean the package cache",
  summary: "Deletes the package manager's downloaded package files (apt-get clean, or dnf clean packages). Harmless: they are downloaded again when needed. The preview says how many bytes it frees.",
  impact: "LOW",
  params: z.strictObject({}),
  timeoutMs: 120_000,
  allowlist: "packageCache",
  needsSystemd: true,
  preview: "packageCache",
  material: ["manager"],
  prechecks: [{ text: "actions.yaml has `packageCache: true`; apt-get or dnf is installed" }],
  steps: [
    { id: "apt-clean", program: "apt-get", options: ["clean"], when: { fact: "manager", equals: "apt" }, transient: { readWritePaths: ["/var/cache/apt"] } },
    { id: "dnf-clean", program: "dnf", options: ["clean", "packages"], when: { fact: "manager", equals: "dnf" }, transient: { readWritePaths: ["/var/cache/dnf"] } },
  ],
  postchecks: [{ text: "the command exits 0; the result reports the cache's bytes before and after" }],
  examples: [{ description: "Free the space of downloaded packages", params: {} }],
});

export const diskActions = [vacuumJournal, truncateLog, cleanPackageCache] as const;
