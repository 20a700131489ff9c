// Journal-based log diagnostics: bounded journalctl -o json reads, parsed and filtered in JS.
import { journalDiagnostics } from "../../../proto/catalog/diagnostics/journal";
import { canonicalUnit } from "../../../proto/catalog/grammar";
import type { HandlerMap } from "./context";
import { groupErrors } from "../systemd/error-groups";
import { readJournal } from "../systemd/journalctl";

/** Entries read per call when grep filters them (the page is taken from the matches). */
const GREP_SCAN = 5000;
/** Error entries analyze_errors reads at most. */
const ANALYZE_SCAN = 5000;
const WIDE_LIMITS = { timeoutMs: 15_000, maxBytes: 16 * 1024 * 1024 };

export const journalHandlers: HandlerMap<typeof journalDiagnostics> = {
  async get_journal_logs(input, ctx) {
    const grep = input.grep;
    const forward = input.cursor !== undefined;
    const readLines = grep === undefined ? input.lines : GREP_SCAN;
    const read = await readJournal(
      {
        unit: input.unit,
        priority: input.priority,
        since: input.since,
        until: input.until,
        boot: input.boot,
        lines: readLines,
        afterCursor: input.cursor,
      },
      ctx,
      grep === undefined ? undefined : WIDE_LIMITS,
    );
    const lastRead = read.entries.at(-1)?.cursor ?? null;
    const more = read.cut || read.entries.length >= readLines;
    if (grep === undefined) {
      return { entries: read.entries, nextCursor: lastRead ?? input.cursor ?? null, scanned: read.entries.length, truncated: more };
    }
    // Literal match in JS: a caller's text never reaches journalctl's PCRE --grep.
    const matches = read.entries.filter((e) => e.message.includes(grep));
    const page = forward ? matches.slice(0, input.lines) : matches.slice(-input.lines);
    // Forward with a full page: continue right after its last match; otherwise after all that was read.
    const nextCursor = forward && matches.length > input.lines ? (page.at(-1)?.cursor ?? null) : (lastRead ?? input.cursor ?? null);
    return { entries: page, nextCursor, scanned: read.entries.length, truncated: more || matches.length > input.lines };
  },

  async analyze_errors(input, ctx) {
    const unit = input.unit === undefined ? undefined : canonicalUnit(input.unit);
    const read = await readJournal({ unit, priority: "err", since: input.since, lines: ANALYZE_SCAN }, ctx, WIDE_LIMITS);
    const groups = groupErrors(read.entries);
    return {
      since: input.since,
      unit: unit ?? null,
      scanned: read.entries.length,
      truncated: read.cut || read.entries.length >= ANALYZE_SCAN,
      totalGroups: groups.length,
      groups: groups.slice(0, input.top),
    };
  },

  async get_kernel_messages(input, ctx) {
    const read = await readJournal({ kernel: true, lines: input.lines, priority: input.priority, since: input.since }, ctx);
    return {
      entries: read.entries,
      cursor: read.entries.at(-1)?.cursor ?? null,
      truncated: read.cut || read.entries.length >= input.lines,
    };
  },
};
