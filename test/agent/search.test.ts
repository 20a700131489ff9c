// Literal and RE2 line search (agent/src/search.ts). Issue 2: "search is literal or uses a
// linear-time engine, never backtracking on caller input"; bounded memory whatever the file size.
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DiagnosticError } from "../../agent/src/diagnostics/context";
import { compilePattern, MAX_PROGRAM_SIZE, readChunks, scanChunks, type CompiledPattern, type ScanLimits } from "../../agent/src/search";

const LIMITS: ScanLimits = { maxMatches: 1000, contextLines: 0, maxBytes: Number.MAX_SAFE_INTEGER };

function chunksOf(text: string | Buffer, size: number): Buffer[] {
  const buf = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

/** Chunks produced from ONE reused buffer, as readChunks does: retained views would be corrupted. */
function* reusedChunks(text: string, size: number): Generator<Uint8Array> {
  const src = Buffer.from(text);
  const buf = Buffer.alloc(size);
  for (let i = 0; i < src.length; i += size) {
    const n = src.copy(buf, 0, i, Math.min(i + size, src.length));
    yield buf.subarray(0, n);
    buf.fill(0x23); // scribble over it once the consumer moved on
  }
}

const lit = (pattern: string, ignoreCase = false) => compilePattern({ pattern, mode: "literal", ignoreCase });
const rx = (pattern: string, ignoreCase = false) => compilePattern({ pattern, mode: "regex", ignoreCase });

async function lineNumbers(text: string, pattern: CompiledPattern, chunk = 1 << 16): Promise<number[]> {
  const r = await scanChunks(chunksOf(text, chunk), pattern, LIMITS);
  return r.matches.map((m) => m.lineNumber);
}

function refusal(fn: () => unknown): DiagnosticError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DiagnosticError);
    return err as DiagnosticError;
  }
  throw new Error("expected a DiagnosticError");
}

describe("compilePattern", () => {
  it("refuses an invalid regex with INVALID_ARGUMENT naming pattern", () => {
    for (const bad of ["(a", "a)", "[z-a]", "*x", "a{2,1}", "\\C"]) {
      const e = refusal(() => rx(bad));
      expect(e.code).toBe("INVALID_ARGUMENT");
      expect(e.message).toMatch(/^pattern: not a valid RE2 expression/);
    }
  });

  it("refuses backtracking-only constructs (backreferences, lookaround)", () => {
    for (const bad of ["(a)\\1", "foo(?=bar)", "foo(?!bar)", "(?<=a)b"]) {
      expect(refusal(() => rx(bad)).message, bad).toMatch(/^pattern: /);
    }
  });

  it("refuses an RE2 program that is too large", () => {
    const e = refusal(() => rx("(abcdefghijklmnopqrstuvwxyz){1000}"));
    expect(e.message).toMatch(new RegExp(`pattern: too complex .* > ${MAX_PROGRAM_SIZE}`));
  });

  it("refuses an empty pattern and one with a newline or NUL, in both modes", () => {
    for (const mode of ["literal", "regex"] as const) {
      expect(refusal(() => compilePattern({ pattern: "", mode, ignoreCase: false })).message).toMatch(/pattern: must not be empty/);
      expect(refusal(() => compilePattern({ pattern: "a\nb", mode, ignoreCase: false })).message).toMatch(/pattern: must not contain a newline/);
      expect(refusal(() => compilePattern({ pattern: "a\0b", mode, ignoreCase: false })).message).toMatch(/pattern: /);
    }
  });

  it("treats regex metacharacters literally in literal mode", async () => {
    expect(await lineNumbers("a.b\naxb\n(a+)+$\n", lit("a.b"))).toEqual([1]);
    expect(await lineNumbers("a.b\naxb\n(a+)+$\n", lit("(a+)+$"))).toEqual([3]);
  });

  it("uses RE2 for a case-insensitive non-ASCII literal", async () => {
    const p = lit("ÉCHEC", true);
    expect(p.kind).toBe("regex");
    expect(await lineNumbers("ok\nun échec ici\nEchec\n", p)).toEqual([2]);
  });
});

