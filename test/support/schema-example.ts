// A value written from a JSON Schema alone, as a model would write one: for each required property
// its `const`, first `examples` entry, `default` or first `enum` value, else the least its type,
// `pattern`, `minLength`/`minimum`/`minItems` allow. Optional properties are left out. Covers the
// subset tools/list uses (draft 2020-12 as zod writes it); throws on anything else, naming it.

export type JsonSchema = {
  type?: string | string[];
  const?: unknown;
  examples?: unknown[];
  default?: unknown;
  enum?: unknown[];
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minItems?: number;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
};

export function exampleFor(schema: JsonSchema, where = "(root)"): unknown {
  if ("const" in schema) return schema.const;
  if (schema.examples?.length) return schema.examples[0];
  if ("default" in schema) return schema.default;
  if (schema.enum?.length) return schema.enum[0];
  const union = schema.oneOf ?? schema.anyOf;
  if (union) return exampleFor(union.find((s) => s.type !== "null") ?? union[0]!, where);
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  switch (type) {
    case "object":
      return Object.fromEntries((schema.required ?? []).map((key) => [key, exampleFor(schema.properties?.[key] ?? {}, `${where}.${key}`)]));
    case "array":
      return Array.from({ length: schema.minItems ?? 0 }, (_, i) => exampleFor(schema.items ?? {}, `${where}[${i}]`));
    case "string": {
      const min = schema.minLength ?? 0;
      if (schema.pattern === undefined) return "a".repeat(Math.max(min, 1));
      const value = stringMatching(schema.pattern, min);
      if (!new RegExp(schema.pattern, "u").test(value) || value.length < min) throw new Error(`${where}: cannot write a string for pattern ${schema.pattern} (got ${JSON.stringify(value)})`);
      return value;
    }
    case "integer":
    case "number": {
      if (schema.minimum !== undefined) return schema.minimum;
      if (schema.exclusiveMinimum !== undefined) return type === "integer" ? Math.floor(schema.exclusiveMinimum) + 1 : schema.exclusiveMinimum + 1;
      return Math.min(0, schema.maximum ?? 0);
    }
    case "boolean":
      return false;
    default:
      throw new Error(`${where}: no rule for schema ${JSON.stringify(schema).slice(0, 200)}`);
  }
}

// A shortest string for an ECMAScript pattern: the first alternative of each choice, each
// quantifier's minimum (grown at the first repeatable part until minLength is reached), the first
// character each class allows. Enough for the grammars' patterns (proto/catalog/grammar.ts).
type Node = { kind: "chars"; pick: string } | { kind: "group"; alts: Node[][] } | { kind: "repeat"; node: Node; min: number; max: number };

function stringMatching(pattern: string, minLength: number): string {
  let i = 0;
  const peek = () => pattern[i];
  const CANDIDATES = "aA0_.-/:@ ";
  function klass(): string {
    i++; // [
    const negated = peek() === "^";
    if (negated) i++;
    const ranges: Array<[string, string]> = [];
    while (peek() !== "]") {
      let c = pattern[i++]!;
      if (c === "\\") c = escapeChar(pattern[i++]!);
      if (peek() === "-" && pattern[i + 1] !== "]") {
        i++;
        let d = pattern[i++]!;
        if (d === "\\") d = escapeChar(pattern[i++]!);
        ranges.push([c, d]);
      } else ranges.push([c, c]);
    }
    i++; // ]
    const inside = (ch: string) => ranges.some(([a, b]) => ch >= a && ch <= b);
    if (!negated) return ranges[0]![0];
    const ok = [...CANDIDATES].find((ch) => !inside(ch));
    if (!ok) throw new Error(`pattern ${pattern}: no candidate outside a negated class`);
    return ok;
  }
  function escapeChar(c: string): string {
    return ({ d: "0", w: "a", s: " " } as Record<string, string>)[c] ?? c;
  }
  function atom(): Node {
    const c = pattern[i]!;
    if (c === "(") {
      i++;
      if (pattern.startsWith("?:", i)) i += 2;
      const alts = alternatives();
      i++; // )
      return { kind: "group", alts };
    }
    if (c === "[") return { kind: "chars", pick: klass() };
    i++;
    if (c === "\\") return { kind: "chars", pick: escapeChar(pattern[i++]!) };
    if (c === ".") return { kind: "chars", pick: "a" };
    if (c === "^" || c === "$") return { kind: "chars", pick: "" };
    return { kind: "chars", pick: c };
  }
  function quantified(): Node {
    const node = atom();
    const q = peek();
    if (q === "*") return i++, { kind: "repeat", node, min: 0, max: Infinity };
    if (q === "+") return i++, { kind: "repeat", node, min: 1, max: Infinity };
    if (q === "?") return i++, { kind: "repeat", node, min: 0, max: 1 };
    if (q === "{") {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i))!;
      i += m[0].length;
      return { kind: "repeat", node, min: Number(m[1]), max: m[2] === undefined ? Number(m[1]) : m[3] ? Number(m[3]) : Infinity };
    }
    return node;
  }
  function sequence(): Node[] {
    const seq: Node[] = [];
    while (i < pattern.length && peek() !== "|" && peek() !== ")") seq.push(quantified());
    return seq;
  }
  function alternatives(): Node[][] {
    const alts = [sequence()];
    while (peek() === "|") {
      i++;
      alts.push(sequence());
    }
    return alts;
  }
  const tree = alternatives();
  let grow = 0;
  const render = (seq: Node[]): string => seq.map(renderNode).join("");
  function renderNode(n: Node): string {
    if (n.kind === "chars") return n.pick;
    if (n.kind === "group") return render(n.alts[0]!);
    const one = renderNode(n.node);
    let times = n.min;
    if (grow > 0 && one.length > 0 && n.max > n.min) {
      times = Math.min(n.max, n.min + Math.ceil(grow / one.length));
      grow -= (times - n.min) * one.length;
    }
    return one.repeat(times);
  }
  const shortest = render(tree[0]!);
  if (shortest.length >= minLength) return shortest;
  grow = minLength - shortest.length;
  return render(tree[0]!);
}
