// Opening a caller-named file below the configured log roots, and nothing else.
// Order of checks (each refusal names the field, the path and the reason):
//  1. syntax, before any system call: a string, absolute, at most 4096 bytes, no NUL or other
//     control character, no "." or ".." segment;
//  2. the path as written must lie below a root, so nothing outside the roots is even stat'ed
//     (which would tell the caller whether /etc/x exists);
//  3. realpath, and the real path must lie below a root's real path (a symlink anywhere in the
//     path that leads out is refused) and outside /proc, /sys and /dev;
//  4. stat refuses a FIFO, device, socket or directory before it is opened (opening a device can
//     have effects);
//  5. open with O_NOFOLLOW|O_NONBLOCK|O_NOCTTY (a FIFO swapped in never blocks, a terminal never
//     becomes ours), then fstat the opened descriptor and check again: regular file, and the
//     file actually opened (/proc/self/fd/N, else device+inode) is the one checked in 3.
import { constants, type Stats } from "node:fs";
import { lstat, open, opendir, readlink, realpath, stat, type FileHandle } from "node:fs/promises";
import { join, posix } from "node:path";
import { DiagnosticError } from "./diagnostic-error";

/** Trees never served, even when a configured root contains them or is one of them. */
const FORBIDDEN_TREES = ["/proc", "/sys", "/dev"] as const;

export const MAX_PATH_BYTES = 4096;

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
/**
 * Linux's O_PATH (node's fs.constants lacks it): a descriptor that names the file without the
 * right to read it, enough for fstat and /proc/self/fd. For a caller that only inspects the file
 * (truncate_log's preview in the root helper, which inherits the operator unit's bounding set: no
 * CAP_DAC_OVERRIDE, so a service's own 0640 log cannot be opened for reading).
 */
const O_PATH = 0o10000000;
const INSPECT_FLAGS = O_PATH | constants.O_NOFOLLOW;

export interface ResolvedRoots {
  /** Configured roots, normalised, in config order (lexical check of the path as written). */
  configured: string[];
  /** Their real paths (symlinks resolved); the file actually opened must be below one. */
  real: string[];
  /** Configured roots that are not served, with the reason. */
  refused: { root: string; reason: string }[];
}

/** Shows a caller's value in an error without flooding it (a 1 MiB path stays readable). */
function show(p: string): string {
  return JSON.stringify(p.length > 200 ? `${p.slice(0, 200)}…` : p);
}

function deny(field: string, p: string, reason: string): DiagnosticError {
  return new DiagnosticError("PERMISSION_DENIED", `${field}: ${show(p)} ${reason}`);
}

/** True when `child` is `parent` or lies below it (both absolute and normalised). */
export function isInside(child: string, parent: string): boolean {
  if (parent === "/") return child.startsWith("/");
  return child === parent || child.startsWith(`${parent}/`);
}

function forbiddenTree(p: string): string | undefined {
  return FORBIDDEN_TREES.find((t) => isInside(p, t));
}

/**
 * Resolves the configured roots once (at agent start): realpath each; a root below /proc, /sys or
 * /dev, or one that does not exist, is listed in `refused` and never served.
 */
export async function resolveRoots(roots: readonly string[]): Promise<ResolvedRoots> {
  const out: ResolvedRoots = { configured: [], real: [], refused: [] };
  for (const root of roots) {
    if (!root.startsWith("/") || root.includes("\0")) {
      out.refused.push({ root, reason: "not an absolute path" });
      continue;
    }
    const normal = posix.normalize(root).replace(/(.)\/+$/, "$1");
    let real: string;
    try {
      real = await realpath(normal);
    } catch (err) {
      out.refused.push({ root, reason: `cannot be resolved (${(err as NodeJS.ErrnoException).code ?? "error"})` });
      continue;
    }
    const tree = forbiddenTree(normal) ?? forbiddenTree(real);
    if (tree) {
      out.refused.push({ root, reason: `lies in ${tree}, which is never served` });
      continue;
    }
    out.configured.push(normal);
    out.real.push(real);
  }
  return out;
}

/**
 * Syntax checks made before any system call; returns the path with repeated and trailing
 * slashes removed. Throws INVALID_ARGUMENT naming `field`.
 */
