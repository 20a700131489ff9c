// The per-host results behind a summary answer, kept so that its `page` cursor can show them
// without running the diagnostic on every host again. Bounded in count, bytes and time:
//   - at most MAX_ANSWERS calls, MAX_BYTES of results (their JSON length), each for TTL_MS;
//   - least recently used first out; a call larger than MAX_BYTES alone is not kept (its summary
//     says so: no cursor).
// One store per broker process, shared by its MCP sessions; an answer is paged only by the caller
// (transport and HTTP token) that made the call, for the same tool and arguments.
// A cursor is base64url(JSON {a: answer id, o: offset of the page's first host}); a page is
// byte-bounded (at least one host) and ends with the cursor of the next, so paging from the first
// cursor shows every host of the call exactly once, in inventory order.
import { randomUUID } from "node:crypto";
import type { CallerIdentity } from "../audit/records";
import type { HostResult, HostResults } from "./host-results";

const ANSWERS_TTL_MS = 10 * 60_000;
const MAX_ANSWERS = 32;
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;
const MAX_CURSOR_CHARS = 256;

export interface StoredAnswer {
  id: string;
  /** The call whose results these are (its audit records carry this id). */
  callId: string;
  tool: string;
  /** canonical JSON of the call's arguments, `view` and `page` aside. */
  args: string;
  caller: string;
  results: HostResult[];
  summary: HostResults["summary"];
  /** JSON length of each result, for page sizing. */
  sizes: number[];
  bytes: number;
  expires: number;
}

export type CursorProblem = { code: "PAGE_INVALID" | "PAGE_EXPIRED" | "PAGE_MISMATCH"; message: string };

/** Who may page an answer: the transport and, over HTTP, the token's label. */
export function callerKey(caller: CallerIdentity): string {
  return `${caller.transport}:${caller.token ?? ""}:${caller.user ?? ""}`;
}

export function encodeCursor(id: string, offset: number): string {
  return Buffer.from(JSON.stringify({ a: id, o: offset })).toString("base64url");
}

function decodeCursor(cursor: string): { id: string; offset: number } | undefined {
  if (cursor.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  try {
    const v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as { a?: unknown; o?: unknown };
    if (typeof v.a !== "string" || typeof v.o !== "number" || !Number.isSafeInteger(v.o) || v.o < 0) return undefined;
    return { id: v.a, offset: v.o };
  } catch {
    return undefined;
  }
}

export class AnswerStore {
  /** Insertion order is recency order: a read moves the answer to the end. */
  readonly #answers = new Map<string, StoredAnswer>();
  #bytes = 0;

  constructor(
    private readonly limits = { ttlMs: ANSWERS_TTL_MS, maxAnswers: MAX_ANSWERS, maxBytes: MAX_ANSWER_BYTES },
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    this.#expire();
    return this.#answers.size;
  }

  /** Keeps a call's results; returns its id, or undefined when they alone exceed the byte bound. */
  put(entry: { callId: string; tool: string; args: string; caller: string; output: HostResults }): string | undefined {
    this.#expire();
    const sizes = entry.output.results.map((r) => Buffer.byteLength(JSON.stringify(r), "utf8"));
    const bytes = sizes.reduce((a, b) => a + b, 0);
    if (bytes > this.limits.maxBytes) return undefined;
    const id = randomUUID();
    this.#answers.set(id, {
      id,
      callId: entry.callId,
      tool: entry.tool,
      args: entry.args,
      caller: entry.caller,
      results: entry.output.results,
      summary: entry.output.summary,
      sizes,
      bytes,
      expires: this.now() + this.limits.ttlMs,
    });
    this.#bytes += bytes;
    while (this.#answers.size > this.limits.maxAnswers || this.#bytes > this.limits.maxBytes) this.#drop(this.#answers.keys().next().value!);
    return id;
  }

  /** The answer a cursor pages, checked against the call that presents it. */
  resolve(cursor: string, call: { tool: string; args: string; caller: string }): { ok: true; answer: StoredAnswer; offset: number } | { ok: false; problem: CursorProblem } {
    const decoded = decodeCursor(cursor);
    if (!decoded) return { ok: false, problem: { code: "PAGE_INVALID", message: "not a cursor this broker issued (pass the `page` of a summary or of a page unchanged)" } };
    this.#expire();
    const answer = this.#answers.get(decoded.id);
    if (!answer || answer.caller !== call.caller) {
      const kept = `answers are kept ${this.limits.ttlMs / 60_000} minutes, at most ${this.limits.maxAnswers} of them and ${this.limits.maxBytes / (1024 * 1024)} MiB`;
      return { ok: false, problem: { code: "PAGE_EXPIRED", message: `the cursor is unknown or has expired (${kept}): call ${call.tool} again without page` } };
    }
    if (answer.tool !== call.tool || answer.args !== call.args) {
      return {
        ok: false,
        problem: { code: "PAGE_MISMATCH", message: `the cursor pages a ${answer.tool} call with other arguments (${answer.args}): pass those arguments with page` },
      };
    }
    if (decoded.offset >= answer.results.length) return { ok: false, problem: { code: "PAGE_INVALID", message: "the cursor points past the call's last host" } };
    this.#answers.delete(answer.id);
    this.#answers.set(answer.id, answer);
    return { ok: true, answer, offset: decoded.offset };
  }

  #expire(): void {
    const now = this.now();
    for (const [id, a] of this.#answers) if (a.expires <= now) this.#drop(id);
  }

  #drop(id: string): void {
    const a = this.#answers.get(id);
    if (!a) return;
    this.#answers.delete(id);
    this.#bytes -= a.bytes;
  }
}

/**
 * The hosts of one page: from `offset`, as many whole results as fit in `maxBytes` of JSON (at
 * least one); `next` is the offset of the following page, undefined after the last host.
 */
export function pageOf(answer: StoredAnswer, offset: number, maxBytes: number): { results: HostResult[]; next: number | undefined } {
  let end = offset;
  let used = 0;
  while (end < answer.results.length && (end === offset || used + answer.sizes[end]! + 1 <= maxBytes)) {
    used += answer.sizes[end]! + 1;
    end++;
  }
  return { results: answer.results.slice(offset, end), next: end < answer.results.length ? end : undefined };
}
