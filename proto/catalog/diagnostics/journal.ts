// Journal-based log diagnostics (group "logs"): journalctl -o json, bounded. Caller patterns are
// never handed to journalctl's PCRE --grep: `grep` is a literal match done by the agent.
import { z } from "zod";
import { defineDiagnostic } from "../define";
import { count, journalCursor, journalTime, literalText, PRIORITIES, priority, unitName } from "../grammar";

/** A boot offset as journalctl --boot accepts it: 0 = current boot, -1 = previous, … */
const bootOffset = z
  .number()
  .int({ message: "boot must be an integer" })
  .min(-1000, { message: "boot must be at least -1000" })
  .max(0, { message: "boot must be 0 (current boot) or negative (-1 = the previous boot)" });

/** One journal entry as every journal diagnostic returns it (fields validated and capped by the agent). */
export const journalEntry = z.object({
  time: z.string().describe("ISO 8601 UTC"),
  priority: z.enum(PRIORITIES).nullable(),
  unit: z.string().nullable().describe("the systemd unit that logged it (or that systemd logged about)"),
  identifier: z.string().nullable().describe("SYSLOG_IDENTIFIER, else the command name"),
  pid: z.number().int().nullable(),
  message: z.string().describe("capped at 2 KiB; control characters shown as \\xNN"),
  messageTruncated: z.boolean(),
  cursor: z.string().nullable(),
});

export const getJournalLogs = defineDiagnostic({
  name: "get_journal_logs",
  group: "logs",
  title: "Journal logs",
  summary:
    "Journal entries (oldest first) filtered by unit, priority, time window, boot and a literal text; page forward with the returned nextCursor. Use get_service_logs for a quick look at one unit.",
  input: () => z.strictObject({
    unit: unitName.optional(),
    priority: priority.optional().describe("this level and more severe"),
    since: journalTime.optional(),
    until: journalTime.optional(),
    boot: bootOffset.optional().describe("0 = current boot, -1 = previous, …"),
    lines: count(1, 1000, 100),
    cursor: journalCursor.optional().describe("continue after this cursor (nextCursor of a previous page)"),
    grep: literalText("grep", 256).optional().describe("literal text the message must contain (case-sensitive)"),
  }),
  output: () => z.object({
    entries: z.array(journalEntry),
    nextCursor: z.string().nullable().describe("pass as cursor to get the following entries; null when nothing was read"),
    scanned: z.number().int().describe("entries read from the journal (more than returned when grep filters)"),
    truncated: z.boolean().describe("true when more entries may follow this page"),
  }),
  volatile: ["entries[].pid", "entries[].cursor"],
  limits: [
    "1..1000 entries (default 100), each message capped at 2 KiB.",
    "With cursor, the page starts right after it; without, the newest `lines` entries are returned.",
    "grep is a literal match over at most 5000 entries read per call; journalctl deadline 10 s, output capped at 8 MiB.",
  ],
  examples: [
    { description: "Errors of the previous boot (before the last reboot)", input: { priority: "err", boot: -1 } },
    { description: "sshd lines mentioning a user, last day", input: { unit: "ssh", since: "-1d", grep: "Failed password" } },
  ],
});

export const analyzeErrors = defineDiagnostic({
  name: "analyze_errors",
  group: "logs",
  title: "Error analysis",
  summary:
    "Journal errors (priority err or worse) over a window, grouped by unit and normalised message (numbers, hex, UUIDs, IPs and paths replaced by placeholders), most frequent first. Use it to see what keeps failing.",
  input: () => z.strictObject({
    since: journalTime.default("-1h"),
    unit: unitName.optional(),
    top: count(1, 100, 20).describe("groups to return"),
  }),
  output: () => z.object({
    since: z.string(),
    unit: z.string().nullable(),
    scanned: z.number().int().describe("error entries read"),
    truncated: z.boolean().describe("true when the 5000-entry read limit was reached: counts cover the newest 5000 only"),
    totalGroups: z.number().int(),
    groups: z.array(
      z.object({
        unit: z.string().nullable(),
        pattern: z.string().describe("the normalised message, e.g. connection to <ip>:<n> failed"),
        count: z.number().int(),
        priority: z.enum(PRIORITIES).nullable().describe("the most severe priority seen in the group"),
        firstSeen: z.string(),
        lastSeen: z.string(),
        sample: z.string().describe("the newest message of the group, as logged"),
      }),
    ),
  }),
  volatile: ["groups[].firstSeen", "groups[].lastSeen"],
  limits: ["Reads at most 5000 error entries (newest first); returns 1..100 groups (default 20); journalctl deadline 15 s, output capped at 16 MiB."],
  examples: [
    { description: "What failed in the last hour", input: {} },
    { description: "Errors of nginx today", input: { since: "today", unit: "nginx" } },
  ],
});

export const getKernelMessages = defineDiagnostic({
  name: "get_kernel_messages",
  group: "logs",
  title: "Kernel messages",
  summary: "Kernel log entries of the current boot from the journal (journalctl -k): OOM kills, disk and network driver errors.",
  input: () => z.strictObject({
    lines: count(1, 1000, 100),
    priority: priority.optional(),
    since: journalTime.optional(),
  }),
  output: () => z.object({
    entries: z.array(journalEntry),
    cursor: z.string().nullable(),
    truncated: z.boolean(),
  }),
  volatile: ["entries[].pid", "entries[].cursor"],
  limits: ["1..1000 entries (default 100), each message capped at 2 KiB; journalctl deadline 10 s, output capped at 8 MiB."],
  examples: [
    { description: "Recent kernel errors", input: { priority: "err" } },
    { description: "Kernel messages of the last 10 minutes", input: { since: "-10min", lines: 200 } },
  ],
});

export const journalDiagnostics = [getJournalLogs, analyzeErrors, getKernelMessages] as const;
