// compare_hosts' judgement: how one host's answer differs from the fleet's usual answer, field by
// field (fields as fleet-shape.ts flattens them). The usual value of a field is the most common one
// among the fleet's hosts that answered (absence counts as a value), and for numbers the median:
// a number differs when it stands apart from the fleet's (fleet-stats.ts; below five fleet values
// only the 25 % and 0.5 floors apply). Each difference says which share of the fleet has the usual
// value (for numbers: lies within the usual band). Fields that differ on most of the fleet (names,
// addresses) are not compared but listed in `varies`. Pure; no I/O.
import { apartness, bandOf, MIN_HOSTS } from "./fleet-stats";
import { shapeOf, valueKey, type FleetDef, type Fields, type Json } from "./fleet-shape";

/** A value longer than this (as JSON) is shown as the start of its JSON text. */
const MAX_VALUE_CHARS = 300;

interface Difference {
  field: string;
  /** The host's value; absent when the host's answer lacks the field. */
  host?: Json;
  /** The fleet's usual value (median for numbers); absent when most of the fleet lacks the field. */
  usual?: Json;
  /** Share of the fleet with the usual value, 0..1. */
  share: number;
}

export interface Comparison {
  differences: Difference[];
  /** Fields compared where the host has the usual value. */
  same: number;
  /** Fields not compared: they differ on most of the fleet. */
  varies: string[];
}

const ABSENT = "\u0000absent";
const NUMBER = "\u0000number";

function shown(v: Json): Json {
  const text = JSON.stringify(v);
  return text.length <= MAX_VALUE_CHARS ? v : `${text.slice(0, MAX_VALUE_CHARS)}…`;
}

function round(share: number): number {
  return Math.round(share * 1000) / 1000;
}

function mode(counts: ReadonlyMap<string, number>): [string, number] {
  let best: [string, number] = [ABSENT, 0];
  for (const e of counts) if (e[1] > best[1]) best = e;
  return best;
}

export function compareHost(def: FleetDef, hostData: unknown, fleetData: readonly unknown[]): Comparison {
  const shape = shapeOf(def, [hostData, ...fleetData]);
  const mine = shape.fields(hostData);
  const theirs: Fields[] = fleetData.map((d) => shape.fields(d));
  const n = theirs.length;
  const paths = new Set<string>(mine.keys());
  for (const f of theirs) for (const p of f.keys()) paths.add(p);

  const out: Comparison = { differences: [], same: 0, varies: [] };
  if (n === 0) return out;
  for (const path of paths) {
    const values = theirs.map((f) => f.get(path));
    const numeric = typeof mine.get(path) === "number" || values.some((v) => typeof v === "number");
    const category = (v: Json | undefined): string => (v === undefined ? ABSENT : numeric && typeof v === "number" ? NUMBER : valueKey(v));
    const counts = new Map<string, number>();
    const examples = new Map<string, Json>();
    for (const v of values) {
      const c = category(v);
      counts.set(c, (counts.get(c) ?? 0) + 1);
      if (v !== undefined && !examples.has(c)) examples.set(c, v);
    }
    const present = n - (counts.get(ABSENT) ?? 0);
    if (!numeric && present >= MIN_HOSTS && counts.size - (counts.has(ABSENT) ? 1 : 0) > present / 2) {
      out.varies.push(path);
      continue;
    }
    const hv = mine.get(path);
    const [usual, count] = mode(counts);
    const numbers = values.filter((v): v is number => typeof v === "number");
    const band = numbers.length > 0 ? bandOf(numbers) : undefined;
    const usualValue = usual === ABSENT ? undefined : usual === NUMBER ? band!.median : examples.get(usual)!;
    const difference = (share: number): Difference => ({
      field: path,
      ...(hv !== undefined && { host: shown(hv) }),
      ...(usualValue !== undefined && { usual: shown(usualValue) }),
      share: round(share),
    });
    if (category(hv) !== usual) {
      // An entry of a keyed array that only one side has is one difference: its array's key list.
      if ((hv === undefined || usual === ABSENT) && path.includes("[")) continue;
      out.differences.push(difference(count / n));
    } else if (usual === NUMBER && typeof hv === "number" && apartness(hv, band!) > 1) {
      const within = numbers.filter((x) => apartness(x, band!) <= 1).length;
      out.differences.push(difference(within / n));
    } else {
      out.same++;
    }
  }
  out.differences.sort((a, b) => b.share - a.share);
  return out;
}
