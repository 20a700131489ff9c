// Line search over a stream of chunks, in bounded memory whatever the file size.
// - literal: a WebAssembly SIMD needle search and newline count on each chunk (search-kernel.ts;
//   ASCII case folding for ignoreCase), with the last needle-1 bytes of a line carried over so a
//   match split across two chunks is found;
// - regex: RE2 syntax through re2js, linear time in the input; never a backtracking RegExp on a
//   caller's pattern. A regex sees the first `maxLineBytes` of each line (lines are assembled to
//   be matched); a literal sees whole lines of any length.
// Memory: one chunk, one folded copy of it (both in the kernel's memory), the head of the current
// line, the context ring and the matches (all capped).
import type { FileHandle } from "node:fs/promises";
import { RE2JS } from "re2js";
import { DiagnosticError } from "./diagnostics/context";
import { LiteralScan, readBuffers } from "./search-kernel";

type SearchMode = "literal" | "regex";

export interface PatternSpec {
  pattern: string;
  mode: SearchMode;
  ignoreCase: boolean;
}

export type CompiledPattern =
  | { kind: "literal"; needle: Buffer; foldAscii: boolean }
  | { kind: "regex"; re: RE2JS };

/** RE2 program size beyond which a pattern is refused (keeps per-line work small). */
export const MAX_PROGRAM_SIZE = 20_000;

function invalid(reason: string): DiagnosticError {
  return new DiagnosticError("INVALID_ARGUMENT", `pattern: ${reason}`);
}

/** Compiles a caller's pattern; throws INVALID_ARGUMENT naming "pattern". */
export function compilePattern(spec: PatternSpec): CompiledPattern {
  const { pattern, mode, ignoreCase } = spec;
  if (pattern.length === 0) throw invalid("must not be empty");
  if (/[\r\n\0]/.test(pattern)) throw invalid("must not contain a newline or NUL (the search is per line)");
  if (mode === "literal") {
    if (!ignoreCase || /^\p{ASCII}*$/u.test(pattern)) {
      return { kind: "literal", needle: Buffer.from(ignoreCase ? pattern.toLowerCase() : pattern, "utf8"), foldAscii: ignoreCase };
    }
    // Unicode case folding is RE2's job: the literal, quoted, is matched case-insensitively.
    return { kind: "regex", re: RE2JS.compile(RE2JS.quote(pattern), RE2JS.CASE_INSENSITIVE) };
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern, ignoreCase ? RE2JS.CASE_INSENSITIVE : 0);
  } catch (err) {
    throw invalid(`not a valid RE2 expression: ${(err as Error).message}`);
  }
  if (re.programSize() > MAX_PROGRAM_SIZE) {
    throw invalid(`too complex (RE2 program size ${re.programSize()} > ${MAX_PROGRAM_SIZE}); simplify it`);
  }
  return { kind: "regex", re };
}

export interface ScanLimits {
  /** Matches to collect; scanning stops once they (and their after-context) are complete. */
  maxMatches: number;
  /** Lines of context before and after each match. */
  contextLines: number;
  /** Bytes to scan at most. */
  maxBytes: number;
  /** Characters of returned text (lines + context) at most. */
  maxOutputChars?: number;
  /** Bytes of a line a regex is matched against (default 64 KiB). */
  maxLineBytes?: number;
  /** Bytes of a line returned (default 512). */
  displayBytes?: number;
  signal?: AbortSignal;
}

export interface LineMatch {
  /** 1-based. */
  lineNumber: number;
  /** Byte offset of the line's start. */
  offset: number;
  line: string;
  /** The line was longer than what is returned. */
  lineTruncated: boolean;
  before: string[];
  after: string[];
}

export type StopReason = "max_matches" | "max_bytes" | "max_output";

export interface ScanResult {
  matches: LineMatch[];
  bytesScanned: number;
  linesScanned: number;
  /** Why the scan ended before the end of input; null when it read everything. */
  stoppedBy: StopReason | null;
}

const NEWLINE = 0x0a;

function decodeLine(bytes: Buffer): string {
  const s = bytes.toString("utf8");
  return s.endsWith("\r") ? s.slice(0, -1) : s;
}