describe("scanChunks: literal", () => {
  const text = ["alpha", "beta ERROR one", "gamma", "error two", "delta ERROR", "", "ERRORERROR"].join("\n") + "\n";

  it("finds lines, case-sensitive by default", async () => {
    expect(await lineNumbers(text, lit("ERROR"))).toEqual([2, 5, 7]);
  });

  it("folds ASCII case with ignoreCase", async () => {
    expect(await lineNumbers(text, lit("error", true))).toEqual([2, 4, 5, 7]);
    expect(await lineNumbers(text, lit("ErRoR", true))).toEqual([2, 4, 5, 7]);
  });

  it("gives the same answer for every chunk size (matches split across chunk boundaries)", async () => {
    const expected = [2, 5, 7];
    for (let size = 1; size <= text.length + 1; size++) {
      expect(await lineNumbers(text, lit("ERROR"), size), `chunk size ${size}`).toEqual(expected);
      expect(await lineNumbers(text, lit("error", true), size), `chunk size ${size}, ignoreCase`).toEqual([2, 4, 5, 7]);
    }
  });

  it("agrees with a naive per-line search on 300 random texts and chunkings (seeded)", async () => {
    let seed = 20261121;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const alphabet = ["a", "b", "A", "B", "\n", "\r\n", "é", "ab"];
    for (let round = 0; round < 300; round++) {
      const text = Array.from({ length: 20 + rand(200) }, () => alphabet[rand(alphabet.length)]).join("");
      const needle = ["ab", "aab", "ba", "AB", "bab", "aaaa"][rand(6)]!;
      const ignoreCase = rand(2) === 1;
      const lines = text.split("\n");
      if (lines.at(-1) === "") lines.pop();
      const expected = lines
        .map((l, i) => ((ignoreCase ? l.toLowerCase() : l).includes(ignoreCase ? needle.toLowerCase() : needle) ? i + 1 : 0))
        .filter((n) => n > 0);
      const size = 1 + rand(12);
      const got = await lineNumbers(text, lit(needle, ignoreCase), size);
      expect(got, `round ${round}: ${JSON.stringify(text)} / ${needle} / chunk ${size} / ignoreCase ${ignoreCase}`).toEqual(expected);
    }
  });

  it("finds a needle spread over many one-byte chunks from a reused buffer", async () => {
    const r = await scanChunks(reusedChunks("xx\nprefix-the-long-needle-suffix\nyy\n", 1), lit("the-long-needle"), LIMITS);
    expect(r.matches.map((m) => [m.lineNumber, m.line])).toEqual([[2, "prefix-the-long-needle-suffix"]]);
  });

  it("does not join the end of one line with the start of the next", async () => {
    for (let size = 1; size < 12; size++) {
      expect(await lineNumbers("abcNEE\nDLExyz\n", lit("NEEDLE"), size), `chunk size ${size}`).toEqual([]);
    }
  });

  it("reports byte offsets of line starts and 1-based line numbers", async () => {
    const r = await scanChunks(chunksOf("é\nfoo\nbar foo\n", 3), lit("foo"), LIMITS);
    expect(r.matches.map((m) => [m.lineNumber, m.offset])).toEqual([
      [2, 3],
      [3, 7],
    ]);
  });

  it("matches a last line without a trailing newline, and strips CR of CRLF lines", async () => {
    const r = await scanChunks(chunksOf("one\r\ntwo needle\r\nthree needle", 4), lit("needle"), LIMITS);
    expect(r.matches.map((m) => m.line)).toEqual(["two needle", "three needle"]);
    expect(r.linesScanned).toBe(3);
    expect(r.bytesScanned).toBe(29);
    expect(r.stoppedBy).toBeNull();
  });

  it("finds a literal at the end of a 1 MiB line and returns only the line's head", async () => {
    const line = `${"x".repeat(1024 * 1024)}NEEDLE`;
    const r = await scanChunks(chunksOf(`a\n${line}\nb\n`, 4096), lit("NEEDLE"), LIMITS);
    expect(r.matches).toHaveLength(1);
    expect(r.matches[0]!.lineNumber).toBe(2);
    expect(r.matches[0]!.line).toHaveLength(512);
    expect(r.matches[0]!.lineTruncated).toBe(true);
  });

  it("keeps scanned copies intact when the producer reuses its buffer", async () => {
    const text2 = `first ${"y".repeat(600)}\nsecond needle\n${"z".repeat(50)} needle tail\n`;
    const r = await scanChunks(reusedChunks(text2, 7), lit("needle"), { ...LIMITS, contextLines: 1 });
    expect(r.matches.map((m) => m.line)).toEqual(["second needle", `${"z".repeat(50)} needle tail`]);
    expect(r.matches[0]!.before).toEqual([`first ${"y".repeat(506)}`]);
  });
});