export function checkPathSyntax(p: unknown, field = "path"): string {
  const bad = (reason: string) => new DiagnosticError("INVALID_ARGUMENT", `${field}: ${reason}`);
  if (typeof p !== "string") throw bad("must be a string");
  if (p.length === 0) throw bad("must not be empty");
  if (Buffer.byteLength(p) > MAX_PATH_BYTES) throw bad(`is longer than ${MAX_PATH_BYTES} bytes`);
  if (p.includes("\0")) throw bad(`${show(p)} contains a NUL byte`);
  // eslint-disable-next-line no-control-regex -- refuses control characters in a path, on purpose (NUL is refused above)
  if (/[\u0001-\u001f\u007f]/.test(p)) throw bad(`${show(p)} contains a control character (newline, tab, …)`);
  if (!p.startsWith("/")) throw bad(`${show(p)} is not an absolute path`);
  if (p.split("/").some((seg) => seg === "." || seg === "..")) throw bad(`${show(p)} contains a "." or ".." segment`);
  return p.replace(/\/{2,}/g, "/").replace(/(.)\/$/, "$1");
}

function errnoError(err: unknown, field: string, p: string): DiagnosticError {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case "ENOENT":
      return new DiagnosticError("NOT_FOUND", `${field}: ${show(p)} does not exist`);
    case "ENOTDIR":
      return new DiagnosticError("NOT_FOUND", `${field}: ${show(p)} does not exist (a parent is not a directory)`);
    case "EACCES":
    case "EPERM":
      return deny(field, p, "cannot be read by the agent's user (permission denied)");
    case "ELOOP":
      return deny(field, p, "is or passes through a symbolic link that changed or loops");
    default:
      return new DiagnosticError("FAILED_PRECONDITION", `${field}: ${show(p)} cannot be opened (${code ?? (err as Error).message})`);
  }
}

/** What a non-regular file is, in words; null for a regular file. */
export function describeType(s: Stats): string | null {
  if (s.isFile()) return null;
  if (s.isDirectory()) return "a directory";
  if (s.isFIFO()) return "a FIFO (named pipe)";
  if (s.isCharacterDevice()) return "a character device";
  if (s.isBlockDevice()) return "a block device";
  if (s.isSocket()) return "a socket";
  if (s.isSymbolicLink()) return "a symbolic link";
  return "not a regular file";
}

export interface ResolvedPath {
  /** The path as the caller wrote it, normalised. */
  path: string;
  /** Every symlink resolved; below one of the roots' real paths. */
  realPath: string;
  stats: Stats;
}

/** Checks 1–3 plus a stat of the real path: the caller's path is in the roots and exists. */
export async function resolveInRoots(p: unknown, roots: ResolvedRoots, field = "path"): Promise<ResolvedPath> {
  const path = checkPathSyntax(p, field);
  const rootList = roots.configured.join(", ") || "(none configured)";
  if (!roots.configured.some((r) => isInside(path, r)) && !roots.real.some((r) => isInside(path, r))) {
    throw deny(field, path, `is outside the allowed log roots (${rootList})`);
  }
  const tree = forbiddenTree(path);
  if (tree) throw deny(field, path, `lies in ${tree}, which is never served`);
  let realPath: string;
  try {
    realPath = await realpath(path);
  } catch (err) {
    throw errnoError(err, field, path);
  }
  if (!roots.real.some((r) => isInside(realPath, r))) {
    throw deny(field, path, `resolves to ${show(realPath)} through a symbolic link, outside the allowed log roots (${rootList})`);
  }
  const realTree = forbiddenTree(realPath);
  if (realTree) throw deny(field, path, `resolves into ${realTree}, which is never served`);
  let stats: Stats;
  try {
    stats = await stat(realPath);
  } catch (err) {
    throw errnoError(err, field, path);
  }
  return { path, realPath, stats };
}

export interface OpenedFile extends ResolvedPath {
  handle: FileHandle;
}

