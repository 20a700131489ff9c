// Pure parsing of `systemctl show` output (KEY=VALUE lines, one block per unit separated by a
// blank line). systemd prints the properties in its own order, type-specific ones (Result,
// MainPID, …) BEFORE Id=, so blocks are split on blank lines, never on "Id=".

/** The properties get_service_status and check_service_health ask for (`--property=`). */
export const STATUS_PROPERTIES = [
  "Id", "Names", "Description", "LoadState", "LoadError", "ActiveState", "SubState", "UnitFileState",
  "UnitFilePreset", "Type", "Restart", "MainPID", "ExecMainPID", "ExecMainCode", "ExecMainStatus",
  "ExecMainStartTimestamp", "ActiveEnterTimestamp", "InactiveEnterTimestamp", "StateChangeTimestamp",
  "NRestarts", "Result", "MemoryCurrent", "CPUUsageNSec", "TasksCurrent", "FragmentPath", "ControlGroup",
  "Requires", "Wants", "BindsTo", "After",
] as const;

/** The properties read for each dependency of a unit. */
export const DEPENDENCY_PROPERTIES = ["Id", "LoadState", "ActiveState", "SubState", "Result"] as const;

export type ShowBlock = Map<string, string>;

const MAX_VALUE = 8192;

/** Splits `systemctl show` output into one map per unit, in output order. */
export function parseShow(text: string): ShowBlock[] {
  const blocks: ShowBlock[] = [];
  let current: ShowBlock = new Map();
  for (const line of text.split("\n")) {
    if (line === "") {
      if (current.size > 0) blocks.push(current);
      current = new Map();
      continue;
    }
    const eq = line.indexOf("=");
    if (eq <= 0) continue; // not a property line (systemd never prints one; ignore rather than guess)
    current.set(line.slice(0, eq), line.slice(eq + 1, eq + 1 + MAX_VALUE));
  }
  if (current.size > 0) blocks.push(current);
  return blocks;
}

/** A string property; "" (systemd's "no value") becomes null. */
export function text(block: ShowBlock, key: string): string | null {
  const v = block.get(key);
  return v === undefined || v === "" ? null : v;
}

// systemd prints UINT64_MAX ("[not set]" in newer versions) when accounting is off.
const UINT64_MAX = "18446744073709551615";

/** A numeric property; "", "[not set]", "[no data]", "infinity" and UINT64_MAX become null. */
function num(block: ShowBlock, key: string): number | null {
  const v = block.get(key);
  if (v === undefined || v === UINT64_MAX || !/^\d{1,20}$/.test(v)) return null;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : null;
}

/** A space-separated list property (Names, Requires, …), capped at `max` items. */
function list(block: ShowBlock, key: string, max = 200): string[] {
  const v = block.get(key);
  if (!v) return [];
  return v.split(" ").filter((s) => s !== "").slice(0, max);
}

const DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ";
// With --timestamp=us+utc: "Sat 2026-11-21 23:46:16.601813 UTC"; with --timestamp=utc no fraction.
const UTC_TIMESTAMP = new RegExp(`^(?:${DAY})?(\\d{4}-\\d{2}-\\d{2}) (\\d{2}:\\d{2}:\\d{2})(\\.\\d{1,6})? UTC$`);

/** A timestamp printed with --timestamp=us+utc, as ISO 8601; "" and "n/a" become null. */
function timestamp(block: ShowBlock, key: string): string | null {
  const v = block.get(key);
  if (!v) return null;
  const m = UTC_TIMESTAMP.exec(v);
  if (m) {
    const frac = (m[3] ?? ".0").slice(1).padEnd(3, "0").slice(0, 3);
    const d = new Date(`${m[1]}T${m[2]}.${frac}Z`);
    return Number.isNaN(d.getTime()) ? null : d.toISOString();
  }
  const unix = /^@(\d{1,12})$/.exec(v); // --timestamp=unix
  if (unix) return new Date(Number(unix[1]) * 1000).toISOString();
  return null;
}

/** CLD_* codes as systemd stores ExecMainCode. */
const EXIT_CODES: Record<string, string> = { "1": "exited", "2": "killed", "3": "dumped", "4": "trapped", "5": "stopped", "6": "continued" };

export interface ServiceStatus {
  unit: string;
  names: string[];
  description: string;
  loadState: string;
  loadError: string | null;
  activeState: string;
  subState: string;
  result: string | null;
  unitFileState: string | null;
  unitFilePreset: string | null;
  type: string | null;
  restartPolicy: string | null;
  mainPid: number | null;
  lastExit: { code: string; status: number } | null;
  restarts: number | null;
  execMainStartedAt: string | null;
  activeEnteredAt: string | null;
  inactiveEnteredAt: string | null;
  stateChangedAt: string | null;
  memoryBytes: number | null;
  cpuNanoseconds: number | null;
  tasks: number | null;
  fragmentPath: string | null;
  controlGroup: string | null;
  requires: string[];
  wants: string[];
  bindsTo: string[];
  after: string[];
}

/** Maps one STATUS_PROPERTIES block to the get_service_status shape. */
export function toServiceStatus(block: ShowBlock): ServiceStatus {
  const mainPid = num(block, "MainPID");
  const code = text(block, "ExecMainCode");
  const exitName = code === null ? undefined : EXIT_CODES[code];
  return {
    unit: text(block, "Id") ?? "",
    names: list(block, "Names", 50),
    description: block.get("Description") ?? "",
    loadState: text(block, "LoadState") ?? "unknown",
    loadError: text(block, "LoadError"),
    activeState: text(block, "ActiveState") ?? "unknown",
    subState: text(block, "SubState") ?? "unknown",
    result: text(block, "Result"),
    unitFileState: text(block, "UnitFileState"),
    unitFilePreset: text(block, "UnitFilePreset"),
    type: text(block, "Type"),
    restartPolicy: text(block, "Restart"),
    mainPid: mainPid === 0 ? null : mainPid,
    lastExit: exitName ? { code: exitName, status: num(block, "ExecMainStatus") ?? 0 } : null,
    restarts: num(block, "NRestarts"),
    execMainStartedAt: timestamp(block, "ExecMainStartTimestamp"),
    activeEnteredAt: timestamp(block, "ActiveEnterTimestamp"),
    inactiveEnteredAt: timestamp(block, "InactiveEnterTimestamp"),
    stateChangedAt: timestamp(block, "StateChangeTimestamp"),
    memoryBytes: num(block, "MemoryCurrent"),
    cpuNanoseconds: num(block, "CPUUsageNSec"),
    tasks: num(block, "TasksCurrent"),
    fragmentPath: text(block, "FragmentPath"),
    controlGroup: text(block, "ControlGroup"),
    requires: list(block, "Requires"),
    wants: list(block, "Wants"),
    bindsTo: list(block, "BindsTo"),
    after: list(block, "After"),
  };
}
