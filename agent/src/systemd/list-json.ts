// Pure parsing of systemctl's table commands printed with --output=json (systemd ≥ 246):
// list-units, list-unit-files and list-timers. Every row is validated; a row that does not match
// is skipped rather than trusted.
import { z } from "zod";

const name = z.string().min(1).max(256);
const word = z.string().max(64);

const unitRow = z.object({
  unit: name,
  load: word,
  active: word,
  sub: word,
  description: z.string().nullable().optional(),
});
export type UnitRow = { unit: string; load: string; active: string; sub: string; description: string | null };

const unitFileRow = z.object({ unit_file: name, state: word, preset: word.nullable().optional() });
export type UnitFileRow = { unitFile: string; state: string };

// systemd 252 prints "next"/"last" as µs since the epoch (0 = never, null = not scheduled); it
// also prints "left"/"passed" with the same absolute values, so those are not used.
const timerRow = z.object({
  unit: name,
  activates: name.nullable().optional(),
  next: z.number().nonnegative().nullable(),
  last: z.number().nonnegative().nullable(),
});
export type TimerRow = { unit: string; activates: string | null; next: string | null; last: string | null };

class ListParseError extends Error {}

function rows(json: string, what: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json === "" ? "[]" : json);
  } catch (err) {
    throw new ListParseError(`systemctl ${what} printed invalid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new ListParseError(`systemctl ${what} did not print a JSON array`);
  return parsed;
}

export function parseListUnits(json: string): UnitRow[] {
  const out: UnitRow[] = [];
  for (const r of rows(json, "list-units")) {
    const p = unitRow.safeParse(r);
    if (p.success) out.push({ ...p.data, description: p.data.description?.slice(0, 1024) ?? null });
  }
  return out;
}

export function parseListUnitFiles(json: string): UnitFileRow[] {
  const out: UnitFileRow[] = [];
  for (const r of rows(json, "list-unit-files")) {
    const p = unitFileRow.safeParse(r);
    if (p.success) out.push({ unitFile: p.data.unit_file, state: p.data.state });
  }
  return out;
}

function usecToIso(us: number | null): string | null {
  if (us === null || us === 0) return null;
  const d = new Date(Math.floor(us / 1000));
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

export function parseListTimers(json: string): TimerRow[] {
  const out: TimerRow[] = [];
  for (const r of rows(json, "list-timers")) {
    const p = timerRow.safeParse(r);
    if (p.success) {
      out.push({ unit: p.data.unit, activates: p.data.activates ?? null, next: usecToIso(p.data.next), last: usecToIso(p.data.last) });
    }
  }
  return out;
}

export interface ServiceRow extends UnitRow {
  unitFileState: string | null;
}

/**
 * Services = the units systemd has loaded (list-units --all) plus installed unit files it has not
 * loaded (load "not-loaded", or "masked"; inactive/dead). Templates ("getty@.service") and
 * aliases are not units of their own.
 */
export function mergeServices(units: UnitRow[], files: UnitFileRow[]): ServiceRow[] {
  const fileState = new Map(files.map((f) => [f.unitFile, f.state]));
  const out: ServiceRow[] = units.map((u) => ({ ...u, unitFileState: fileState.get(u.unit) ?? null }));
  const loaded = new Set(units.map((u) => u.unit));
  for (const f of files) {
    if (loaded.has(f.unitFile) || f.unitFile.includes("@.") || f.state === "alias") continue;
    const load = f.state === "masked" ? "masked" : "not-loaded";
    out.push({ unit: f.unitFile, load, active: "inactive", sub: "dead", description: null, unitFileState: f.state });
  }
  return out.sort((a, b) => (a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : 0));
}

export type ServiceStateFilter = "all" | "active" | "inactive" | "failed" | "running";

export function matchesState(row: UnitRow, state: ServiceStateFilter): boolean {
  switch (state) {
    case "all":
      return true;
    case "running":
      return row.sub === "running";
    default:
      return row.active === state;
  }
}