describe("scanChunks: regex (RE2, linear time)", () => {
  it("matches RE2 syntax per line", async () => {
    const text = "GET /a 200\nGET /b 503\nPOST /c 500 x\nGET /d 404\n";
    expect(await lineNumbers(text, rx(" 5[0-9]{2}\\b"))).toEqual([2, 3]);
    expect(await lineNumbers(text, rx("^post", true))).toEqual([3]);
    expect(await lineNumbers(text, rx("^GET .* 200$"))).toEqual([1]);
  });

  it("runs (a+)+$ against a long 'aaaa…b' line in linear time", async () => {
    const line = `${"a".repeat(60_000)}b`;
    const started = performance.now();
    const r = await scanChunks(chunksOf(`${line}\n${line}\n${"a".repeat(30)}\n`, 8192), rx("(a+)+$"), LIMITS);
    const ms = performance.now() - started;
    expect(r.matches.map((m) => m.lineNumber)).toEqual([3]);
    // A backtracking engine needs 2^60000 steps here; RE2 needs a few milliseconds.
    expect(ms).toBeLessThan(2000);
  });

  it("also resists (x+x+)+y and (.*a){20} style patterns", async () => {
    const started = performance.now();
    await scanChunks(chunksOf(`${"x".repeat(50_000)}\n`, 4096), rx("(x+x+)+y"), LIMITS);
    await scanChunks(chunksOf(`${"a".repeat(5000)}\n`, 4096), rx("(.*a){20}b"), LIMITS);
    expect(performance.now() - started).toBeLessThan(3000);
  });

  it("matches a regex against the first maxLineBytes of a line only (documented limit)", async () => {
    const text = `${"x".repeat(100)}TAIL\n`;
    const small = { ...LIMITS, displayBytes: 32 };
    expect((await scanChunks(chunksOf(text, 16), rx("TAIL"), { ...small, maxLineBytes: 64 })).matches).toHaveLength(0);
    expect((await scanChunks(chunksOf(text, 16), rx("TAIL"), { ...small, maxLineBytes: 200 })).matches).toHaveLength(1);
    // A literal has no such limit.
    expect((await scanChunks(chunksOf(text, 16), lit("TAIL"), { ...small, maxLineBytes: 64 })).matches).toHaveLength(1);
  });
});

describe("scanChunks: bounds", () => {
  const many = Array.from({ length: 100 }, (_, i) => `line ${i + 1} ${i % 2 === 0 ? "hit" : "miss"}`).join("\n") + "\n";

  it("stops at maxMatches and says so", async () => {
    const r = await scanChunks(chunksOf(many, 64), lit("hit"), { ...LIMITS, maxMatches: 3 });
    expect(r.matches.map((m) => m.lineNumber)).toEqual([1, 3, 5]);
    expect(r.stoppedBy).toBe("max_matches");
    expect(r.linesScanned).toBe(5);
  });

  it("collects after-context of the last match before stopping", async () => {
    const r = await scanChunks(chunksOf(many, 64), lit("hit"), { ...LIMITS, maxMatches: 2, contextLines: 2 });
    expect(r.matches[1]!.after).toEqual(["line 4 miss", "line 5 hit"]);
    expect(r.linesScanned).toBe(5);
    expect(r.stoppedBy).toBe("max_matches");
  });

  it("gives before and after context, clipped at the start and end of input", async () => {
    const text = "m1\nb\nc\nm2\ne\n";
    const r = await scanChunks(chunksOf(text, 2), lit("m"), { ...LIMITS, contextLines: 2 });
    expect(r.matches.map((m) => [m.line, m.before, m.after])).toEqual([
      ["m1", [], ["b", "c"]],
      ["m2", ["b", "c"], ["e"]],
    ]);
  });

  it("stops after maxBytes and reports what it scanned", async () => {
    const r = await scanChunks(chunksOf(many, 100), lit("line"), { ...LIMITS, maxBytes: 250 });
    expect(r.bytesScanned).toBe(250);
    expect(r.stoppedBy).toBe("max_bytes");
    // Every complete line in 250 bytes matched, plus the partial line the budget cut.
    const completeLines = Buffer.from(many).subarray(0, 250).toString().split("\n").length - 1;
    expect(r.matches.length).toBe(completeLines + 1);
  });

  it("is not truncated when the input ends exactly at maxBytes", async () => {
    const r = await scanChunks(chunksOf("abc\ndef\n", 3), lit("def"), { ...LIMITS, maxBytes: 8 });
    expect(r.stoppedBy).toBeNull();
    expect(r.matches).toHaveLength(1);
  });

  it("stops when the returned text would pass maxOutputChars", async () => {
    const text = Array.from({ length: 50 }, () => `hit ${"p".repeat(90)}`).join("\n");
    const r = await scanChunks(chunksOf(text, 512), lit("hit"), { ...LIMITS, maxOutputChars: 1000 });
    expect(r.stoppedBy).toBe("max_output");
    expect(r.matches.length).toBeLessThanOrEqual(11);
  });

  it("refuses to go on once the call's signal is aborted", async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(scanChunks(chunksOf(many, 64), lit("hit"), { ...LIMITS, signal: ac.signal })).rejects.toMatchObject({
      code: "DEADLINE_EXCEEDED",
    });
  });
});

