// Single use of an approval, for ever. Each used nonce is a file <stateDir>/nonces/<nonce> created
// with O_CREAT|O_EXCL: the kernel makes "check and record" one atomic step, so two helpers started
// at once with the same approval cannot both pass (an append-only list would need a lock for that).
//
// A record is kept until its approval can never be accepted again, judged by the helper's clock
// that never steps back (clock.ts): accepted requires now + maxSkew ≤ notAfter, and `now` never
// decreases, so a record whose notAfter + maxSkew lies before `now` is pruned safely — a clock
// stepped forward and back cannot bring its approval back. The records and the clock are one
// store: the clock's `floor` says when the records began, and approvals signed before it are
// refused (STALE), so a store lost to a purge, a reinstall or a deleted directory is never
// silently a fresh start; a clock without its records is refused until an administrator resets
// both.
import { closeSync, constants, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync, fsyncSync } from "node:fs";
import { join } from "node:path";
import { advanceClock, clockFile, type HelperNow } from "./clock";
import { HelperRefusal } from "./exit-codes";
import { untrustedAncestor } from "./trust";

const NONCE = /^[0-9a-f]{32}$/;
/** Pruning looks at this many entries per run at most (bounded work on every call). */
const MAX_PRUNE = 1000;

function ensureDir(path: string, owners: readonly number[], create: boolean): void {
  if (create) mkdirSync(path, { recursive: true, mode: 0o700 });
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    throw new HelperRefusal("CONFIG", `the helper's state ${path} cannot be examined: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!st.isDirectory() || !owners.includes(st.uid) || (st.mode & 0o077) !== 0) {
    throw new HelperRefusal("CONFIG", `the helper's state ${path} must be a directory of ${owners.join(" or ")} with mode 0700 (is uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)})`);
  }
  const above = untrustedAncestor(path, owners);
  if (above) throw new HelperRefusal("CONFIG", `the helper's state ${path} cannot be trusted: ${above}`);
}

function noncesDir(stateDir: string): string {
  return join(stateDir, "nonces");
}

/**
 * Creates the store when it does not exist yet (the records directory first, then the clock, so a
 * clock never exists without its records unless someone removed them). The package's postinst
 * and `hostward local up` create it when a host is set up, so that approvals signed before the
 * helper's first run are not refused as STALE; the helper creates it too if it is missing.
 */
export function initApprovalStore(stateDir: string, owners: readonly number[], wall: number): HelperNow {
  ensureDir(stateDir, owners, true);
  if (!existsSync(clockFile(stateDir))) ensureDir(noncesDir(stateDir), owners, true);
  return advanceClock(stateDir, owners, wall);
}

/** Opens the store of used approvals and reads its clock (advancing the high-water mark), creating it if missing. */
export function openApprovalStore(stateDir: string, owners: readonly number[], wall: number): HelperNow {
  const clock = initApprovalStore(stateDir, owners, wall);
  const dir = noncesDir(stateDir);
  if (!existsSync(dir)) {
    throw new HelperRefusal(
      "CONFIG",
      `the record of used approvals ${dir} is missing, but ${clockFile(stateDir)} says it began at ${new Date(clock.floor * 1000).toISOString()}: restore it, or remove ${clockFile(stateDir)} too to start a new record (approvals signed before then are then refused)`,
    );
  }
  ensureDir(dir, owners, false);
  return clock;
}

/** Records `nonce` as used; throws REPLAYED when it already was. Call after openApprovalStore. */
export function useNonce(
  stateDir: string,
  entry: { nonce: string; notAfter: number; requestId: string },
  clock: { now: number; maxSkewSeconds: number },
): void {
  const { nonce } = entry;
  if (!NONCE.test(nonce)) throw new HelperRefusal("MALFORMED", "approval nonce is not 32 lowercase hex digits");
  const dir = noncesDir(stateDir);
  prune(dir, clock.now - clock.maxSkewSeconds);
  let fd: number;
  try {
    fd = openSync(join(dir, nonce), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      throw new HelperRefusal("REPLAYED", `approval nonce ${nonce} was already used: an approval runs once`);
    }
    throw new HelperRefusal("CONFIG", `cannot record the nonce in ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    // Written and synced before anything runs: a crash after this line leaves the nonce used.
    writeSync(fd, `${JSON.stringify({ notAfter: entry.notAfter, requestId: entry.requestId, usedAt: clock.now })}\n`);
    fsyncSync(fd);
  } catch (err) {
    // The name exists, so the nonce stays used even without its contents (prune keeps unreadable entries).
    throw new HelperRefusal("CONFIG", `cannot record the nonce in ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  } finally {
    closeSync(fd);
  }
  const dirFd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/** Removes records whose approval expired before `before` (= now − maxSkew by the clock that never steps back). */
function prune(dir: string, before: number): void {
  for (const name of readdirSync(dir).slice(0, MAX_PRUNE)) {
    if (!NONCE.test(name)) continue;
    try {
      const { notAfter } = JSON.parse(readFileSync(join(dir, name), "utf8")) as { notAfter?: unknown };
      if (typeof notAfter === "number" && notAfter < before) rmSync(join(dir, name), { force: true });
    } catch {
      // A half-written or unreadable entry is kept: it still blocks its nonce.
    }
  }
}
