// journalctl through exec.ts. Values reach journalctl only as --opt=VALUE after the catalog's
// grammar has validated them (unit, since/until, priority, boot, cursor); no positional matches
// and never --grep (PCRE, backtracking): literal filtering happens in JS.
//
// journalctl 252 quirks (recorded in test/fixtures/systemd/journal-{since,until}-*.jsonl):
// forward reading with --lines=N and --since gives the OLDEST N entries since, and with --until
// it takes the last N of the whole journal before filtering. Reading with --reverse gives the
// newest N in both cases, so pages without a cursor are read in reverse and turned around here.
// With a cursor the read goes forward (--after-cursor), which journalctl refuses with --since.
import { canonicalUnit } from "../../../proto/catalog/grammar";
import { run, type RunResult } from "../exec";
import { DiagnosticError, type DiagnosticContext } from "../diagnostics/context";
import { firstLine, toDiagnosticError } from "./exec-errors";
import { type JournalEntry, type PriorityName, OUTPUT_FIELDS, parseJournalOutput } from "./journal-json";

export interface JournalQuery {
  unit?: string;
  priority?: PriorityName;
  since?: string;
  until?: string;
  boot?: number;
  /** Entries to read: the newest N, or the next N after `afterCursor`. */
  lines: number;
  afterCursor?: string;
  /** Kernel messages of the current boot (--dmesg). */
  kernel?: boolean;
}

export interface JournalRead {
  /** Oldest first. */
  entries: JournalEntry[];
  /** The output cap cut the read short. */
  cut: boolean;
  skipped: number;
}

interface JournalLimits {
  timeoutMs: number;
  maxBytes: number;
}

const DEFAULT_JOURNAL_LIMITS: JournalLimits = { timeoutMs: 10_000, maxBytes: 8 * 1024 * 1024 };

/** The journalctl options for a query (exported for tests). */
export function journalArgs(q: JournalQuery): string[] {
  if (q.afterCursor !== undefined && q.since !== undefined) {
    throw new DiagnosticError("INVALID_ARGUMENT", "cursor and since cannot be combined: the cursor already fixes where the page starts");
  }
  const args = ["--no-pager", "--output=json", `--output-fields=${OUTPUT_FIELDS.join(",")}`, `--lines=${q.lines}`];
  args.push(q.afterCursor !== undefined ? `--after-cursor=${q.afterCursor}` : "--reverse");
  // The unit name has passed the unitName grammar (no leading "-", no globs, no spaces) and is
  // one argv element; --unit= keeps journalctl's -u semantics (also what systemd logs about it).
  if (q.unit !== undefined) args.push(`--unit=${canonicalUnit(q.unit)}`);
  if (q.priority !== undefined) args.push(`--priority=${q.priority}`);
  if (q.since !== undefined) args.push(`--since=${q.since}`);
  if (q.until !== undefined) args.push(`--until=${q.until}`);
  if (q.boot !== undefined) args.push(`--boot=${q.boot}`);
  if (q.kernel) args.push("--dmesg");
  return args;
}

function failure(result: RunResult): DiagnosticError {
  const msg = firstLine(result.stderr);
  if (/seek to cursor/i.test(msg)) return new DiagnosticError("INVALID_ARGUMENT", `cursor: journalctl cannot continue from this cursor (${msg})`);
  if (/specified boot|boot ID/i.test(msg)) return new DiagnosticError("NOT_FOUND", `boot: ${msg}`);
  if (/timestamp|since|until/i.test(msg)) return new DiagnosticError("INVALID_ARGUMENT", `since/until: journalctl refused the time (${msg})`);
  if (/insufficient permissions|Permission denied/i.test(msg)) {
    return new DiagnosticError("PERMISSION_DENIED", `the agent cannot read the journal (${msg}); its user needs the systemd-journal group`);
  }
  return new DiagnosticError("UNAVAILABLE", `journalctl failed (exit ${result.exitCode}): ${msg}`);
}

/** Runs one bounded journalctl read; entries come back oldest first. */
export async function readJournal(q: JournalQuery, ctx: Pick<DiagnosticContext, "signal">, limits = DEFAULT_JOURNAL_LIMITS): Promise<JournalRead> {
  const args = journalArgs(q);
  let result: RunResult;
  try {
    result = await run("journalctl", args, [], { timeoutMs: limits.timeoutMs, maxBytes: limits.maxBytes, signal: ctx.signal });
  } catch (err) {
    throw toDiagnosticError(err);
  }
  if (result.exitCode !== 0) throw failure(result);
  const parsed = parseJournalOutput(result.stdout, result.truncated);
  if (q.afterCursor === undefined) parsed.entries.reverse();
  return { entries: parsed.entries, cut: result.truncated, skipped: parsed.skipped };
}