describe("readChunks + scanChunks on a real 50 MB file", () => {
  let dir: string;
  let file: string;
  const SIZE = 50 * 1024 * 1024;
  const NEEDLE_LINES: number[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "hostward-search-"));
    file = join(dir, "big.log");
    // 64-byte lines; every 100 000th line carries the needle. Written in 1 MiB blocks.
    const line = (n: number) => {
      const body = n % 100_000 === 0 ? `${n} NEEDLE-in-the-haystack` : `${n} ordinary log line`;
      return `${body.padEnd(63, ".")}\n`;
    };
    const fd = openSync(file, "w");
    let n = 1;
    let written = 0;
    while (written < SIZE) {
      const parts: string[] = [];
      for (let i = 0; i < 16384; i++, n++) {
        if (n % 100_000 === 0) NEEDLE_LINES.push(n);
        parts.push(line(n));
      }
      written += writeSync(fd, parts.join(""));
    }
    closeSync(fd);
  }, 60_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("finds every needle with memory far below the file size", async () => {
    const before = process.memoryUsage.rss();
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage.rss());
    }, 2);
    const handle = await open(file, "r");
    let r;
    try {
      r = await scanChunks(readChunks(handle), lit("needle-IN", true), LIMITS);
    } finally {
      clearInterval(sampler);
      await handle.close();
    }
    peak = Math.max(peak, process.memoryUsage.rss());
    expect(r.bytesScanned).toBe(SIZE);
    expect(r.linesScanned).toBe(SIZE / 64);
    expect(r.matches.map((m) => m.lineNumber)).toEqual(NEEDLE_LINES);
    expect(r.matches[0]!.offset).toBe((100_000 - 1) * 64);
    expect(r.stoppedBy).toBeNull();
    // The file is 50 MB; the scan holds one 256 KiB chunk and its folded copy.
    expect(peak - before).toBeLessThan(16 * 1024 * 1024);
  }, 60_000);

  it("scans the same file with a regex within the byte budget", async () => {
    const handle = await open(file, "r");
    try {
      const r = await scanChunks(readChunks(handle), rx("^[0-9]+ NEEDLE"), { ...LIMITS, maxBytes: 20 * 1024 * 1024 });
      expect(r.bytesScanned).toBe(20 * 1024 * 1024);
      expect(r.stoppedBy).toBe("max_bytes");
      expect(r.matches.map((m) => m.lineNumber)).toEqual(NEEDLE_LINES.filter((n) => n * 64 <= 20 * 1024 * 1024));
    } finally {
      await handle.close();
    }
  }, 60_000);
});

describe("readChunks", () => {
  it("yields the whole file in order, in chunks of at most the given size", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hostward-chunks-"));
    try {
      const p = join(dir, "f");
      const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
      writeFileSync(p, data);
      const handle = await open(p, "r");
      const seen: Buffer[] = [];
      for await (const c of readChunks(handle, 64)) {
        expect(c.length).toBeLessThanOrEqual(64);
        seen.push(Buffer.from(c));
      }
      await handle.close();
      expect(Buffer.concat(seen).equals(data)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