/** Offset of the start of the line holding byte `i` (0 when no newline precedes it). */
function lineStartBefore(buf: Buffer, i: number): number {
  // lastIndexOf with a negative offset would count from the end: guard the first line.
  return i <= 0 ? 0 : buf.lastIndexOf(NEWLINE, i - 1) + 1;
}

class Stop extends Error {
  constructor(readonly reason: StopReason) {
    super(reason);
  }
}

/**
 * Scans `source` line by line. Chunks may be reused by the producer after the next one is pulled:
 * everything retained is copied first.
 */
export async function scanChunks(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  pattern: CompiledPattern,
  limits: ScanLimits,
): Promise<ScanResult> {
  const maxLineBytes = limits.maxLineBytes ?? 64 * 1024;
  const displayBytes = limits.displayBytes ?? 512;
  const maxOutputChars = limits.maxOutputChars ?? 1024 * 1024;
  const headCap = pattern.kind === "regex" ? Math.max(maxLineBytes, displayBytes) : displayBytes;
  const needle = pattern.kind === "literal" ? pattern.needle : Buffer.alloc(0);
  const overlap = Math.max(needle.length - 1, 0);

  const matches: LineMatch[] = [];
  const ring: string[] = [];
  const waitingAfter: LineMatch[] = [];
  let outputChars = 0;
  let bytes = 0;
  let lines = 0;
  let stoppedBy: StopReason | null = null;

  // The current line: its start offset, a copy of its head when it began in an earlier chunk,
  // and (literal) whether it matched already plus its last `overlap` folded bytes.
  let lineStart = 0;
  let carried: Buffer[] = [];
  let carriedLen = 0;
  let lineLen = 0;
  let lineMatched = false;
  let tail = Buffer.alloc(0);
  const lit = pattern.kind === "literal" ? new LiteralScan(pattern.needle, pattern.foldAscii) : null;

  const take = (s: string): string => {
    outputChars += s.length;
    if (outputChars > maxOutputChars) throw new Stop("max_output");
    return s;
  };

  const endLine = (head: Buffer) => {
    lines++;
    const matched = pattern.kind === "literal" ? lineMatched : pattern.re.test(decodeLine(head));
    let text: string | undefined;
    const display = () => (text ??= decodeLine(head.subarray(0, displayBytes)));
    if (waitingAfter.length > 0) {
      for (const m of waitingAfter) m.after.push(take(display()));
      while (waitingAfter.length > 0 && waitingAfter[0]!.after.length >= limits.contextLines) waitingAfter.shift();
    }
    if (matched && matches.length < limits.maxMatches) {
      const m: LineMatch = {
        lineNumber: lines,
        offset: lineStart,
        line: take(display()),
        lineTruncated: lineLen > displayBytes,
        before: [...ring],
        after: [],
      };
      for (const b of ring) take(b);
      matches.push(m);
      if (limits.contextLines > 0) waitingAfter.push(m);
    }
    if (limits.contextLines > 0) {
      ring.push(display());
      if (ring.length > limits.contextLines) ring.shift();
    }
    if (matches.length >= limits.maxMatches && waitingAfter.length === 0) throw new Stop("max_matches");
    carried = [];
    carriedLen = 0;
    lineLen = 0;
    lineMatched = false;
    tail = Buffer.alloc(0);
  };

  // Head of the current line made of the carried copy and `piece` (a view into this chunk).
  const headWith = (piece: Buffer): Buffer => {
    if (carriedLen === 0) return piece.subarray(0, headCap);
    const room = Math.max(headCap - carriedLen, 0);
    return Buffer.concat([...carried, piece.subarray(0, room)]);
  };

  try {
    for await (const raw of source) {
      if (limits.signal?.aborted) throw new DiagnosticError("DEADLINE_EXCEEDED", "search cancelled: the call's deadline passed");
      let chunk = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      if (bytes + chunk.length > limits.maxBytes) {
        chunk = chunk.subarray(0, limits.maxBytes - bytes);
        stoppedBy = "max_bytes";
      }
      const chunkStart = bytes;
      bytes += chunk.length;
      let hay = chunk;
      if (lit !== null) ({ chunk, hay } = lit.prepare(chunk));
      let nextHit = -2; // -2: not searched yet in this chunk; -1: no more hits in it
      let pos = 0;
      while (pos <= chunk.length) {
        if (lit !== null && lineLen === 0 && carriedLen === 0 && waitingAfter.length === 0) {
          // Fast path, at the start of a line that begins in this chunk: whole lines before the
          // line of the next hit (or before the chunk's unfinished last line) cannot match, so
          // they are only counted (one SIMD pass, no per-line work), except
          // the last `contextLines` of them, which go through the per-line path for the ring.
          if (nextHit !== -1 && nextHit < pos) nextHit = lit.find(hay, pos);
          const end = Math.max(pos, lineStartBefore(chunk, nextHit === -1 ? chunk.length : nextHit));
          let skipTo = end;
          for (let k = 0; k < limits.contextLines && skipTo > pos; k++) skipTo = Math.max(pos, lineStartBefore(chunk, skipTo - 1));
          if (skipTo > pos) {
            lines += lit.countNewlines(chunk, pos, skipTo);
            pos = skipTo;
            lineStart = chunkStart + pos;
          }
        }
        const nl = chunk.indexOf(NEWLINE, pos);
        const end = nl === -1 ? chunk.length : nl;
        if (nl === -1 && end === pos) break; // nothing left of this chunk
        if (lit !== null && !lineMatched) {
          // A match spanning the previous chunk and this one.
          if (pos === 0 && tail.length > 0) {
            const seam = Buffer.concat([tail, hay.subarray(0, Math.min(end, overlap))]);
            if (seam.indexOf(needle) !== -1) lineMatched = true;
          }
          if (!lineMatched) {
            if (nextHit !== -1 && nextHit < pos) nextHit = lit.find(hay, pos);
            if (nextHit !== -1 && nextHit + needle.length <= end) lineMatched = true;
          }
        }
        const piece = chunk.subarray(pos, end);
        if (nl === -1) {
          // The line continues in the next chunk: keep its head and, for a literal, its tail.
          if (carriedLen < headCap) {
            const part = Buffer.from(piece.subarray(0, headCap - carriedLen));
            carried.push(part);
            carriedLen += part.length;
          }
          if (pattern.kind === "literal" && overlap > 0) {
            const joined = Buffer.concat([tail, hay.subarray(pos, end)]);
            tail = Buffer.from(joined.subarray(Math.max(joined.length - overlap, 0)));
          }
          lineLen += piece.length;
          break;
        }
        lineLen += piece.length;
        endLine(headWith(piece));
        pos = nl + 1;
        lineStart = chunkStart + pos;
      }
      if (stoppedBy === "max_bytes") break;
    }
    // A last line without a final newline (or cut by the byte budget).
    if (lineLen > 0) endLine(carriedLen > 0 ? Buffer.concat(carried) : Buffer.alloc(0));
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
    stoppedBy = err.reason;
  }
  return { matches, bytesScanned: bytes, linesScanned: lines, stoppedBy };
}

