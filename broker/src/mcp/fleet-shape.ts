// How a fleet summary and compare_hosts read the hosts' answers of one diagnostic: each host's data
// flattened into fields, the same way for every host, generic over the catalog.
//   - A field is named by its dotted path ("load1", "os.prettyName", "timings.totalMs").
//   - An array of objects is keyed when one of its members identifies an entry: a string or
//     integer unique within every host's array, with at most MAX_KEYS distinct values across the
//     fleet, chosen in member order and never a volatile field (filesystems by mountPoint,
//     interfaces by name, units by unit). Its entries' fields are "filesystems[/var].usedPercent";
//     the array itself is one field whose value is the sorted list of its keys (which mounts a
//     host has). Any other array is one field, its value the whole array (volatile fields removed).
//   - Volatile fields are left out everywhere: the catalog's `volatile` paths (process ids) and the
//     strings it describes as ISO 8601 times (the moment of the answer, a boot time).
// A field is numeric when any host's value of it is a number; the others are values compared as
// canonical JSON.
import { z } from "zod";
import type { DiagnosticDef } from "../../../proto/catalog/define";
import { canonicalJson } from "../../../shared/canonical-json";

/** Distinct keys across the fleet above which an array of objects is not keyed. */
const MAX_KEYS = 64;

export interface FleetDef {
  name: string;
  output: z.ZodType;
  volatile?: readonly string[];
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

const timePatterns = new Map<string, ReadonlySet<string>>();

/** Patterns ("a.b", "list[].c") of the string fields the output schema describes as ISO 8601 times. */
function isoTimePatterns(def: FleetDef): ReadonlySet<string> {
  let found = timePatterns.get(def.name);
  if (found) return found;
  const out = new Set<string>();
  const walk = (node: unknown, pattern: string): void => {
    if (!isObject(node)) return;
    for (const branch of [...((node.anyOf as unknown[] | undefined) ?? []), ...((node.oneOf as unknown[] | undefined) ?? [])]) walk(branch, pattern);
    const types = Array.isArray(node.type) ? node.type : [node.type];
    if (types.includes("string") && typeof node.description === "string" && /ISO 8601/.test(node.description)) out.add(pattern);
    if (isObject(node.properties)) for (const [k, v] of Object.entries(node.properties)) walk(v, join(pattern, k));
    if (node.items !== undefined) walk(node.items, `${pattern}[]`);
  };
  walk(z.toJSONSchema(def.output, { io: "output", unrepresentable: "any" }), "");
  found = out;
  timePatterns.set(def.name, found);
  return found;
}

/** One host's data, flattened: path → value (numbers, strings, booleans, null, arrays). */
export type Fields = Map<string, Json>;

export interface Shape {
  /** The fields of one host's data. */
  fields(data: unknown): Fields;
}

interface ArrayStats {
  /** Arrays of this pattern seen so far (across hosts and entries). */
  arrays: number;
  /** Members seen, in first-seen order. */
  order: string[];
  /** false once a member failed to identify the entries of some host's array. */
  usable: Map<string, boolean>;
  keys: Map<string, Set<string>>;
}

function keyOf(v: Json | undefined): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "number" && Number.isInteger(v)) return String(v);
  return undefined;
}

function objectArray(v: Json[]): v is JsonObject[] {
  return v.length > 0 && v.every(isObject);
}

/** The shape of a fleet's answers: which arrays are keyed, by which member; what is volatile. */
export function shapeOf(def: FleetDef, datas: readonly unknown[]): Shape {
  const volatile = new Set([...(def.volatile ?? []), ...isoTimePatterns(def)]);
  const stats = new Map<string, ArrayStats>();

  const scan = (node: Json, pattern: string): void => {
    if (volatile.has(pattern)) return;
    if (Array.isArray(node)) {
      if (!objectArray(node)) return;
      let st = stats.get(pattern);
      if (!st) stats.set(pattern, (st = { arrays: 0, order: [], usable: new Map(), keys: new Map() }));
      for (const el of node) {
        for (const k of Object.keys(el)) {
          if (st.usable.has(k)) continue;
          // A member the arrays seen before lacked identifies none of their entries.
          st.order.push(k);
          st.usable.set(k, st.arrays === 0);
          st.keys.set(k, new Set());
        }
      }
      st.arrays++;
      for (const member of st.order) {
        if (!st.usable.get(member)) continue;
        const seen = new Set<string>();
        for (const el of node) {
          const k = keyOf(el[member]);
          if (k === undefined || seen.has(k)) break;
          seen.add(k);
        }
        const all = st.keys.get(member)!;
        if (seen.size !== node.length || volatile.has(`${pattern}[].${member}`)) st.usable.set(member, false);
        else for (const k of seen) if (all.size <= MAX_KEYS) all.add(k);
      }
      for (const el of node) for (const [k, v] of Object.entries(el)) scan(v, `${pattern}[].${k}`);
    } else if (isObject(node)) {
      for (const [k, v] of Object.entries(node)) scan(v, join(pattern, k));
    }
  };
  for (const d of datas) if (isObject(d)) scan(d, "");

  const keys = new Map<string, string>();
  for (const [pattern, st] of stats) {
    const member = st.order.find((m) => st.usable.get(m) && st.keys.get(m)!.size <= MAX_KEYS);
    if (member !== undefined) keys.set(pattern, member);
  }

  const strip = (node: Json, pattern: string): Json | undefined => {
    if (volatile.has(pattern)) return undefined;
    if (Array.isArray(node)) return node.map((el) => strip(el, `${pattern}[]`) ?? null);
    if (!isObject(node)) return node;
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(node)) {
      const kept = strip(v, join(pattern, k));
      if (kept !== undefined) out[k] = kept;
    }
    return out;
  };

  const flatten = (node: Json, path: string, pattern: string, out: Fields): void => {
    if (volatile.has(pattern)) return;
    if (Array.isArray(node)) {
      const key = keys.get(pattern);
      if (key !== undefined && objectArray(node) && node.every((el) => keyOf(el[key]) !== undefined)) {
        const ids = node.map((el) => keyOf(el[key])!);
        if (new Set(ids).size === ids.length) {
          out.set(path, [...ids].sort());
          node.forEach((el, i) => {
            for (const [k, v] of Object.entries(el)) if (k !== key) flatten(v, `${path}[${ids[i]}].${k}`, `${pattern}[].${k}`, out);
          });
          return;
        }
      }
      out.set(path, strip(node, pattern) ?? null);
    } else if (isObject(node)) {
      for (const [k, v] of Object.entries(node)) flatten(v, join(path, k), join(pattern, k), out);
    } else {
      out.set(path, node);
    }
  };

  return {
    fields(data) {
      const out: Fields = new Map();
      if (isObject(data)) flatten(data, "", "", out);
      return out;
    },
  };
}

/** A value's identity for grouping and comparing. */
export function valueKey(v: Json): string {
  return canonicalJson(v);
}

/** The definition a shape needs, from a catalog diagnostic. */
export function fleetDefOf(def: Pick<DiagnosticDef, "name" | "output" | "volatile">): FleetDef {
  return { name: def.name, output: def.output, volatile: def.volatile };
}

export type { Json };
