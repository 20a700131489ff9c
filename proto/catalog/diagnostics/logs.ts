// Log-file diagnostics (group "logs"): files below the agent's allowlisted roots only
// (logs.roots in agent.yaml), regular files only, bounded bytes. Journal diagnostics are in journal.ts.
import { z } from "zod";
import { defineDiagnostic } from "../define";
import { absolutePath, count, literalText } from "../grammar";

const READ_MAX_BYTES = 1024 * 1024;
export const SEARCH_MAX_FILES = 50;

export const readLogFile = defineDiagnostic({
  name: "read_log_file",
  group: "logs",
  title: "Read a log file",
  summary:
    "The last N lines of a log file (default), or a byte range from `offset` for paging forward with `nextOffset`. Only regular files below the agent's allowed log roots (e.g. /var/log). Use get_journal_logs for the systemd journal.",
  input: () => z.strictObject({
    path: absolutePath.describe("absolute path of a regular file inside an allowed log root, e.g. /var/log/nginx/error.log"),
    tailLines: count(1, 5000, 100).describe("last N lines (ignored when offset is set)"),
    offset: z
      .number()
      .int()
      .min(0, { message: "offset must be 0 or more" })
      .max(Number.MAX_SAFE_INTEGER)
      .optional()
      .describe("read forward from this byte offset instead of the tail (use nextOffset of a previous reply)"),
    maxBytes: count(1, READ_MAX_BYTES, 65536).describe("bytes read at most"),
  }),
  output: () => z.object({
    path: z.string(),
    realPath: z.string().describe("the file actually read, symlinks resolved"),
    size: z.number().int().describe("file size in bytes when it was opened"),
    mtime: z.string().describe("last modification, ISO 8601"),
    mode: z.enum(["tail", "range"]),
    startOffset: z.number().int().describe("byte offset of the first returned line"),
    nextOffset: z.number().int().describe("byte offset just after the returned text: pass it as offset to continue"),
    lines: z.array(z.string()),
    binary: z.boolean().describe("the bytes read contain NUL (compressed or binary file); no lines are returned"),
    truncated: z.boolean().describe("more text exists than was returned (earlier lines in tail mode, later bytes in range mode)"),
  }),
  limits: [
    "Only regular files below logs.roots of agent.yaml; FIFOs, devices, sockets, /proc, /sys and /dev are refused; symlinks leading out of the roots are refused.",
    `maxBytes at most ${READ_MAX_BYTES} bytes (default 65536); tailLines at most 5000.`,
    "A range read ends at the last complete line within maxBytes.",
  ],
  examples: [
    { description: "Last 50 lines of the syslog", input: { path: "/var/log/syslog", tailLines: 50 } },
    { description: "Continue reading forward from a byte offset", input: { path: "/var/log/nginx/error.log", offset: 4096, maxBytes: 32768 } },
  ],
});

const searchMatch = z.object({
  file: z.string(),
  lineNumber: z.number().int().describe("1-based"),
  offset: z.number().int().describe("byte offset of the line in the file"),
  line: z.string().describe("the line, cut at 512 bytes"),
  lineTruncated: z.boolean(),
  before: z.array(z.string()).describe("context lines before"),
  after: z.array(z.string()).describe("context lines after"),
});

export const searchLogs = defineDiagnostic({
  name: "search_logs",
  group: "logs",
  title: "Search log files",
  summary:
    "Lines matching a literal text or an RE2 pattern (linear time) in one log file, or in the regular files of a log directory (not recursive, newest first). Returns the matching lines with optional context, and how much was scanned.",
  input: () => z.strictObject({
    path: absolutePath.describe("a regular file or a directory inside an allowed log root"),
    pattern: literalText("pattern", 512).describe("literal text, or an RE2 expression when mode is regex"),
    mode: z.enum(["literal", "regex"]).default("literal").describe("regex uses RE2 syntax (no backreferences or lookaround)"),
    ignoreCase: z.boolean().default(false),
    maxMatches: count(1, 1000, 100),
    contextLines: count(0, 5, 0).describe("lines of context before and after each match"),
  }),
  output: () => z.object({
    path: z.string(),
    matches: z.array(searchMatch),
    filesScanned: z.number().int(),
    filesSkipped: z.number().int().describe("entries that are not regular files, compressed rotations, or refused"),
    bytesScanned: z.number().int(),
    truncated: z.boolean().describe("the search stopped before the end; more matches may exist"),
    stoppedBy: z
      .enum(["max_matches", "max_bytes", "max_output", "max_files"])
      .nullable()
      .describe("which bound ended the search early; null when everything was searched"),
  }),
  limits: [
    "Only regular files below logs.roots of agent.yaml (same checks as read_log_file); a directory is searched one level deep, newest files first, at most 50 files; compressed rotations (.gz, .xz, .bz2, .zst) are skipped.",
    "Bytes scanned per call at most logs.maxScanBytes of agent.yaml; memory stays bounded whatever the file size.",
    "regex: RE2 syntax, linear time, matched against the first 64 KiB of each line; literal matches whole lines.",
    "maxMatches at most 1000, contextLines at most 5, lines returned cut at 512 bytes, 1 MiB of text at most.",
  ],
  examples: [
    { description: "Out-of-memory kills in the kernel log", input: { path: "/var/log/kern.log", pattern: "Out of memory" } },
    {
      description: "5xx responses in the nginx logs, with context",
      input: { path: "/var/log/nginx", pattern: "\" 5[0-9][0-9] ", mode: "regex", maxMatches: 20, contextLines: 1 },
    },
  ],
});

export const logsDiagnostics = [readLogFile, searchLogs] as const;
