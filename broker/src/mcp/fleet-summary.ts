// The summary view of a fan-out's results (`view: "summary"`): what a thousand answers say, in a
// few kilobytes, outliers first.
//   fleet: {
//     outliers: {
//       errors: [{code, count, hosts, message}],   hosts that failed or were denied, by code
//       apart:  [{host, values: {field: value}}],  hosts whose numbers stand apart (fleet-stats.ts), most apart first
//     },
//     groups:  [{count, hosts, data?}],            identical answers (numbers, volatile fields and fields that
//                                                  differ on most hosts aside), largest first; hosts: a few
//                                                  examples, data: the first one's answer
//     numbers: [{field, n, min, median, p90, max, minHost, maxHost}],   numbers that differ between hosts
//     constant: {field: value},                    numbers equal on every host that has them
//     varies:  [{field, distinct}],                non-numeric fields that differ on most hosts (not grouped)
//     omitted?: {…}                                what was left out to stay within the byte budget
//   }
// Fields are named as fleet-shape.ts flattens them. The whole answer is kept within `maxBytes` of
// JSON: the least telling parts go first (the varies list, group data, constants, groups, numbers
// without outliers), outliers last; an error group or the apart list that cannot be named in full keeps
// its count. Pure; no I/O.
import { truncateText } from "../../../shared/printable";
import { apartness, distributionOf, MIN_HOSTS } from "./fleet-stats";
import { shapeOf, valueKey, type FleetDef, type Json } from "./fleet-shape";
import type { HostResult } from "./host-results";

/** Groups listed at most; the rest are counted. */
const MAX_GROUPS = 10;
/** Example host names per group. */
const GROUP_EXAMPLES = 3;
/** A group's example answer is shown when its JSON is at most this long. */
const GROUP_DATA_MAX_BYTES = 1500;
/** An error group's example message is cut to this many characters. */
const MAX_MESSAGE_CHARS = 300;
/** Fields listed in `varies` at most. */
const MAX_VARIES = 20;

interface ErrorGroup {
  code: string;
  count: number;
  hosts: string[];
  message: string;
}

interface Apart {
  host: string;
  values: Record<string, number>;
}

interface Group {
  count: number;
  hosts: string[];
  data?: unknown;
}

interface NumberField {
  field: string;
  n: number;
  min: number;
  median: number;
  p90: number;
  max: number;
  minHost: string;
  maxHost: string;
}

export interface FleetSummary {
  outliers: { errors: ErrorGroup[]; apart: Apart[] };
  groups: Group[];
  numbers: NumberField[];
  constant?: Record<string, number>;
  varies?: Array<{ field: string; distinct: number }>;
  omitted?: { errorHosts?: number; apartHosts?: number; groups?: number; groupedHosts?: number; groupData?: number; numbers?: number; constant?: number; varies?: number };
}

interface FieldStats {
  numeric: boolean;
  /** The hosts (result indexes) whose value is a number, and those numbers. */
  hosts: number[];
  numbers: number[];
  /** value key → hosts with that value (non-numeric fields). */
  values: Map<string, number>;
  present: number;
}

function bytes(v: unknown): number {
  return Buffer.byteLength(JSON.stringify(v), "utf8");
}

export interface SummaryOptions {
  /** Budget for the JSON of the whole answer this summary is part of. */
  maxBytes: number;
  /** Bytes of that answer outside `fleet` (counts, cursor). */
  overheadBytes: number;
}

/** Field statistics over the ok hosts: each host's fields, and per field the numbers or values seen. */
function fieldStats(def: FleetDef, ok: ReadonlyArray<{ index: number; data: unknown }>) {
  const shape = shapeOf(
    def,
    ok.map((r) => r.data),
  );
  const perHost = ok.map((r) => shape.fields(r.data));
  const fields = new Map<string, FieldStats>();
  perHost.forEach((f, i) => {
    for (const [path, value] of f) {
      let st = fields.get(path);
      if (!st) fields.set(path, (st = { numeric: false, hosts: [], numbers: [], values: new Map(), present: 0 }));
      st.present++;
      if (typeof value === "number") {
        st.numeric = true;
        st.hosts.push(ok[i]!.index);
        st.numbers.push(value);
      } else {
        const k = valueKey(value);
        st.values.set(k, (st.values.get(k) ?? 0) + 1);
      }
    }
  });
  return { perHost, fields };
}

