// The numbers of a fleet answer: distributions and the rule that says a host's value stands apart.
// Pure; no I/O. ARCHITECTURE.md ("Answers sized for a fleet") states the rule for readers.
//
// A value x of a field stands apart from the fleet when the field has values on at least
// MIN_HOSTS hosts and
//     |x − median| > max(3.5 · σ̂, 0.25 · |median|, 0.5)
// where σ̂ is the robust spread: 1.4826 · MAD (median absolute deviation; the factor makes it the
// standard deviation for normal data), or, when more than half of the hosts share the median
// (MAD = 0), 1.253314 · the mean absolute deviation from the median (the same scaling for the mean
// deviation). 3.5 is Iglewicz and Hoaglin's cut-off for the modified z-score; the 25 % and the 0.5
// keep a fleet whose values barely differ (every load 0.01–0.03, disks at 41 % or 42 %) from
// naming hosts for differences nobody would act on.

/** Fewer values than this give no outliers: a median of four says little about the fifth. */
export const MIN_HOSTS = 5;
const Z_CUTOFF = 3.5;
const MAD_TO_SIGMA = 1.4826;
const MEAN_AD_TO_SIGMA = 1.253314;
const RELATIVE_FLOOR = 0.25;
const ABSOLUTE_FLOOR = 0.5;

/** Rounds away float noise of a computed value (0.15000000000000002 → 0.15); integers stay exact. */
function tidy(x: number): number {
  return Number.isInteger(x) ? x : Number(x.toPrecision(12));
}

type Sorted = ArrayLike<number>;

/** Ascending copy, sorted numerically without a comparator call per pair. */
function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

/** The median of ascending values (the mean of the two middle ones for an even count). */
function medianOfSorted(sorted: Sorted): number {
  const n = sorted.length;
  const mid = n >> 1;
  return n % 2 === 1 ? sorted[mid]! : tidy((sorted[mid - 1]! + sorted[mid]!) / 2);
}

/** Nearest-rank quantile of ascending values: always one of the values. */
function quantileOfSorted(sorted: Sorted, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export interface Band {
  median: number;
  /** |x − median| above this stands apart. */
  threshold: number;
}

/**
 * The band of usual values of a field. Below MIN_HOSTS values only the relative and absolute
 * floors apply (`full: false`): compare_hosts uses that for a small fleet; the summary names no
 * outlier then.
 */
export function bandOf(values: ArrayLike<number>): Band & { full: boolean } {
  return bandOfSorted(sortedCopy(values));
}

function bandOfSorted(sorted: Float64Array): Band & { full: boolean } {
  const median = medianOfSorted(sorted);
  const floor = Math.max(RELATIVE_FLOOR * Math.abs(median), ABSOLUTE_FLOOR);
  if (sorted.length < MIN_HOSTS) return { median, threshold: floor, full: false };
  const deviations = sorted.map((x) => Math.abs(x - median)).sort();
  const mad = medianOfSorted(deviations);
  let sum = 0;
  for (const d of deviations) sum += d;
  const sigma = mad > 0 ? MAD_TO_SIGMA * mad : MEAN_AD_TO_SIGMA * (sum / deviations.length);
  return { median, threshold: Math.max(Z_CUTOFF * sigma, floor), full: true };
}

/** How far outside the band x is: > 1 stands apart (used to put the most distant first). */
export function apartness(x: number, band: Band): number {
  return Math.abs(x - band.median) / band.threshold;
}

export interface Distribution {
  n: number;
  min: number;
  median: number;
  p90: number;
  max: number;
  /** Indexes (into the values given) of a value at the minimum and at the maximum: the first such. */
  minAt: number;
  maxAt: number;
}

/** The distribution of a field's values and, when they differ, the band of its usual values (one sort). */
export function distributionOf(values: readonly number[]): Distribution & { band?: Band & { full: boolean } } {
  let minAt = 0;
  let maxAt = 0;
  for (let i = 1; i < values.length; i++) {
    if (values[i]! < values[minAt]!) minAt = i;
    if (values[i]! > values[maxAt]!) maxAt = i;
  }
  const min = values[minAt]!;
  const max = values[maxAt]!;
  if (min === max) return { n: values.length, min, median: min, p90: min, max, minAt, maxAt };
  const sorted = sortedCopy(values);
  return { n: values.length, min, median: medianOfSorted(sorted), p90: quantileOfSorted(sorted, 0.9), max, minAt, maxAt, band: bandOfSorted(sorted) };
}
