// THE canonical JSON encoding of hostward: what an approver signs (proto/catalog/approval.ts), what
// the helper re-encodes to verify it, the agent's per-call argument digest and the catalog hash all
// come from this one function, so what is signed and what is verified cannot drift apart.
//
// Object keys are sorted (by UTF-16 code units, Array.prototype.sort's order) at every level, no
// whitespace, strings as JSON.stringify writes them (which escapes lone surrogates, so the output is
// always well-formed UTF-8). Unlike JSON.stringify it never drops or rewrites a value silently:
// undefined, functions, symbols, NaN, ±Infinity, BigInt and non-plain objects (Date, Map, Buffer…)
// throw, because a signed statement must mean exactly what the signer saw. Values that are not JSON
// yet (a decoded proto message with bytes fields) go through jsonValue() first.

const MAX_JSON_DEPTH = 32;

export function canonicalJson(value: unknown): string {
  return encode(value, "$", 0);
}

function encode(value: unknown, path: string, depth: number): string {
  if (depth > MAX_JSON_DEPTH) throw new TypeError(`canonicalJson: ${path} is nested deeper than ${MAX_JSON_DEPTH} levels (or is cyclic)`);
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${path} is ${String(value)}, which JSON cannot represent`);
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return `[${value.map((v, i) => encode(v, `${path}[${i}]`, depth + 1)).join(",")}]`;
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError(`canonicalJson: ${path} is a ${(value as object).constructor?.name ?? "non-plain object"}, not a plain object`);
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${encode(obj[k], `${path}.${k}`, depth + 1)}`).join(",")}}`;
    }
    default:
      // undefined, function, symbol, bigint
      throw new TypeError(`canonicalJson: ${path} is ${typeof value === "bigint" ? "a BigInt" : typeof value}, which is not a JSON value`);
  }
}

/**
 * A JSON value for a JavaScript value that is not one yet: object members that are undefined are
 * dropped, bytes (Uint8Array, Buffer) become base64 text, BigInt its decimal text, Dates their ISO
 * text. For digests of decoded messages and generated schemas — never for signed statements, whose
 * values must already be JSON (canonicalJson refuses anything else).
 */
export function jsonValue(value: unknown, depth = 0): unknown {
  if (depth > MAX_JSON_DEPTH) throw new TypeError(`jsonValue: nested deeper than ${MAX_JSON_DEPTH} levels (or cyclic)`);
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64");
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : jsonValue(v, depth + 1)));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, member] of Object.entries(value)) if (member !== undefined) out[k] = jsonValue(member, depth + 1);
    return out;
  }
  return value;
}
