// Figures the suite measures but does not assert (exposure scores, package sizes, idle RSS, the
// suite's duration): collected in test/.tmp/e2e-measurements.json and printed by the global
// teardown. Test files run one after another (fileParallelism: false), so read-modify-write is safe.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { MEASUREMENTS_FILE } from "./paths";

export type Measurements = Record<string, string | number>;

export function readMeasurements(): Measurements {
  if (!existsSync(MEASUREMENTS_FILE)) return {};
  return JSON.parse(readFileSync(MEASUREMENTS_FILE, "utf8")) as Measurements;
}

export function record(name: string, value: string | number): void {
  const all = readMeasurements();
  all[name] = value;
  mkdirSync(dirname(MEASUREMENTS_FILE), { recursive: true });
  writeFileSync(MEASUREMENTS_FILE, `${JSON.stringify(all, null, 2)}\n`);
}

export function resetMeasurements(): void {
  mkdirSync(dirname(MEASUREMENTS_FILE), { recursive: true });
  writeFileSync(MEASUREMENTS_FILE, "{}\n");
}
