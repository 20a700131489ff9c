// shared/printable.ts: the one escaping of text a human reads (issue 11, deliverables 6 and 8).
// Each class of character it must escape has its own case; so do the ones it must leave alone.
import { describe, expect, it } from "vitest";
import { needsEscape, printable, quoted, truncateText } from "../../shared/printable";

const esc = (cp: number) => (cp > 0xffff ? String.fromCodePoint(cp).split("").map((u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, "0")}`).join("") : `\\u${cp.toString(16).padStart(4, "0")}`);

describe("printable", () => {
  it.each([
    ["C0 controls (ESC, NUL, newline, tab)", [0x1b, 0x00, 0x0a, 0x09, 0x0d]],
    ["DEL and C1 controls (CSI U+009B)", [0x7f, 0x80, 0x9b, 0x9f]],
    ["line and paragraph separators", [0x2028, 0x2029]],
    ["bidi embeddings and overrides (LRE, RLE, PDF, LRO, RLO)", [0x202a, 0x202b, 0x202c, 0x202d, 0x202e]],
    ["bidi isolates (LRI, RLI, FSI, PDI)", [0x2066, 0x2067, 0x2068, 0x2069]],
    ["bidi marks (LRM, RLM, ALM)", [0x200e, 0x200f, 0x061c]],
    ["zero-width characters (ZWSP, ZWNJ, ZWJ, word joiner, BOM, invisible operators)", [0x200b, 0x200c, 0x200d, 0x2060, 0xfeff, 0x2061, 0x2064]],
    ["tag characters (U+E0000-E007F)", [0xe0001, 0xe0041, 0xe007f]],
    ["variation selectors, combining grapheme joiner, soft hyphen, Hangul fillers", [0xfe0f, 0xe0100, 0x034f, 0x00ad, 0x3164, 0x115f, 0xffa0]],
    ["spaces that look like a space (no-break, en, em, thin, ideographic)", [0x00a0, 0x2002, 0x2003, 0x2009, 0x202f, 0x3000]],
    ["look-alikes whose compatibility form is ASCII (fullwidth, mathematical, ligature, superscript)", [0xff4e, 0x1d427, 0xfb01, 0x00b2, 0x2460]],
    ["private use and unassigned code points", [0xe000, 0xf8ff, 0x0378]],
  ])("escapes %s", (_name, cps) => {
    for (const cp of cps) {
      const ch = String.fromCodePoint(cp);
      expect(printable(`a${ch}b`), cp.toString(16)).toBe(`a${esc(cp)}b`);
      expect(needsEscape(ch), cp.toString(16)).toBe(true);
    }
  });

  it("escapes a lone surrogate (half of a pair cut off)", () => {
    expect(printable("x\ud83d")).toBe("x\\ud83d");
    expect(printable("\ude00y")).toBe("\\ude00y");
  });

  it("leaves printable ASCII, and letters and symbols of other scripts, as they are in free text", () => {
    const text = "restart nginx: it is stuck (ΕΛΛΗΝΙΚΑ, русский, 日本語, é, ≤ 30 s, 😀)";
    expect(printable(text)).toBe(text);
  });

  it("ascii mode (identifiers: host, unit, params, requester) escapes everything outside printable ASCII", () => {
    // A Cyrillic "а" in "nginx" would pass for the Latin one.
    expect(printable("ngіnx.service", { ascii: true })).toBe("ng\\u0456nx.service");
    expect(printable("web1", { ascii: true })).toBe("web1");
    expect(printable("a😀", { ascii: true })).toBe("a\\ud83d\\ude00");
  });

  it("escaped JSON text stays valid JSON with the same value", () => {
    const value = { reason: "fix\u001b[2J\u202eexe.txt\u200b\u{e0041}", host: "ｗｅｂ１", n: 1 };
    const text = printable(JSON.stringify(value));
    expect(text).toMatch(/^[\u0020-\u007e]*$/);
    expect(JSON.parse(text)).toEqual(value);
  });

  it("returns all-ASCII text unchanged (the common case costs one test)", () => {
    const s = JSON.stringify({ a: "plain", b: [1, 2, 3] });
    expect(printable(s)).toBe(s);
  });
});

describe("truncateText", () => {
  it("cuts on a code-point boundary: never half of a surrogate pair", () => {
    const s = `${"a".repeat(255)}😀`;
    expect(truncateText(s, 256)).toBe("a".repeat(255));
    expect(truncateText(s, 257)).toBe(s);
    expect(truncateText("abc", 2)).toBe("ab");
    // The naive cut leaves a lone surrogate, which has no UTF-8 form.
    expect(Buffer.from(s.slice(0, 256), "utf8").toString("utf8")).not.toBe(s.slice(0, 256));
    expect(Buffer.from(truncateText(s, 256), "utf8").toString("utf8")).toBe(truncateText(s, 256));
  });
});

describe("quoted: a host's value inside catalog text", () => {
  it("is one quoted, printable-ASCII token: a newline, ESC, a quote, a backslash, a bidi override or a look-alike stays inside it", () => {
    const v = 'a\n  impact:    LOW\u001b[2J"b\\c\u202eｎ';
    const q = quoted(v);
    expect(q).toBe('"a\\n  impact:    LOW\\u001b[2J\\"b\\\\c\\u202e\\uff4e"');
    expect(q).toMatch(/^"[\u0020-\u007e]*"$/);
    expect(JSON.parse(q)).toBe(v); // JSON string syntax: what it holds can be read back exactly
  });

  it("cuts a long value on a code-point boundary and marks the cut after the closing quote", () => {
    expect(quoted("x".repeat(10), 4)).toBe('"xxxx"...');
    expect(quoted(`abc😀`, 4)).toBe('"abc"...');
    expect(quoted("nginx.service")).toBe('"nginx.service"');
  });
});
