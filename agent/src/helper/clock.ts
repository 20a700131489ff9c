// The helper's clock: one that never steps back. Expiry, nonce pruning and clock-skew checks are
// judged by `now = max(the wall clock, the highest wall-clock time this helper has ever seen)`,
// kept in <stateDir>/clock.json (root's, 0600). A clock stepped forward and back again therefore
// cannot make an expired approval valid again, nor prune a used nonce while its approval could
// still be accepted: once an approval is expired by this clock it stays expired.
//
// The file also records `floor`: when this record of used approvals began (created on first use,
// e.g. after a purge and reinstall, or after an administrator removed the file). Approvals signed
// before it are refused (STALE): whether they ran before the state was lost cannot be known.
//
// Test seam: in direct mode only (local fleets, tests), HOSTWARD_CLOCK_OFFSET_SECONDS shifts the
// wall clock the helper reads by that many seconds. The helper scrubs its environment (and sudo's
// env_reset removes the variable anyway), so libfaketime cannot do this; through sudo the variable
// is refused like every other HOSTWARD_* variable (guard.ts).
import { closeSync, constants, fstatSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { HelperRefusal } from "./exit-codes";
import { DIRECT_ENV, type HelperMode, type Invocation } from "./guard";

interface ClockState {
  v: 1;
  /** Unix seconds: when this record of used approvals began. */
  floor: number;
  /** Unix seconds: the highest wall-clock time any helper run has seen. */
  highWater: number;
}

export interface HelperNow {
  /** max(wall clock, high-water mark), unix seconds: what approvals are judged by. */
  now: number;
  wall: number;
  floor: number;
  /** How far the wall clock is behind the high-water mark (0 when it is not): a clock stepped back. */
  behindBy: number;
  /** The state file did not exist and was created by this run. */
  created: boolean;
}

const MAX_OFFSET = 10 * 365 * 86_400;

/** The wall clock in unix seconds, shifted by the direct-mode test seam. */
export function wallClockSeconds(mode: HelperMode, env: Invocation["env"]): number {
  const wall = Math.floor(Date.now() / 1000);
  const raw = mode === "direct" ? env[DIRECT_ENV.clockOffset] : undefined;
  if (raw === undefined) return wall;
  if (!/^-?[0-9]{1,9}$/.test(raw) || Math.abs(Number(raw)) > MAX_OFFSET) {
    throw new HelperRefusal("USAGE", `${DIRECT_ENV.clockOffset} must be a whole number of seconds within ±${MAX_OFFSET}`);
  }
  return wall + Number(raw);
}

export function clockFile(stateDir: string): string {
  return join(stateDir, "clock.json");
}

function readState(file: string, owners: readonly number[]): ClockState | null {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new HelperRefusal("CONFIG", `cannot open the helper's clock ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || !owners.includes(st.uid) || (st.mode & 0o077) !== 0) {
      throw new HelperRefusal("CONFIG", `the helper's clock ${file} must be a regular file of uid ${owners.join(" or ")} with mode 0600 (is uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)})`);
    }
    const text = readFileSync(fd, "utf8");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    const s = parsed as Partial<ClockState> | null;
    if (!s || s.v !== 1 || !Number.isSafeInteger(s.floor) || !Number.isSafeInteger(s.highWater) || (s.floor as number) <= 0 || (s.highWater as number) < (s.floor as number)) {
      throw new HelperRefusal(
        "CONFIG",
        `the helper's clock ${file} is damaged; remove it to start a new record (every approval signed before then will be refused as STALE)`,
      );
    }
    return s as ClockState;
  } finally {
    closeSync(fd);
  }
}

/** Writes the state atomically and durably: a temporary file, fsync, rename, fsync of the directory. */
function writeState(stateDir: string, state: ClockState): void {
  const file = clockFile(stateDir);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    rmSync(tmp, { force: true });
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, `${JSON.stringify(state)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    const dirFd = openSync(stateDir, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new HelperRefusal("CONFIG", `cannot record the helper's clock in ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * Reads the clock (creating it on first use), moves its high-water mark up to the wall clock and
 * returns the time approvals are judged by. Refuses (CONFIG) when the state cannot be read or
 * recorded: nothing runs on a clock the helper could not keep. Two helpers at once may both write;
 * each writes a value at least the high-water mark it read, so the mark never goes back by more
 * than the seconds between their two readings of the wall clock.
 */
export function advanceClock(stateDir: string, owners: readonly number[], wall: number): HelperNow {
  const file = clockFile(stateDir);
  const state = readState(file, owners);
  if (state === null) {
    writeState(stateDir, { v: 1, floor: wall, highWater: wall });
    return { now: wall, wall, floor: wall, behindBy: 0, created: true };
  }
  const now = Math.max(wall, state.highWater);
  if (now > state.highWater) writeState(stateDir, { ...state, highWater: now });
  return { now, wall, floor: state.floor, behindBy: Math.max(0, state.highWater - wall), created: false };
}
