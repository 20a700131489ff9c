// Log-file diagnostics: read_log_file and search_logs, below the configured roots only
// (safe-file.ts decides what may be opened; search.ts does the bounded matching).
import type { FileHandle } from "node:fs/promises";
import { logsDiagnostics, SEARCH_MAX_FILES } from "../../../proto/catalog/diagnostics/logs";
import { listFilesInRoots, openFileInRoots, resolveInRoots, resolveRoots, type DirectoryFile, type ResolvedRoots } from "../safe-file";
import { compilePattern, readChunks, scanChunks, type LineMatch, type StopReason } from "../search";
import type { AgentConfig } from "../config";
import { DiagnosticError, type DiagnosticContext, type HandlerMap } from "./context";

/** Entries of a directory examined at most by search_logs. */
const MAX_DIR_ENTRIES = 10_000;
const COMPRESSED = /\.(?:gz|xz|bz2|zst|lz4|zip|z)$/i;
const TAIL_CHUNK = 64 * 1024;
const MAX_OUTPUT_CHARS = 1024 * 1024;

// Roots are resolved once per configuration (the agent's config object lives as long as it runs).
const rootsCache = new WeakMap<readonly string[], Promise<ResolvedRoots>>();

/**
 * The configured log roots, resolved with realpath once. The entry point may call it at start to
 * log roots that are refused (missing, or in /proc, /sys, /dev); handlers call it on first use.
 */
function logRootsFor(config: AgentConfig): Promise<ResolvedRoots> {
  const key = config.logs.roots;
  let roots = rootsCache.get(key);
  if (!roots) {
    roots = resolveRoots(key);
    rootsCache.set(key, roots);
  }
  return roots;
}

const logRoots = (ctx: DiagnosticContext) => logRootsFor(ctx.config);

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buf, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buf.subarray(0, filled);
}

function toLines(text: Buffer): string[] {
  if (text.length === 0) return [];
  const s = text.toString("utf8");
  const lines = (s.endsWith("\n") ? s.slice(0, -1) : s).split("\n");
  return lines.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
}

/** The last `lines` lines within `maxBytes` before `size`: [start offset, bytes]. */
async function readTail(handle: FileHandle, size: number, lines: number, maxBytes: number): Promise<{ start: number; bytes: Buffer; complete: boolean }> {
  const parts: Buffer[] = [];
  let start = size;
  let newlines = 0;
  // A final newline ends the last line; it does not start another one.
  const needed = lines + 1;
  while (start > 0 && size - start < maxBytes && newlines < needed) {
    const len = Math.min(TAIL_CHUNK, start, maxBytes - (size - start));
    start -= len;
    const part = await readAt(handle, start, len);
    parts.unshift(part);
    for (let i = 0; i < part.length; i++) if (part[i] === 0x0a) newlines++;
  }
  let bytes = Buffer.concat(parts);
  const body = bytes.length > 0 && bytes[bytes.length - 1] === 0x0a ? bytes.subarray(0, -1) : bytes;
  // Keep only what follows the (lines)th newline from the end.
  let cut = body.length;
  let seen = 0;
  while (cut > 0) {
    const nl = body.lastIndexOf(0x0a, cut - 1);
    if (nl === -1) {
      cut = 0;
      break;
    }
    if (++seen === lines) {
      cut = nl + 1;
      break;
    }
    cut = nl;
  }
  const reachedLines = seen === lines;
  if (cut === 0 && start > 0 && !reachedLines) {
    // The byte cap ended inside a line: drop that partial first line when others remain.
    const first = body.indexOf(0x0a);
    if (first !== -1) cut = first + 1;
  }
  bytes = bytes.subarray(cut);
  return { start: start + cut, bytes, complete: start + cut === 0 };
}

interface SearchTarget {
  path: string;
  open: () => Promise<FileHandle>;
}