/** A non-numeric field that differs on most hosts (names, cursors): reported, not grouped by. */
function variesPerHost(st: FieldStats): boolean {
  return !st.numeric && st.present >= MIN_HOSTS && st.values.size > st.present / 2;
}

export function summariseFleet(def: FleetDef, results: readonly HostResult[], options: SummaryOptions): FleetSummary {
  const name = (i: number) => results[i]!.host;

  // Hosts that failed or were denied, by error code (largest first, then first seen).
  const byCode = new Map<string, ErrorGroup>();
  for (const r of results) {
    if (r.ok) continue;
    const code = r.error?.code ?? "UNKNOWN";
    let g = byCode.get(code);
    if (!g) byCode.set(code, (g = { code, count: 0, hosts: [], message: truncateText(r.error?.message ?? "", MAX_MESSAGE_CHARS) }));
    g.count++;
    g.hosts.push(r.host);
  }
  const errors = [...byCode.values()].sort((a, b) => b.count - a.count);

  const ok = results.flatMap((r, index) => (r.ok && r.data !== undefined ? [{ index, data: r.data }] : []));
  const { perHost, fields } = fieldStats(def, ok);

  // Numbers: distributions, and the hosts whose values stand apart.
  const numbers: NumberField[] = [];
  const constant: Record<string, number> = {};
  const apartBy = new Map<number, { values: Record<string, number>; score: number }>();
  const outlierFields = new Set<string>();
  for (const [field, st] of fields) {
    const values = st.numbers;
    if (values.length === 0) continue;
    const d = distributionOf(values);
    if (d.band === undefined) {
      constant[field] = d.min;
      continue;
    }
    numbers.push({ field, n: d.n, min: d.min, median: d.median, p90: d.p90, max: d.max, minHost: name(st.hosts[d.minAt]!), maxHost: name(st.hosts[d.maxAt]!) });
    if (values.length < MIN_HOSTS) continue;
    const band = d.band;
    for (let k = 0; k < values.length; k++) {
      const v = values[k]!;
      const a = apartness(v, band);
      if (a <= 1) continue;
      const index = st.hosts[k]!;
      outlierFields.add(field);
      let e = apartBy.get(index);
      if (!e) apartBy.set(index, (e = { values: {}, score: 0 }));
      e.values[field] = v;
      e.score = Math.max(e.score, a);
    }
  }
  const apart: Apart[] = [...apartBy.entries()].sort((a, b) => b[1].score - a[1].score || a[0] - b[0]).map(([i, e]) => ({ host: name(i), values: e.values }));

  // Groups of identical answers, over the fields that neither are numbers nor vary per host.
  const varies = [...fields.entries()].filter(([, st]) => variesPerHost(st)).map(([field, st]) => ({ field, distinct: st.values.size }));
  const grouped = [...fields.entries()]
    .filter(([, st]) => !st.numeric && !variesPerHost(st))
    .map(([f]) => f)
    .sort();
  const groupsByKey = new Map<string, number[]>();
  perHost.forEach((f, i) => {
    // One part per grouped field, in a fixed order; an absent field is an empty part.
    let key = "";
    for (const path of grouped) {
      const v = f.get(path);
      key += v === undefined ? "\u0000," : `${valueKey(v as Json)},`;
    }
    const list = groupsByKey.get(key);
    if (list) list.push(ok[i]!.index);
    else groupsByKey.set(key, [ok[i]!.index]);
  });
  const allGroups = [...groupsByKey.values()].sort((a, b) => b.length - a.length || a[0]! - b[0]!);
  const groups: Group[] = allGroups.slice(0, MAX_GROUPS).map((members) => {
    const data = results[members[0]!]!.data;
    return { count: members.length, hosts: members.slice(0, GROUP_EXAMPLES).map(name), ...(bytes(data) <= GROUP_DATA_MAX_BYTES ? { data } : {}) };
  });

  const summary: FleetSummary = { outliers: { errors, apart }, groups, numbers };
  if (Object.keys(constant).length > 0) summary.constant = constant;
  if (varies.length > 0) summary.varies = varies.slice(0, MAX_VARIES);
  const omitted: NonNullable<FleetSummary["omitted"]> = {};
  if (allGroups.length > MAX_GROUPS) {
    omitted.groups = allGroups.length - MAX_GROUPS;
    omitted.groupedHosts = allGroups.slice(MAX_GROUPS).reduce((n, g) => n + g.length, 0);
  }
  if (varies.length > MAX_VARIES) omitted.varies = varies.length - MAX_VARIES;
  return fit(summary, omitted, outlierFields, options);
}