/** The path the kernel says an open descriptor refers to; null when /proc is unavailable. */
async function fdPath(fd: number): Promise<string | null> {
  try {
    return await readlink(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

/**
 * Opens a regular file below the roots for reading (`how: "inspect"`: an O_PATH descriptor, with
 * the same checks, for a caller that only needs its identity and size). The caller closes `handle`.
 * Throws DiagnosticError: INVALID_ARGUMENT (syntax, a directory), NOT_FOUND, PERMISSION_DENIED.
 */
export async function openFileInRoots(p: unknown, roots: ResolvedRoots, field = "path", how: "read" | "inspect" = "read"): Promise<OpenedFile> {
  const resolved = await resolveInRoots(p, roots, field);
  const { path, realPath } = resolved;
  const kind = describeType(resolved.stats);
  if (kind === "a directory") {
    throw new DiagnosticError("INVALID_ARGUMENT", `${field}: ${show(path)} is a directory, not a regular file`);
  }
  if (kind) throw deny(field, path, `is ${kind}; only regular files can be read`);

  let handle: FileHandle;
  try {
    handle = await open(realPath, how === "inspect" && process.platform === "linux" ? INSPECT_FLAGS : OPEN_FLAGS);
  } catch (err) {
    throw errnoError(err, field, path);
  }
  try {
    const stats = await handle.stat();
    const openedKind = describeType(stats);
    if (openedKind) throw deny(field, path, `is ${openedKind} (it changed while being opened); only regular files can be read`);
    if (stats.dev !== resolved.stats.dev || stats.ino !== resolved.stats.ino) {
      throw deny(field, path, "was replaced while being opened");
    }
    const opened = await fdPath(handle.fd);
    if (opened !== null) {
      if (!roots.real.some((r) => isInside(opened, r)) || forbiddenTree(opened)) {
        throw deny(field, path, `opened ${show(opened)}, outside the allowed log roots`);
      }
    } else {
      // No /proc: the device and inode of what we opened must still be those of the real path.
      const again = await stat(realPath);
      if (again.dev !== stats.dev || again.ino !== stats.ino) throw deny(field, path, "was replaced while being opened");
    }
    return { path, realPath, stats, handle };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

export interface DirectoryFile {
  /** The directory as the caller wrote it, joined with the entry name. */
  path: string;
  /** Where the file is opened from (below the directory's real path). */
  openPath: string;
  size: number;
  mtimeMs: number;
}

export interface DirectoryListing {
  path: string;
  realPath: string;
  /** Regular files, newest first, at most `maxFiles`. */
  files: DirectoryFile[];
  /** Entries that are not regular files or were skipped by `skip`. */
  skipped: number;
  /** More regular files (or entries) existed than were taken. */
  truncated: boolean;
}

export interface ListOptions {
  maxFiles: number;
  /** Entries read from the directory at most (a directory of a million files stays cheap). */
  maxEntries: number;
  /** Names to leave out (e.g. compressed rotations). */
  skip?: (name: string) => boolean;
}

/** Lists the regular files directly inside a directory below the roots (not recursive). */
export async function listFilesInRoots(p: unknown, roots: ResolvedRoots, opts: ListOptions, field = "path"): Promise<DirectoryListing> {
  const resolved = await resolveInRoots(p, roots, field);
  if (!resolved.stats.isDirectory()) {
    throw new DiagnosticError("INVALID_ARGUMENT", `${field}: ${show(resolved.path)} is not a directory`);
  }
  const candidates: DirectoryFile[] = [];
  let skipped = 0;
  let entries = 0;
  let truncated = false;
  let dir;
  try {
    dir = await opendir(resolved.realPath, { bufferSize: 256 });
  } catch (err) {
    throw errnoError(err, field, resolved.path);
  }
  try {
    for await (const entry of dir) {
      if (++entries > opts.maxEntries) {
        truncated = true;
        break;
      }
      if (!(entry.isFile() || entry.isSymbolicLink()) || opts.skip?.(entry.name)) {
        skipped++;
        continue;
      }
      const openPath = join(resolved.realPath, entry.name);
      try {
        // A symlink is listed only when its target is inside the roots (re-checked on open).
        if (entry.isSymbolicLink()) {
          const target = await realpath(openPath);
          if (!roots.real.some((r) => isInside(target, r)) || forbiddenTree(target)) {
            skipped++;
            continue;
          }
        }
        const s = entry.isSymbolicLink() ? await stat(openPath) : await lstat(openPath);
        if (!s.isFile()) {
          skipped++;
          continue;
        }
        candidates.push({ path: posix.join(resolved.path, entry.name), openPath, size: s.size, mtimeMs: s.mtimeMs });
      } catch {
        skipped++;
      }
    }
  } finally {
    // for-await closes the directory on break; close() after that throws ERR_DIR_CLOSED.
    await dir.close().catch(() => undefined);
  }
  candidates.sort((a, b) => b.mtimeMs - a.mtimeMs || a.path.localeCompare(b.path));
  if (candidates.length > opts.maxFiles) truncated = true;
  return { path: resolved.path, realPath: resolved.realPath, files: candidates.slice(0, opts.maxFiles), skipped, truncated };
}
