// THE escaping of text a human reads: MCP text content, `hostward approve` / `actions` / `audit
// tail`, error messages that quote a value. Text from the model (a reason, a client name) or from
// a host (a log line, a unit description) must not be able to rewrite the terminal, reorder what
// is shown, hide characters or pass one character off as another, so every character of these
// classes is written as a \uXXXX escape (a pair of them for a character beyond U+FFFF - the same
// form a JSON string uses, so escaped JSON text stays valid JSON with the same value):
//
// - controls: C0 (U+0000-001F), DEL, C1 (U+0080-009F); line and paragraph separators (U+2028/9);
// - bidirectional controls: embeddings and overrides (U+202A-202E), isolates (U+2066-2069) and the
//   marks LRM, RLM, ALM (U+200E, U+200F, U+061C);
// - invisible characters: every format character (Unicode Cf: zero-width space/joiners U+200B-
//   200D, word joiner U+2060, BOM U+FEFF, soft hyphen, invisible operators, tag characters
//   U+E0000-E007F ...), variation selectors, combining grapheme joiner, Hangul fillers, lone
//   surrogates, private-use and unassigned code points;
// - look-alikes: spaces other than U+0020 (no-break, em, ideographic ...) and every character whose
//   compatibility form (NFKC) is different ASCII text: fullwidth letters (U+FF4E for "n"), mathematical letters,
//   ligatures, superscripts.
//
// Letters of other scripts stay as they are in free text (a reason written in Greek is readable);
// identifiers (`ascii: true`: host names, units, parameters, requesters) escape every character
// outside printable ASCII, so a Cyrillic "a" (U+0430) in a name shows as \u0430.
// This file holds no literal non-ASCII character: every class is written with escapes.

// The class lists control characters, a combining grapheme joiner, Hangul fillers and variation
// selectors one code point at a time, on purpose: each is matched alone, never as a combined pair.
const ALWAYS =
  // eslint-disable-next-line no-control-regex, no-misleading-character-class -- see the comment above
  /[\u0000-\u001f\u007f-\u009f\u00a0\u00ad\u034f\u061c\u115f\u1160\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb]|\p{Cf}|\p{Co}|\p{Cn}|\p{Cs}|[\u{e0000}-\u{e007f}\u{e0100}-\u{e01ef}]/u;
const NON_ASCII = /[^\u0020-\u007e]/u;
const ANY_NON_ASCII = /[^\u0020-\u007e]/gu;

function escapeChar(ch: string): string {
  let out = "";
  for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, "0")}`;
  return out;
}

/** True when a single character (one code point) is shown as an escape. */
export function needsEscape(ch: string, ascii = false): boolean {
  if (ascii) return NON_ASCII.test(ch);
  if (ALWAYS.test(ch)) return true;
  const cp = ch.codePointAt(0) ?? 0;
  if (cp < 0x80) return false;
  // A look-alike: its compatibility form is ASCII text other than itself (fullwidth, math, ligatures).
  const compat = ch.normalize("NFKC");
  return compat !== ch && /^[\u0020-\u007e]+$/.test(compat);
}

/** `text` with every character a human could be misled by written as \uXXXX (see the head of this file). */
export function printable(text: string, opts: { ascii?: boolean } = {}): string {
  // Printable ASCII never needs an escape: only the other code points are looked at (a lone
  // surrogate comes through as one unit and is escaped). Most text is all ASCII and is returned as it is.
  if (!NON_ASCII.test(text)) return text;
  const ascii = opts.ascii === true;
  return text.replace(ANY_NON_ASCII, (ch) => (needsEscape(ch, ascii) ? escapeChar(ch) : ch));
}

/**
 * At most `max` UTF-16 code units of `text`, never cutting a surrogate pair (a cut pair is a lone
 * surrogate, which has no UTF-8 form: signed as one string, it arrives on the host as another).
 */
export function truncateText(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return text.slice(0, end);
}

/**
 * A value someone else chose (a host's unit name, path, version, user name …) inside text a human
 * reads: quoted as a JSON string, then escaped ASCII-only by printable(), so it stays one visibly
 * fenced token on one line whatever it holds (a quote inside is \", a newline \n, ESC \u001b, a
 * look-alike letter \uXXXX) and cannot pass itself off as the surrounding text. Values longer than
 * `max` UTF-16 units are cut (truncateText) and marked "..." after the closing quote.
 */
export function quoted(text: string, max = 128): string {
  const cut = truncateText(text, max);
  return `${printable(JSON.stringify(cut), { ascii: true })}${cut.length < text.length ? "..." : ""}`;
}
