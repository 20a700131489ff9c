// The WebAssembly SIMD byte kernel of the literal search (agent/src/search-kernel.wat, compiled
// into agent/src/search-kernel.wasm.ts): its newline count, needle search and ASCII folding agree
// with plain JavaScript references on edge cases and on seeded random buffers, and the committed
// module is what the .wat compiles to.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { compilePattern, scanChunks } from "../../agent/src/search";
import { countNewlinesJs, foldAsciiJs, LiteralScan, readBuffers, setWasmKernelEnabled, wasmKernelInUse } from "../../agent/src/search-kernel";

const ROOT = join(__dirname, "..", "..");

/** Deterministic pseudo-random numbers (xorshift32). */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

/** The kernel's answers for `buf`, copied into a kernel memory by LiteralScan.prepare. */
function kernelOn(buf: Buffer, needle: Buffer = Buffer.from("x"), fold = false) {
  const scan = new LiteralScan(needle, fold);
  const { chunk, hay } = scan.prepare(buf);
  return { scan, chunk, hay };
}

const count = (buf: Buffer, from = 0, to = buf.length) => {
  const { scan, chunk } = kernelOn(buf);
  return scan.countNewlines(chunk, from, to);
};

afterEach(() => setWasmKernelEnabled(true));

describe("search kernel module", () => {
  it("is in use on this Node (WebAssembly SIMD), and searches a copy in its own memory", () => {
    expect(wasmKernelInUse()).toBe(true);
    const raw = Buffer.from("abc\n");
    const { chunk } = kernelOn(raw);
    expect(chunk.buffer).not.toBe(raw.buffer);
    expect(chunk.equals(raw)).toBe(true);
  });

  it("is what agent/src/search-kernel.wat compiles to (node scripts/gen-search-kernel.mjs --check)", () => {
    const r = spawnSync(process.execPath, [join(ROOT, "scripts/gen-search-kernel.mjs"), "--check"], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  }, 30_000);

  it("reads into buffers inside its memory, searched there without a copy", () => {
    const {
      buffers: [a, b],
    } = readBuffers(4096, 2);
    expect(a!.length).toBe(4096);
    expect(a!.buffer).toBe(b!.buffer);
    a!.write("one\ntwo needle\n");
    const scan = new LiteralScan(Buffer.from("needle"), false);
    const { chunk } = scan.prepare(a!.subarray(0, 15));
    expect(chunk.buffer).toBe(a!.buffer);
    expect(chunk.byteOffset).toBe(a!.byteOffset);
    expect(scan.find(chunk, 0)).toBe(8);
    expect(scan.countNewlines(chunk, 0, 15)).toBe(2);
  });

  it("keeps one released memory for the next reader of the same shape, never one in use", () => {
    const first = readBuffers(8192, 2);
    const second = readBuffers(8192, 2);
    expect(second.buffers[0]!.buffer).not.toBe(first.buffers[0]!.buffer);
    first.release();
    first.release();
    const third = readBuffers(8192, 2);
    expect(third.buffers[0]!.buffer).toBe(first.buffers[0]!.buffer);
    const fourth = readBuffers(8192, 2); // first's memory is in use again by third
    expect(fourth.buffers[0]!.buffer).not.toBe(first.buffers[0]!.buffer);
    third.release();
    expect(readBuffers(4096, 2).buffers[0]!.buffer).not.toBe(first.buffers[0]!.buffer); // another shape
    expect(readBuffers(8192, 2).buffers[0]!.buffer).toBe(first.buffers[0]!.buffer);
  });
});

describe("newline count", () => {
  it("handles the edge cases", () => {
    expect(count(Buffer.alloc(0))).toBe(0);
    expect(count(Buffer.from("no newline at all"))).toBe(0);
    expect(count(Buffer.from("\n"))).toBe(1);
    expect(count(Buffer.from("a\r\nb\r\nc"))).toBe(2); // CRLF: the LF counts, the CR does not
    expect(count(Buffer.from("\r\r\r"))).toBe(0);
    // Non-ASCII bytes never count, whatever their low bits (0x8a, 0xca, 0x0a + 0x80 …).
    expect(count(Buffer.from([0x8a, 0xca, 0x4a, 0x1a, 0x0b, 0x09, 0xff, 0x80, 0xe2, 0x80, 0xa8, 0x0a]))).toBe(1);
    expect(count(Buffer.from("é\nü\n日本\n"))).toBe(3);
    // Only newlines: more than 255 per SIMD lane, so the byte counters must widen in time.
    for (const n of [1, 15, 16, 17, 63, 64, 65, 255, 256, 4031, 4032, 4033, 4096, 100_000]) {
      expect(count(Buffer.alloc(n, 0x0a)), `${n} newlines`).toBe(n);
    }
  });

  it("counts a range exactly, at every start and end around the 16- and 64-byte steps", () => {
    const buf = Buffer.alloc(300, 0x61);
    for (const i of [0, 1, 15, 16, 17, 31, 32, 47, 63, 64, 65, 127, 128, 255, 256, 299]) buf[i] = 0x0a;
    const { scan, chunk } = kernelOn(buf);
    for (let from = 0; from <= 140; from++) {
      for (let to = from; to <= 300; to += from % 7 === 0 ? 1 : 13) {
        expect(scan.countNewlines(chunk, from, to), `[${from}, ${to})`).toBe(countNewlinesJs(buf, from, to));
      }
    }
  });

  it("agrees with the JavaScript count on 500 seeded random buffers and ranges", () => {
    const r = rng(20261122);
    for (let t = 0; t < 500; t++) {
      const len = t % 50 === 0 ? 70_000 + r(20_000) : r(2000);
      const density = [0, 1, 10, 100, 1000][r(5)]!; // newlines per 1000 bytes
      const buf = Buffer.alloc(len);
      for (let i = 0; i < len; i++) buf[i] = r(1000) < density ? 0x0a : r(256);
      const from = r(len + 1);
      const to = from + r(len - from + 1);
      const { scan, chunk } = kernelOn(buf);
      expect(scan.countNewlines(chunk, 0, len), `case ${t}`).toBe(countNewlinesJs(buf, 0, len));
      expect(scan.countNewlines(chunk, from, to), `case ${t} [${from}, ${to})`).toBe(countNewlinesJs(buf, from, to));
    }
  });
});

describe("needle search", () => {
  const find = (hay: string | Buffer, needle: string | Buffer, from = 0) => {
    const h: Buffer = Buffer.isBuffer(hay) ? hay : Buffer.from(hay);
    const n: Buffer = Buffer.isBuffer(needle) ? needle : Buffer.from(needle);
    const k = kernelOn(h, n);
    return k.scan.find(k.hay, from);
  };

  it("handles the edge cases like Buffer.indexOf", () => {
    expect(find("", "a")).toBe(-1);
    expect(find("a", "a")).toBe(0);
    expect(find("ab", "abc")).toBe(-1);
    expect(find("abc", "abc")).toBe(0);
    expect(find("xxabc", "abc", 3)).toBe(-1);
    expect(find("xxabc", "abc", 2)).toBe(2);
    expect(find("abc", "c", 3)).toBe(-1);
    expect(find("abc", "c", 99)).toBe(-1);
    // First and last bytes match, the middle does not (a candidate that fails), then a real one.
    expect(find(`${"aXc".repeat(40)}abc`, "abc")).toBe(120);
    // At the very end of the buffer, after every SIMD step boundary.
    for (const pad of [0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100]) {
      expect(find(`${"z".repeat(pad)}needle`, "needle"), `pad ${pad}`).toBe(pad);
      expect(find(`${"z".repeat(pad)}needl`, "needle"), `pad ${pad}`).toBe(-1);
    }
    // Non-ASCII needles and haystacks are plain bytes.
    expect(find("préfixe ÉCHEC suffixe", "ÉCHEC")).toBe(Buffer.from("préfixe ").length);
    expect(find(Buffer.from([0xff, 0x0a, 0x8a, 0x0a]), Buffer.from([0x8a, 0x0a]))).toBe(2);
  });

  it("agrees with Buffer.indexOf on 3000 seeded random haystacks, needles and starts", () => {
    const r = rng(7);
    for (let t = 0; t < 3000; t++) {
      // Small alphabets (with the newline in them) make candidates and hits frequent.
      const alpha = [2, 3, 4, 256][r(4)]!;
      const byte = () => (alpha === 256 ? r(256) : [0x0a, 0x61, 0x62, 0x63][r(alpha)]!);
      const len = t % 100 === 0 ? 5000 + r(5000) : r(400);
      const hay = Buffer.alloc(len);
      for (let i = 0; i < len; i++) hay[i] = byte();
      const nlen = 1 + r(t % 10 === 0 ? 80 : 6);
      const needle = Buffer.alloc(nlen);
      if (len >= nlen && r(2) === 0) hay.copy(needle, 0, r(len - nlen + 1));
      else for (let i = 0; i < nlen; i++) needle[i] = byte();
      const from = r(len + 2);
      expect(find(hay, needle, from), `case ${t}`).toBe(hay.indexOf(needle, from));
      expect(find(hay, needle, 0), `case ${t}`).toBe(hay.indexOf(needle, 0));
    }
  });

  it("counts the newlines it passed over on the way to a hit, in the same pass", () => {
    const r = rng(11);
    for (let t = 0; t < 1500; t++) {
      const len = t % 50 === 0 ? 20_000 + r(20_000) : r(600);
      const hay = Buffer.alloc(len);
      const density = [1, 20, 300, 900][r(4)]!; // newlines per 1000 bytes
      for (let i = 0; i < len; i++) hay[i] = r(1000) < density ? 0x0a : 0x61 + r(3);
      const needle = Buffer.from(["abc", "c", "ba\nab", "cccc", "\n\n"][r(5)]!);
      const { scan, chunk, hay: h } = kernelOn(hay, needle);
      const from = r(len + 1);
      const hit = scan.find(h, from);
      expect(hit, `case ${t}`).toBe(hay.indexOf(needle, from));
      const end = hit === -1 ? len : hit;
      // What the scanner asks: [from, a line start at or before the hit), or any range.
      for (const to of [end, Math.max(from, hay.lastIndexOf(0x0a, end - 1) + 1), from + r(end - from + 1), from]) {
        expect(scan.countNewlines(chunk, from, to), `case ${t} [${from}, ${to})`).toBe(countNewlinesJs(hay, from, to));
      }
      const a = r(len + 1);
      const b = a + r(len - a + 1);
      expect(scan.countNewlines(chunk, a, b), `case ${t} [${a}, ${b})`).toBe(countNewlinesJs(hay, a, b));
    }
  });
});

describe("ASCII case folding", () => {
  it("lowers A-Z and leaves every other byte value alone", () => {
    const all = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
    for (const len of [0, 1, 15, 16, 17, 255, 256, 512]) {
      const src = all.subarray(512 - len);
      const { hay } = kernelOn(src, Buffer.from("x"), true);
      expect(hay.equals(foldAsciiJs(src, Buffer.alloc(len))), `length ${len}`).toBe(true);
    }
  });
});

describe("scanChunks gives the same answer with and without the kernel", () => {
  it("on 200 seeded random texts, chunkings, needles and context sizes", async () => {
    const r = rng(99);
    const words = ["ERROR", "error", "warn", "é", "\r", "needle", "need", "le", "x", "  "];
    for (let t = 0; t < 200; t++) {
      const parts: string[] = [];
      for (let i = r(300); i > 0; i--) parts.push(r(4) === 0 ? "\n" : words[r(words.length)]!);
      const text = parts.join("");
      const pattern = compilePattern({ pattern: ["error", "needle", "le", "x"][r(4)]!, mode: "literal", ignoreCase: r(2) === 0 });
      const size = 1 + r(64);
      const chunks = () => {
        const b = Buffer.from(text);
        const out: Buffer[] = [];
        for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
        return out;
      };
      const limits = { maxMatches: 1 + r(20), contextLines: r(3), maxBytes: r(4) === 0 ? r(text.length + 1) : Number.MAX_SAFE_INTEGER };
      setWasmKernelEnabled(true);
      const withKernel = await scanChunks(chunks(), pattern, limits);
      setWasmKernelEnabled(false);
      const without = await scanChunks(chunks(), pattern, limits);
      expect(withKernel, `case ${t}`).toEqual(without);
    }
  });
});
