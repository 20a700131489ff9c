// Pure grouping of journal errors for analyze_errors: messages that differ only in numbers,
// addresses, identifiers or paths fall into one group ("connection to <ip>:<n> failed").
import { isIPv4, isIPv6 } from "node:net";
import { type JournalEntry, type PriorityName, severity } from "./journal-json";

const UUID = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi;
// Candidates only; each is confirmed with net.isIPv6 so times like 23:53:21 stay as they are.
// Not inside a word, so C++'s std::string is left alone.
const IPV6_CANDIDATE = /(?<![\w:.])[0-9a-f]*:[0-9a-f:]*:[0-9a-f.]*(?![\w:])/gi;
const IPV4 = /\b\d{1,3}(?:\.\d{1,3}){3}\b/g;
// An absolute path at the start, after whitespace or after an opening quote/bracket/"=".
// A trailing ":" ends it ("cannot open /etc/x.conf: No such file").
const PATH = /(^|[\s'"([=,])\/[^\s'"()[\]{},;:]*/g;
const HEX = /\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b/gi;
const NUMBER = /\b\d+(?:\.\d+)?\b/g;

const PATTERN_MAX = 256;

/** The message with variable parts replaced by placeholders, whitespace collapsed. */
export function normalizeMessage(message: string): string {
  const out = message
    .replace(UUID, "<uuid>")
    .replace(IPV6_CANDIDATE, (m) => (isIPv6(m) ? "<ip>" : m))
    .replace(IPV4, (m) => (isIPv4(m) ? "<ip>" : m))
    .replace(PATH, (_m, lead: string) => `${lead}<path>`)
    .replace(HEX, "<hex>")
    .replace(NUMBER, "<n>")
    .replace(/\s+/g, " ")
    .trim();
  return out.length > PATTERN_MAX ? `${out.slice(0, PATTERN_MAX)}…` : out;
}

export interface ErrorGroup {
  unit: string | null;
  pattern: string;
  count: number;
  priority: PriorityName | null;
  firstSeen: string;
  lastSeen: string;
  sample: string;
}

/** Groups entries by unit (else identifier) and normalised message, most frequent first. */
export function groupErrors(entries: readonly JournalEntry[]): ErrorGroup[] {
  const groups = new Map<string, ErrorGroup>();
  for (const e of entries) {
    const unit = e.unit ?? e.identifier;
    const pattern = normalizeMessage(e.message);
    const key = `${unit ?? ""}\u0000${pattern}`;
    const g = groups.get(key);
    if (!g) {
      groups.set(key, { unit, pattern, count: 1, priority: e.priority, firstSeen: e.time, lastSeen: e.time, sample: e.message });
      continue;
    }
    g.count += 1;
    if (severity(e.priority) < severity(g.priority)) g.priority = e.priority;
    if (e.time < g.firstSeen) g.firstSeen = e.time;
    if (e.time >= g.lastSeen) {
      g.lastSeen = e.time;
      g.sample = e.message;
    }
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || (a.lastSeen < b.lastSeen ? 1 : a.lastSeen > b.lastSeen ? -1 : 0));
}
