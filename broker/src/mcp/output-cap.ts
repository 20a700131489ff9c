// Keeps a tool's structured output under broker.yaml's maxOutputBytes. Generic over the catalog:
// the largest arrays in the hosts' data are cut (long strings next), the affected results and the
// whole output are marked `truncated`, and paging stays correct by the catalog's conventions:
//   - entries carrying a `cursor` (journal): the sibling `nextCursor` (and the result's
//     `nextCursor`) become the cursor of the last entry kept, so the next page starts right there;
//   - `lines` beside `mode: "tail"` (read_log_file): the oldest lines are cut, the newest kept;
//   - `lines` beside `mode: "range"`: the last lines are cut and `nextOffset` moved back to just
//     after the last line kept (exact for UTF-8 text with "\n" line ends);
//   - a sibling boolean `truncated` is set to true.
// Data that no longer satisfies its schema after a cut, or that cannot be made small enough, is
// replaced by an OUTPUT_TOO_LARGE error for that host. The per-host envelope (host, ok, error)
// always stays: with thousands of hosts it alone may exceed the cap, and dropping hosts silently
// would be worse than a large answer.
import { summarize, type HostResult, type HostResults } from "./host-results";

const MIN_STRING_CUT = 256;
const MAX_ROUNDS = 200;

interface Candidate {
  result: HostResult;
  parent: Record<string, unknown> | unknown[];
  key: string | number;
  size: number;
}

function bytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? "", "utf8");
}

function collect(result: HostResult, node: unknown, parent: Candidate["parent"] | undefined, key: string | number, out: Candidate[]): void {
  if (typeof node === "string") {
    if (parent && node.length > MIN_STRING_CUT) out.push({ result, parent, key, size: bytes(node) });
  } else if (Array.isArray(node)) {
    if (parent && node.length > 0) out.push({ result, parent, key, size: bytes(node) });
    node.forEach((child, i) => collect(result, child, node, i, out));
  } else if (node !== null && typeof node === "object") {
    for (const [k, child] of Object.entries(node)) collect(result, child, node as Record<string, unknown>, k, out);
  }
}

function cursorOf(entry: unknown): string | undefined {
  const c = (entry as { cursor?: unknown } | null)?.cursor;
  return typeof c === "string" ? c : undefined;
}

function tooLarge(result: HostResult, size: number, maxBytes: number): void {
  delete result.data;
  delete result.nextCursor;
  result.ok = false;
  result.truncated = true;
  result.error = {
    code: "OUTPUT_TOO_LARGE",
    message: `reply of ${size} bytes exceeds the output cap (${maxBytes} bytes): narrow the arguments or the target`,
  };
}

function lineBytes(lines: readonly unknown[]): number {
  return lines.reduce<number>((n, l) => n + (typeof l === "string" ? Buffer.byteLength(l, "utf8") + 1 : 0), 0);
}

/** Removes `remove` elements from an array, keeping its siblings' paging fields true. */
function cutArray(c: Candidate, value: unknown[], remove: number): void {
  const parent = Array.isArray(c.parent) ? undefined : c.parent;
  if (parent && "truncated" in parent && typeof parent.truncated === "boolean") parent.truncated = true;
  if (parent && c.key === "lines" && parent.mode === "tail") {
    const removed = value.splice(0, remove);
    if (typeof parent.startOffset === "number") parent.startOffset += lineBytes(removed);
    return;
  }
  const kept = value.length - remove;
  const removedHadCursor = cursorOf(value[kept]) !== undefined;
  value.length = kept;
  if (parent && c.key === "lines" && parent.mode === "range" && typeof parent.startOffset === "number" && typeof parent.nextOffset === "number") {
    parent.nextOffset = parent.startOffset + lineBytes(value);
    return;
  }
  const last = kept > 0 ? cursorOf(value[kept - 1]) : undefined;
  if (removedHadCursor && last !== undefined) {
    c.result.nextCursor = last;
    if (parent && "nextCursor" in parent) parent.nextCursor = last;
  }
}

export function capOutput<T>(output: HostResults<T>, maxBytes: number, isValidData: (data: unknown) => boolean): HostResults<T> {
  if (bytes(output) <= maxBytes) return output;
  const out = structuredClone(output) as HostResults<unknown>;
  out.truncated = true;
  const cut = new Set<HostResult>();

  for (let round = 0; round < MAX_ROUNDS; round++) {
    const total = bytes(out);
    if (total <= maxBytes) break;
    const excess = total - maxBytes;
    const candidates: Candidate[] = [];
    for (const r of out.results) if (r.data !== undefined) collect(r, r.data, undefined, "", candidates);
    candidates.sort((a, b) => b.size - a.size);
    const c = candidates[0];
    if (!c) {
      // Nothing left to trim inside the data: drop the biggest remaining data whole.
      const biggest = out.results.filter((r) => r.data !== undefined).sort((a, b) => bytes(b.data) - bytes(a.data))[0];
      if (!biggest) break;
      tooLarge(biggest, bytes(biggest.data), maxBytes);
      continue;
    }
    const value = (c.parent as Record<string | number, unknown>)[c.key];
    cut.add(c.result);
    c.result.truncated = true;
    if (Array.isArray(value)) {
      const avg = c.size / value.length;
      cutArray(c, value, Math.min(value.length, Math.ceil(excess / avg) + 1));
    } else if (typeof value === "string") {
      const keep = Math.max(0, value.length - excess - 64);
      (c.parent as Record<string | number, unknown>)[c.key] = `${value.slice(0, keep)}…[truncated]`;
    }
  }

  for (const r of cut) {
    if (r.data !== undefined && !isValidData(r.data)) tooLarge(r, bytes(r.data), maxBytes);
  }
  // A last resort if trimming could not get under the cap (many hosts).
  while (bytes(out) > maxBytes) {
    const biggest = out.results.filter((r) => r.data !== undefined).sort((a, b) => bytes(b.data) - bytes(a.data))[0];
    if (!biggest) break;
    tooLarge(biggest, bytes(biggest.data), maxBytes);
  }
  out.summary = summarize(out.results);
  return out as HostResults<T>;
}