const add = (o: NonNullable<FleetSummary["omitted"]>, k: keyof NonNullable<FleetSummary["omitted"]>, n = 1) => {
  o[k] = (o[k] ?? 0) + n;
};

/**
 * Cuts the summary down to the budget, least telling parts first. Each pass removes items whose
 * sizes cover the excess as last measured, then measures again (the `omitted` counts grow too).
 */
function fit(summary: FleetSummary, omitted: NonNullable<FleetSummary["omitted"]>, outlierFields: ReadonlySet<string>, options: SummaryOptions): FleetSummary {
  const budget = options.maxBytes - options.overheadBytes;
  const measure = () => {
    if (Object.keys(omitted).length > 0) summary.omitted = omitted;
    return bytes(summary);
  };
  // Each step removes one item and returns its size, or undefined when it has nothing left.
  const steps: Array<() => number | undefined> = [
    () => {
      const v = summary.varies?.pop();
      if (!v) return undefined;
      add(omitted, "varies");
      if (summary.varies!.length === 0) delete summary.varies;
      return bytes(v) + 1;
    },
    () => {
      const g = [...summary.groups].reverse().find((x) => x.data !== undefined);
      if (!g) return undefined;
      const size = bytes(g.data) + 8;
      delete g.data;
      add(omitted, "groupData");
      return size;
    },
    () => {
      const keys = Object.keys(summary.constant ?? {});
      const last = keys.at(-1);
      if (last === undefined) return undefined;
      const size = bytes(last) + bytes(summary.constant![last]) + 2;
      delete summary.constant![last];
      if (keys.length === 1) delete summary.constant;
      add(omitted, "constant");
      return size;
    },
    () => {
      if (summary.groups.length <= 1) return undefined;
      const g = summary.groups.pop()!;
      add(omitted, "groups");
      add(omitted, "groupedHosts", g.count);
      return bytes(g) + 1;
    },
    () => dropNumber(summary, omitted, (n) => !outlierFields.has(n.field)),
    () => {
      const a = summary.outliers.apart.pop();
      if (!a) return undefined;
      add(omitted, "apartHosts");
      return bytes(a) + 1;
    },
    () => {
      const g = [...summary.outliers.errors].sort((a, b) => b.hosts.length - a.hosts.length)[0];
      if (!g || g.hosts.length === 0) return undefined;
      const h = g.hosts.pop()!;
      add(omitted, "errorHosts");
      return bytes(h) + 1;
    },
    () => dropNumber(summary, omitted, () => true),
    () => {
      const g = summary.groups.pop();
      if (!g) return undefined;
      add(omitted, "groups");
      add(omitted, "groupedHosts", g.count);
      return bytes(g) + 1;
    },
  ];
  let size = measure();
  for (const step of steps) {
    while (size > budget) {
      let excess = size - budget;
      let removed = false;
      while (excess > 0) {
        const freed = step();
        if (freed === undefined) break;
        removed = true;
        excess -= freed;
      }
      size = measure();
      if (!removed) break;
    }
    if (size <= budget) break;
  }
  return summary;
}

function dropNumber(summary: FleetSummary, omitted: NonNullable<FleetSummary["omitted"]>, which: (n: NumberField) => boolean): number | undefined {
  for (let i = summary.numbers.length - 1; i >= 0; i--) {
    if (!which(summary.numbers[i]!)) continue;
    const [n] = summary.numbers.splice(i, 1);
    add(omitted, "numbers");
    return bytes(n) + 1;
  }
  return undefined;
}
