// Pure parsing of `journalctl -o json` lines. Every field is untrusted (any local process can
// write to the journal): each one is type-checked, length-capped and stripped of control
// characters before it reaches a caller.
import { PRIORITIES } from "../../../proto/catalog/grammar";

export type PriorityName = (typeof PRIORITIES)[number];

export interface JournalEntry {
  time: string;
  priority: PriorityName | null;
  unit: string | null;
  identifier: string | null;
  pid: number | null;
  message: string;
  messageTruncated: boolean;
  cursor: string | null;
}

export const MESSAGE_MAX_BYTES = 2048;
/** The fields the agent asks journalctl for (--output-fields); __CURSOR and timestamps always come. */
export const OUTPUT_FIELDS = ["MESSAGE", "PRIORITY", "_PID", "_SYSTEMD_UNIT", "UNIT", "SYSLOG_IDENTIFIER", "_COMM"] as const;

// journalctl prints null for a field of 4096 bytes or more unless --all is given.
const OMITTED = "[message of 4 KiB or more not shown by journalctl]";
const UNIT_RE = /^[A-Za-z0-9:_.@\\-]{1,256}$/;
const CURSOR_RE = /^[A-Za-z0-9=;]{1,512}$/;

// eslint-disable-next-line no-control-regex -- the control characters (all but tab and newline) escapeControls() escapes
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

/** Control characters except newline and tab become visible "\xNN" text. */
function escapeControls(s: string): string {
  return s.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** Cuts a string to at most `max` UTF-8 bytes without splitting a character. */
export function capUtf8(s: string, max: number): { text: string; truncated: boolean } {
  if (Buffer.byteLength(s, "utf8") <= max) return { text: s, truncated: false };
  let bytes = 0;
  let end = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch, "utf8");
    if (bytes + n > max) break;
    bytes += n;
    end += ch.length;
  }
  return { text: s.slice(0, end), truncated: true };
}

function isByteArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((b) => typeof b === "number" && Number.isInteger(b) && b >= 0 && b <= 255);
}

/**
 * A field value as journalctl prints it: a string; an array of byte values when the data is not
 * valid UTF-8 or holds control characters; an array of those when the field occurs more than
 * once in the entry (the values are joined with newlines); null when it was too large to print.
 */
function decodeField(v: unknown, maxBytes = 64 * 1024): string | null {
  if (typeof v === "string") return v.length > maxBytes ? v.slice(0, maxBytes) : v;
  if (isByteArray(v)) return Buffer.from(v.slice(0, maxBytes)).toString("utf8");
  if (Array.isArray(v)) {
    const parts = v.slice(0, 16).map((x) => decodeField(x, maxBytes)).filter((x): x is string => x !== null);
    return parts.length > 0 ? parts.join("\n") : null;
  }
  return null;
}

function shortField(v: unknown, max: number): string | null {
  const s = decodeField(v, max * 4);
  if (s === null || s === "") return null;
  return capUtf8(escapeControls(s), max).text;
}

function digits(v: unknown, maxLen: number): number | null {
  return typeof v === "string" && v.length <= maxLen && /^\d+$/.test(v) ? Number(v) : null;
}

/** One line of journalctl -o json → an entry, or null when it is not a valid journal entry. */
export function parseJournalLine(line: string): JournalEntry | null {
  if (!line.startsWith("{")) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return null;
  const f = raw as Record<string, unknown>;

  const us = digits(f.__REALTIME_TIMESTAMP, 20) ?? digits(f._SOURCE_REALTIME_TIMESTAMP, 20);
  if (us === null) return null;
  const date = new Date(Math.floor(us / 1000));
  if (Number.isNaN(date.getTime())) return null;

  const p = digits(f.PRIORITY, 1);
  const pid = digits(f._PID, 10);
  // systemd (PID 1) logs about a unit with UNIT=; other processes carry their own _SYSTEMD_UNIT.
  const own = typeof f._SYSTEMD_UNIT === "string" ? f._SYSTEMD_UNIT : null;
  const about = typeof f.UNIT === "string" ? f.UNIT : null;
  const unitCandidate = about !== null && (pid === 1 || own === "init.scope") ? about : own;
  const cursor = typeof f.__CURSOR === "string" && CURSOR_RE.test(f.__CURSOR) ? f.__CURSOR : null;

  let message: string;
  let messageTruncated: boolean;
  if (f.MESSAGE === null) {
    message = OMITTED;
    messageTruncated = true;
  } else {
    const decoded = decodeField(f.MESSAGE, MESSAGE_MAX_BYTES * 4) ?? "";
    const capped = capUtf8(escapeControls(decoded), MESSAGE_MAX_BYTES);
    message = capped.text;
    messageTruncated = capped.truncated || Buffer.byteLength(decoded) >= MESSAGE_MAX_BYTES * 4;
  }

  return {
    time: date.toISOString(),
    priority: p !== null && p <= 7 ? (PRIORITIES[p] ?? null) : null,
    unit: unitCandidate !== null && UNIT_RE.test(unitCandidate) ? unitCandidate : null,
    identifier: shortField(f.SYSLOG_IDENTIFIER, 64) ?? shortField(f._COMM, 64),
    pid,
    message,
    messageTruncated,
    cursor,
  };
}

export interface ParsedJournal {
  entries: JournalEntry[];
  /** Lines that were not valid entries (garbage, or a last line cut by the output cap). */
  skipped: number;
}

/** Parses journalctl -o json output; with `cut`, the last line is incomplete and dropped. */
export function parseJournalOutput(stdout: string, cut = false): ParsedJournal {
  const lines = stdout.split("\n");
  if (cut) lines.pop();
  const entries: JournalEntry[] = [];
  let skipped = 0;
  for (const line of lines) {
    if (line === "") continue;
    const e = parseJournalLine(line);
    if (e) entries.push(e);
    else skipped += 1;
  }
  return { entries, skipped };
}

/** Numeric severity (0 = emerg) of a priority name; unknown counts as least severe. */
export function severity(p: PriorityName | null): number {
  return p === null ? 8 : PRIORITIES.indexOf(p);
}