export const logsHandlers: HandlerMap<typeof logsDiagnostics> = {
  async read_log_file(input, ctx) {
    const roots = await logRoots(ctx);
    const file = await openFileInRoots(input.path, roots);
    try {
      const size = file.stats.size;
      const base = { path: file.path, realPath: file.realPath, size, mtime: file.stats.mtime.toISOString() };
      if (input.offset !== undefined) {
        if (input.offset > size) {
          throw new DiagnosticError("INVALID_ARGUMENT", `offset: ${input.offset} is beyond the end of the file (${size} bytes; was it rotated?)`);
        }
        let bytes = await readAt(file.handle, input.offset, Math.min(input.maxBytes, size - input.offset));
        const reachedEnd = input.offset + bytes.length >= size;
        if (!reachedEnd) {
          // End on a complete line when one fits; a single longer line is returned cut.
          const nl = bytes.lastIndexOf(0x0a);
          if (nl !== -1) bytes = bytes.subarray(0, nl + 1);
        }
        const nextOffset = input.offset + bytes.length;
        const binary = bytes.includes(0);
        return { ...base, mode: "range" as const, startOffset: input.offset, nextOffset, lines: binary ? [] : toLines(bytes), binary, truncated: nextOffset < size };
      }
      const tail = await readTail(file.handle, size, input.tailLines, input.maxBytes);
      const binary = tail.bytes.includes(0);
      return {
        ...base,
        mode: "tail" as const,
        startOffset: tail.start,
        nextOffset: tail.start + tail.bytes.length,
        lines: binary ? [] : toLines(tail.bytes),
        binary,
        truncated: !tail.complete,
      };
    } finally {
      await file.handle.close();
    }
  },

  async search_logs(input, ctx) {
    const pattern = compilePattern({ pattern: input.pattern, mode: input.mode, ignoreCase: input.ignoreCase });
    const roots = await logRoots(ctx);
    const target = await resolveInRoots(input.path, roots);
    let targets: SearchTarget[];
    let skipped = 0;
    let moreFiles = false;
    if (target.stats.isDirectory()) {
      const listing = await listFilesInRoots(input.path, roots, { maxFiles: SEARCH_MAX_FILES, maxEntries: MAX_DIR_ENTRIES, skip: (n) => COMPRESSED.test(n) });
      skipped = listing.skipped;
      moreFiles = listing.truncated;
      targets = listing.files.map((f: DirectoryFile) => ({
        path: f.path,
        open: async () => (await openFileInRoots(f.openPath, roots)).handle,
      }));
    } else {
      targets = [{ path: target.path, open: async () => (await openFileInRoots(input.path, roots)).handle }];
    }

    const matches: (LineMatch & { file: string })[] = [];
    let bytesScanned = 0;
    let filesScanned = 0;
    let outputChars = 0;
    let stoppedBy: StopReason | "max_files" | null = null;
    for (const t of targets) {
      const budget = ctx.config.logs.maxScanBytes - bytesScanned;
      if (budget <= 0) {
        stoppedBy = "max_bytes";
        break;
      }
      let handle: FileHandle;
      try {
        handle = await t.open();
      } catch (err) {
        // In a directory, a file that cannot be opened (FIFO, symlink out of the roots) is skipped.
        if (target.stats.isDirectory()) {
          skipped++;
          continue;
        }
        throw err;
      }
      try {
        const r = await scanChunks(readChunks(handle), pattern, {
          maxMatches: input.maxMatches - matches.length,
          contextLines: input.contextLines,
          maxBytes: budget,
          maxOutputChars: MAX_OUTPUT_CHARS - outputChars,
          signal: ctx.signal,
        });
        filesScanned++;
        bytesScanned += r.bytesScanned;
        for (const m of r.matches) {
          outputChars += m.line.length + m.before.reduce((n, l) => n + l.length, 0) + m.after.reduce((n, l) => n + l.length, 0);
          matches.push({ file: t.path, ...m });
        }
        if (r.stoppedBy) {
          stoppedBy = r.stoppedBy;
          break;
        }
      } finally {
        await handle.close();
      }
    }
    if (stoppedBy === null && moreFiles) stoppedBy = "max_files";
    return {
      path: target.path,
      matches: matches.map((m) => ({
        file: m.file,
        lineNumber: m.lineNumber,
        offset: m.offset,
        line: m.line,
        lineTruncated: m.lineTruncated,
        before: m.before,
        after: m.after,
      })),
      filesScanned,
      filesSkipped: skipped,
      bytesScanned,
      truncated: stoppedBy !== null,
      stoppedBy,
    };
  },
};
