// The host's own record of every action its helper starts and ends: the truth about actions,
// independent of any broker or agent. One root-owned file per request id under
// <stateDir>/ledger/ (0700, files 0600), written before the action's first command runs (an
// action never runs unrecorded) and rewritten when it ends, each time atomically (temporary file,
// fsync, rename, fsync of the directory): a crash leaves the last complete version.
//
// A copy of each record also goes to the journal directly (journal-line.ts), not through the
// operator agent, which may be the process that died.
//
// The operator agent reads a record back only through the helper itself (a "ledger" query on the
// helper's stdin, sudo as for actions), so the ledger stays root's alone. The broker uses it to
// settle requests whose outcome it lost (a broker or an agent killed mid-action).
import { closeSync, constants, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { describeIssues } from "../../../shared/zod-issues";
import { HelperRefusal } from "./exit-codes";

/** Request ids the ledger accepts as file names (the broker's are "act-" + 12 hex digits). */
export const LEDGER_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;
/** How many output lines a record keeps (the full output went to the caller as it ran). */
const LEDGER_OUTPUT_LINES = 100;

const LedgerEntrySchema = z.strictObject({
  v: z.literal(1),
  requestId: z.string().regex(LEDGER_ID),
  action: z.string().max(64),
  params: z.record(z.string(), z.unknown()),
  requester: z.string().max(256),
  keyId: z.string().max(128),
  nonce: z.string().max(64),
  state: z.enum(["STARTED", "ENDED"]),
  startedAt: z.string().max(40),
  /**
   * The helper process that ran it (pid, and its start time in clock ticks since boot, so a reused
   * pid is not taken for it), and the boot it ran in: a STARTED record whose helper is gone was
   * interrupted.
   */
  helperPid: z.number().int(),
  helperStart: z.string().max(32).optional(),
  bootId: z.string().max(64),
  endedAt: z.string().max(40).optional(),
  verdict: z.enum(["SUCCEEDED", "FAILED"]).optional(),
  reason: z.string().max(4000).optional(),
  before: z.unknown().optional(),
  after: z.unknown().optional(),
  output: z.array(z.string().max(2000)).max(LEDGER_OUTPUT_LINES).optional(),
});
export type LedgerEntry = z.output<typeof LedgerEntrySchema>;

/**
 * What a ledger query leaves for a request the helper never started: the id is voided, so a late
 * start (an agent that got the request just after the broker asked) is refused — "not started"
 * is then final, and the broker may say nothing ran.
 */
const VoidedEntrySchema = z.strictObject({
  v: z.literal(1),
  requestId: z.string().regex(LEDGER_ID),
  state: z.literal("VOIDED"),
  voidedAt: z.string().max(40),
});
export type VoidedEntry = z.output<typeof VoidedEntrySchema>;

/** What a reader learns: the record, and whether a STARTED record's helper still runs. */
export interface LedgerAnswer {
  entry: LedgerEntry | VoidedEntry | null;
  /** For a STARTED record: is its helper still running (same boot, same process)? */
  running?: boolean;
  /** The record is there but cannot be read or parsed: nothing may be concluded. */
  unreadable?: string;
}

/** This process's start time (field 22 of /proc/self/stat), or undefined off Linux. */
function processStart(pid: number | "self"): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

export function ledgerDir(stateDir: string): string {
  return join(stateDir, "ledger");
}

function ensureDir(path: string, owners: readonly number[]): void {
  let st;
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 });
    st = lstatSync(path);
  } catch (err) {
    throw new HelperRefusal("CONFIG", `cannot use the action ledger ${path}, so nothing runs: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!st.isDirectory() || !owners.includes(st.uid) || (st.mode & 0o077) !== 0) {
    throw new HelperRefusal("CONFIG", `action ledger ${path} must be a directory of ${owners.join(" or ")} with mode 0700 (is uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)})`);
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function currentBootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim().slice(0, 64);
  } catch {
    return "unknown";
  }
}

function fileOf(stateDir: string, requestId: string): string {
  if (!LEDGER_ID.test(requestId)) throw new HelperRefusal("MALFORMED", `request id ${JSON.stringify(requestId.slice(0, 80))} is not a ledger id`);
  return join(ledgerDir(stateDir), `${requestId}.json`);
}

function writeAtomically(file: string, entry: LedgerEntry): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
  try {
    writeSync(fd, `${JSON.stringify(entry)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/**
 * Records that an approved action is about to start. A request that already has a record ran (or
 * began) here before: refused, whatever its nonce says. Throws HelperRefusal if it cannot be
 * recorded — then nothing runs.
 */
export function recordStart(stateDir: string, owners: readonly number[], entry: Omit<LedgerEntry, "v" | "state" | "startedAt" | "helperPid" | "bootId">): LedgerEntry {
  const dir = ledgerDir(stateDir);
  ensureDir(dir, owners);
  const file = fileOf(stateDir, entry.requestId);
  const start = processStart("self");
  const full: LedgerEntry = { v: 1, ...entry, state: "STARTED", startedAt: new Date().toISOString(), helperPid: process.pid, ...(start && { helperStart: start }), bootId: currentBootId() };
  // O_EXCL: one start per request id, decided by the kernel (two helpers at once cannot both pass).
  let fd: number;
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      const prior = readEntry(file);
      if (prior.entry?.state === "VOIDED") {
        throw new HelperRefusal("REPLAYED", `request ${entry.requestId} was declared not started on this host at ${prior.entry.voidedAt} (its broker lost it and asked): it can never run now; propose it again`);
      }
      const when = prior.entry && "startedAt" in prior.entry ? prior.entry.startedAt : "at an unknown time";
      throw new HelperRefusal("REPLAYED", `request ${entry.requestId} already ran on this host (started ${when}): an approval runs once`);
    }
    throw new HelperRefusal("CONFIG", `cannot record the action in ${dir}, so it does not run: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    writeSync(fd, `${JSON.stringify(full)}\n`);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    // A start that is not durable is not a start: remove it so the record does not lie.
    rmSync(file, { force: true });
    throw new HelperRefusal("CONFIG", `cannot record the action in ${dir}, so it does not run: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  closeSync(fd);
  fsyncDir(dir);
  return full;
}

/** Records how it ended (best effort: the action has run; the STARTED record stays if this fails). */
export function recordEnd(
  stateDir: string,
  started: LedgerEntry,
  end: { verdict: "SUCCEEDED" | "FAILED"; reason?: string; before?: unknown; after?: unknown; output: string[] },
): LedgerEntry | undefined {
  const entry: LedgerEntry = {
    ...started,
    state: "ENDED",
    endedAt: new Date().toISOString(),
    verdict: end.verdict,
    ...(end.reason !== undefined && { reason: end.reason.slice(0, 4000) }),
    ...(end.before !== undefined && { before: end.before }),
    ...(end.after !== undefined && { after: end.after }),
    output: end.output.slice(-LEDGER_OUTPUT_LINES).map((l) => l.slice(0, 2000)),
  };
  try {
    writeAtomically(fileOf(stateDir, started.requestId), entry);
    fsyncDir(ledgerDir(stateDir));
    return entry;
  } catch {
    return undefined;
  }
}

function readEntry(file: string): { entry?: LedgerEntry | VoidedEntry; missing?: true; unreadable?: string } {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { missing: true };
    return { unreadable: `cannot open ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { unreadable: `${file} is not a regular file` };
    if (st.size > 512 * 1024) return { unreadable: `${file} is larger than 512 KiB` };
    const value: unknown = JSON.parse(readFileSync(fd, "utf8"));
    const voided = VoidedEntrySchema.safeParse(value);
    if (voided.success) return { entry: voided.data };
    const parsed = LedgerEntrySchema.safeParse(value);
    return parsed.success ? { entry: parsed.data } : { unreadable: `${file} is not a ledger record (${describeIssues(parsed.error, { max: 1 })})` };
  } catch (err) {
    return { unreadable: `${file} cannot be read: ${(err as Error).message}` };
  } finally {
    closeSync(fd);
  }
}

function helperAlive(entry: LedgerEntry): boolean {
  if (entry.bootId !== currentBootId() || entry.helperPid === process.pid) return false;
  try {
    process.kill(entry.helperPid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  // A reused pid is another process: same pid, another start time.
  return entry.helperStart === undefined || processStart(entry.helperPid) === entry.helperStart;
}

/**
 * The record of `requestId` on this host. A request the helper never started is voided now
 * (VoidedEntrySchema), atomically with the check (O_EXCL), so the answer stays true.
 */
export function readLedger(stateDir: string, owners: readonly number[], requestId: string): LedgerAnswer {
  const file = fileOf(stateDir, requestId);
  const found = readEntry(file);
  if (found.unreadable) return { entry: null, unreadable: found.unreadable.slice(0, 500) };
  if (found.missing) {
    ensureDir(ledgerDir(stateDir), owners);
    const voided: VoidedEntry = { v: 1, requestId, state: "VOIDED", voidedAt: new Date().toISOString() };
    try {
      const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        writeSync(fd, `${JSON.stringify(voided)}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      fsyncDir(ledgerDir(stateDir));
      return { entry: voided };
    } catch (err) {
      // A start won the race: answer with what it wrote.
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return readLedger(stateDir, owners, requestId);
      throw new HelperRefusal("CONFIG", `cannot record in ${ledgerDir(stateDir)} that ${requestId} never started: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const entry = found.entry!;
  if (entry.state !== "STARTED") return { entry };
  return { entry, running: helperAlive(entry) };
}

/** The record of `requestId` as it stands, without voiding a missing one (the undo check: run.ts). */
export function peekLedger(stateDir: string, requestId: string): { entry?: LedgerEntry | VoidedEntry; missing?: true; unreadable?: string } {
  return readEntry(fileOf(stateDir, requestId));
}
