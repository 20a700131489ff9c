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

/** A max-heap of result indexes by their largest candidate (ties: the earlier result first). */
class ResultHeap {
  readonly #items: number[] = [];
  constructor(private readonly top: (index: number) => number) {}
  #before(a: number, b: number): boolean {
    const ta = this.top(a);
    const tb = this.top(b);
    return ta > tb || (ta === tb && a < b);
  }
  push(index: number): void {
    const h = this.#items;
    h.push(index);
    for (let i = h.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!this.#before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  pop(): number | undefined {
    const h = this.#items;
    const first = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.#before(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.#before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return first;
  }
}

/**
 * Cuts `output` down to `maxBytes` of JSON. Each round cuts the largest candidate (array or long
 * string) across all hosts' data, as a whole-output search would, but only the host it belongs to is
 * re-measured: the total is kept up to date from per-result sizes, candidates are kept per result,
 * and a heap finds the largest. A round therefore costs one host's data, not the whole output (with
 * a thousand hosts, re-serialising everything each round took minutes of the broker's only thread).
 * Results are copied on first change; the input is never modified.
 */
export function capOutput<T>(output: HostResults<T>, maxBytes: number, isValidData: (data: unknown) => boolean): HostResults<T> {
  if (bytes(output) <= maxBytes) return output;
  const original = output.results as HostResult[];
  const out: HostResults<unknown> = { ...(output as HostResults<unknown>), results: original.slice(), summary: { ...output.summary }, truncated: true };
  const results = out.results;
  const copied = new Uint8Array(results.length);
  const sizes = results.map((r) => bytes(r));
  const candidates: Candidate[][] = results.map((r) => candidatesOf(r));
  let total = bytes(out);

  const writable = (i: number): HostResult => {
    if (copied[i] === 0) {
      results[i] = structuredClone(original[i]!);
      copied[i] = 1;
      candidates[i] = candidatesOf(results[i]!);
    }
    return results[i]!;
  };
  const remeasure = (i: number): void => {
    const size = bytes(results[i]);
    total += size - sizes[i]!;
    sizes[i] = size;
  };
  const drop = (i: number): void => {
    const r = writable(i);
    tooLarge(r, bytes(r.data), maxBytes);
    candidates[i] = [];
    remeasure(i);
  };
  const heap = new ResultHeap((i) => candidates[i]![0]?.size ?? -1);
  results.forEach((_, i) => {
    if (candidates[i]!.length > 0) heap.push(i);
  });
  const cut = new Set<number>();
  const maxRounds = MAX_ROUNDS + 4 * results.length;

  for (let round = 0; round < maxRounds && total > maxBytes; round++) {
    const excess = total - maxBytes;
    const i = heap.pop();
    // Nothing left to trim inside the data: the last resort below drops whole data.
    if (i === undefined) break;
    const r = writable(i);
    const c = candidates[i]![0]!;
    const value = (c.parent as Record<string | number, unknown>)[c.key];
    cut.add(i);
    r.truncated = true;
    if (Array.isArray(value)) {
      const avg = c.size / value.length;
      cutArray(c, value, Math.min(value.length, Math.ceil(excess / avg) + 1));
    } else if (typeof value === "string") {
      const keep = Math.max(0, value.length - excess - 64);
      (c.parent as Record<string | number, unknown>)[c.key] = `${value.slice(0, keep)}…[truncated]`;
    }
    candidates[i] = candidatesOf(r);
    remeasure(i);
    if (candidates[i]!.length > 0) heap.push(i);
  }

  for (const i of cut) {
    const r = results[i]!;
    if (r.data !== undefined && !isValidData(r.data)) drop(i);
  }
  // A last resort if trimming could not get under the cap (many hosts): drop the biggest data
  // whole, then re-check with the final summary (its counts can change its length).
  for (;;) {
    out.summary = summarize(results);
    total = bytes(out);
    if (total <= maxBytes) break;
    const order = results
      .map((r, i) => ({ i, size: r.data === undefined ? -1 : bytes(r.data) }))
      .filter((e) => e.size >= 0)
      .sort((a, b) => b.size - a.size || a.i - b.i);
    if (order.length === 0) break;
    for (const { i } of order) {
      if (total <= maxBytes) break;
      drop(i);
    }
  }
  return out as HostResults<T>;
}

function candidatesOf(result: HostResult): Candidate[] {
  const found: Candidate[] = [];
  if (result.data !== undefined) collect(result, result.data, undefined, "", found);
  return found.sort((a, b) => b.size - a.size);
}