/**
 * Reads a file front to back in chunks of two reused buffers (see scanChunks): the read of the
 * next chunk runs on libuv's thread pool while the caller scans this one, so reading and matching
 * overlap. A buffer is refilled only after the caller has pulled the chunk that follows it.
 * The buffers sit in the search kernel's memory, where a literal search scans them in place; once
 * the generator is done they may serve the next search, so a caller must not keep a chunk after
 * it (scanChunks keeps copies only).
 * Memory: 2 × chunkBytes, plus one more for the folded copy of a case-insensitive search.
 */
export async function* readChunks(handle: FileHandle, chunkBytes = 1024 * 1024): AsyncGenerator<Uint8Array> {
  const read = readBuffers(chunkBytes, 2);
  const bufs = [read.buffers[0]!, read.buffers[1]!] as const;
  let position = 0;
  let which = 0;
  const readInto = (buf: Buffer, at: number) => handle.read(buf, 0, buf.length, at);
  let pending = readInto(bufs[0], 0);
  try {
    for (;;) {
      const { bytesRead, buffer } = await pending;
      if (bytesRead === 0) return;
      position += bytesRead;
      which ^= 1;
      pending = readInto(which === 0 ? bufs[0] : bufs[1], position);
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    // A read still in flight when the caller stops early must settle before the handle closes
    // (and before the buffers serve another search).
    await pending.catch(() => undefined);
    read.release();
  }
}
