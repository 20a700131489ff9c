// The broker's append-only audit log: JSON lines, hash-chained (chain.ts). A write that fails
// throws, and callers refuse to act unaudited. docs/design/audit-log.md has the why; in short:
//
// - No fork, by construction. Several broker processes may share one state directory (an MCP
//   client starts one broker per session). Every append holds an exclusive kernel lock
//   (file-lock.ts) on `audit.jsonl.lock` while it reads the chain's tail and writes; the kernel
//   releases it only when the holder unlocks or dies, never because it was held "too long", so a
//   paused broker keeps it and the others wait — at most `lockWaitMs`, on timers, then they refuse
//   with AuditBusyError before anything was sent to a host.
// - A record is complete or absent. A short write (a full disk) is cut back at once; a record torn
//   by a crash is found by the next append (in any process): its bytes are kept aside in
//   `audit.jsonl.torn-<offset>`, the log is cut back to its last complete record, and an
//   `audit.recovered` record saying what was found is appended. `hostward audit verify` reports
//   that as a recovery, not as tampering.
// - An anchored chain. With an anchor key (outside the state directory: the config directory),
//   the head — the sequence number and hash of the last durable record, and the hash of the first
//   — is signed (ed25519) into `audit-head.json` at most ANCHOR_INTERVAL_MS after a record becomes
//   durable and at once after an action's record. Cutting records off the end, or resealing the
//   whole chain, no longer verifies (anchor.ts).
//
// Two durabilities: append() writes and fsyncs before it resolves (anything that changes a host
// must use it); appendDeferred() resolves once written — a broker crash cannot lose the record —
// with `durable` settling after a shared background fsync (group commit: one fsync covers every
// record written before it started). Read-only calls use it so the fsync overlaps the call
// instead of preceding it (host-call.ts, test/bench/results.md). appendLazy()'s fsync waits for
// the next flush, started by the next non-lazy append or, at the latest, LAZY_FLUSH_MS later.
import {
  closeSync,
  existsSync,
  fstatSync,
  fsync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeSync,
} from "node:fs";
import { open } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { KernelLock, LOCK_WAIT_MS, LockBusyError } from "../file-lock";
import { Anchor, type AnchorFiles } from "./anchor";
import { GENESIS, openLine, openLines, sealRecords, sha256Bytes, sha256Hex } from "./chain";
import type { AuditStore, Written } from "../state/store";
import type { AuditRecordInput } from "./records";

/** How long a lazily appended record waits for a flush to share (appendLazy). */
const LAZY_FLUSH_MS = 5;
/** The signed head lags the durable log by at most this much (unless a write of it fails). */
const ANCHOR_INTERVAL_MS = 1_000;
/**
 * How long a record that must follow something that already happened may wait for the lock (a
 * call's result after its hosts answered, an action's result, a reconciliation, a broker's start):
 * giving up would leave the log without it, so a long wait is the better failure.
 */
export const RESULT_LOCK_WAIT_MS = 30_000;
/** When the lock is busy at signing time, the next try comes this much later. */
const ANCHOR_RETRY_MS = 50;

export class AuditError extends Error {
  override name = "AuditError";
  code = "AUDIT_FAILED";
}

/** The log stayed locked by another process for the whole bounded wait: nothing was written. */
export class AuditBusyError extends AuditError {
  override name = "AuditBusyError";
  override code = "AUDIT_BUSY";
}

export interface AuditLogOptions {
  /** Longest wait for the log's lock before an append fails with AuditBusyError. */
  lockWaitMs?: number;
  /** Sign the chain's head with this key (kept outside the state directory). */
  anchor?: AnchorFiles;
}

export type { Written } from "../state/store";

interface Tail {
  size: number;
  prev: string;
  seq: number;
}

/** A record cut short: the bytes after the last complete line. */
interface Torn {
  offset: number;
  bytes: Buffer;
  tail: Tail;
}

const CHUNK = 64 * 1024;

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** The offset of the last newline in [0, end) of `fd`, or -1: read backwards in CHUNKs. */
function lastNewlineBefore(fd: number, end: number): number {
  while (end > 0) {
    const start = Math.max(0, end - CHUNK);
    const i = readAt(fd, start, end - start).lastIndexOf(0x0a);
    if (i >= 0) return start + i;
    end = start;
  }
  return -1;
}

/** The tail of the chain held in `fd` (size bytes), or the torn bytes after its last complete line. */
function readTail(fd: number, size: number, file: string): Tail | Torn {
  if (size === 0) return { size, prev: GENESIS, seq: 0 };
  // The end of the last complete record, and the start of that record.
  const lastNl = lastNewlineBefore(fd, size);
  const goodSize = lastNl + 1;
  let tail: Tail = { size: 0, prev: GENESIS, seq: 0 };
  if (goodSize > 0) {
    const lineStart = lastNewlineBefore(fd, lastNl) + 1;
    const line = readAt(fd, lineStart, lastNl - lineStart).toString("utf8");
    const opened = openLine(line);
    if (!opened.ok) throw new AuditError(`${file}: the last complete record is damaged (${opened.error}); nothing is appended to a log that may have been edited: run "hostward audit verify"`);
    const seq = opened.record.seq;
    if (typeof seq !== "number" || !Number.isInteger(seq)) throw new AuditError(`${file}: the last record has no seq; run "hostward audit verify"`);
    tail = { size: goodSize, prev: sha256Hex(line), seq };
  }
  if (goodSize === size) return tail;
  return { offset: goodSize, bytes: readAt(fd, goodSize, size - goodSize), tail };
}

function isTorn(t: Tail | Torn): t is Torn {
  return "bytes" in t;
}

/** Where the bytes of a torn record found at `offset` are kept. */
export function tornFile(file: string, offset: number): string {
  return `${file}.torn-${offset}`;
}

export class AuditLog implements AuditStore {
  readonly #lock: KernelLock;
  readonly #lockWaitMs: number;
  readonly #anchor: Anchor | undefined;
  #tail: Tail | undefined;
  /** The log's descriptor, kept between appends (reopened when the path names another file). */
  #fd: { fd: number; ino: number } | undefined;
  /** The last record this process wrote (seq and line hash), and the last one known durable. */
  // Each tagged with the inode it was written to: a log moved away and replaced is another chain,
  // and a head is only ever signed for a record of the file the path names now.
  #written: { seq: number; hash: string; ino: number } | undefined;
  #durable: { seq: number; hash: string; ino: number } | undefined;
  #chainId: string | undefined;
  /** The inode the descriptor was last opened on (kept across a close after a failed write). */
  #ino: number | undefined;

  constructor(
    readonly file: string,
    options: AuditLogOptions = {},
  ) {
    this.#lock = new KernelLock(`${file}.lock`);
    this.#lockWaitMs = options.lockWaitMs ?? LOCK_WAIT_MS;
    this.#anchor = options.anchor ? new Anchor(options.anchor) : undefined;
  }

  get location(): string {
    return this.file;
  }

  /** Creates the directory (0700); the chain itself is checked (and recovered) by the first append. */
  open(): this {
    try {
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new AuditError(`cannot create the audit directory ${dirname(this.file)}: ${(err as Error).message}`);
    }
    return this;
  }

  async tail(n: number, maxBytes: number): Promise<{ records: Record<string, unknown>[]; problems: string[] }> {
    let text: string;
    try {
      const fh = await open(this.file, "r");
      try {
        const { size } = await fh.stat();
        const start = Math.max(0, size - maxBytes);
        const buf = Buffer.alloc(size - start);
        const { bytesRead } = await fh.read(buf, 0, buf.length, start);
        text = buf.subarray(0, bytesRead).toString("utf8");
        // A read that starts mid-file starts mid-record: the first (partial) line is dropped.
        if (start > 0) text = text.slice(text.indexOf("\n") + 1);
      } finally {
        await fh.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return { records: [], problems: [] };
      throw new AuditError(`cannot read ${this.file}: ${(err as Error).message}`);
    }
    const lines = text.split("\n").filter((l) => l !== "").slice(-n);
    return openLines(lines);
  }

  /** Appends records as one write + fsync; rejects with AuditError if they could not be made durable. */
  async append(...records: AuditRecordInput[]): Promise<void> {
    return this.appendWaiting(this.#lockWaitMs, ...records);
  }

  /** append() with its own lock wait (a broker's start record: better late than not started). */
  async appendWaiting(waitMs: number, ...records: AuditRecordInput[]): Promise<void> {
    await this.#write(records, true, waitMs);
    this.#anchorSoon(records.some((r) => r.event.startsWith("action.")));
  }

  /**
   * Appends records as one write (rejects with AuditError — AuditBusyError if the lock stayed
   * busy — when that fails) and resolves with a promise that settles once an fsync made them durable.
   */
  async appendDeferred(...records: AuditRecordInput[]): Promise<Written> {
    return this.#deferred(records, false, this.#lockWaitMs);
  }

  /** Like appendDeferred, but its fsync waits up to LAZY_FLUSH_MS for other records to share it. */
  async appendLazy(...records: AuditRecordInput[]): Promise<Written> {
    return this.appendLazyWaiting(this.#lockWaitMs, ...records);
  }

  /** appendLazy with its own lock wait (a call's result record, written after its hosts answered). */
  async appendLazyWaiting(waitMs: number, ...records: AuditRecordInput[]): Promise<Written> {
    return this.#deferred(records, true, waitMs);
  }

  async #deferred(records: AuditRecordInput[], lazy: boolean, waitMs: number): Promise<Written> {
    await this.#write(records, false, waitMs);
    const durable = lazy ? this.#lazyFlush() : this.#flush();
    // Callers may drop `durable` (a lazily flushed result after the reply): never unhandled.
    durable.catch(() => undefined);
    return { durable };
  }

  /** Finishes pending fsyncs and signs the head (a broker stopping); never throws. */
  async close(): Promise<void> {
    try {
      if (this.#lazy) await this.#flush();
      await this.#syncing;
      await this.#queued;
    } catch {
      // Reported to the callers that wrote those records.
    }
    this.#anchorNow(true);
    clearTimeout(this.#anchorTimer);
    this.#closeFd();
    this.#closeSyncFd();
    this.#lock.close();
  }

  // ---- group commit -------------------------------------------------------------------------

  #lazy: { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void; timer: NodeJS.Timeout } | undefined;
  #syncing: Promise<void> | undefined;
  #queued: Promise<void> | undefined;

  #lazyFlush(): Promise<void> {
    if (!this.#lazy) {
      let settle!: { resolve: () => void; reject: (err: unknown) => void };
      const promise = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
      promise.catch(() => undefined);
      this.#lazy = { promise, ...settle, timer: setTimeout(() => void this.#flush().catch(() => undefined), LAZY_FLUSH_MS) };
    }
    return this.#lazy.promise;
  }

  /** At most one fsync in flight, and one queued behind it for later writes. */
  #flush(): Promise<void> {
    const lazy = this.#lazy;
    if (lazy) {
      this.#lazy = undefined;
      clearTimeout(lazy.timer);
      const flushed = this.#flush();
      flushed.then(lazy.resolve, lazy.reject);
      return flushed;
    }
    if (this.#syncing === undefined) {
      const covers = this.#written;
      this.#syncing = this.#fsync()
        .then(() => {
          const same = covers !== undefined && covers.ino === this.#ino;
          if (same && (!this.#durable || this.#durable.ino !== covers.ino || covers.seq > this.#durable.seq)) this.#durable = covers;
          this.#anchorSoon(false);
        })
        .finally(() => {
          this.#syncing = undefined;
        });
      return this.#syncing;
    }
    // The fsync in flight may have started before this write: the next one covers it.
    this.#queued ??= this.#syncing
      .catch(() => undefined)
      .then(() => {
        this.#queued = undefined;
        return this.#flush();
      });
    return this.#queued;
  }

  /** A read-only handle kept for the group commit's fsync (reopened if the file was replaced). */
  #syncFd: { fd: number; ino: number } | undefined;

  async #fsync(): Promise<void> {
    // fsync flushes the file whatever descriptor it is called on; this one runs on the thread pool.
    // A plain descriptor, not a FileHandle: Node deprecates closing those on garbage collection.
    // Flushes never overlap (#flush), so it is never closed under an fsync in flight.
    try {
      const ino = statSync(this.file).ino;
      if (this.#fd && this.#fd.ino !== ino) {
        // The log was moved away since these records were written: flush the file they are in
        // (rare; synchronous, so the descriptor cannot be closed under it).
        fsyncSync(this.#fd.fd);
        return;
      }
      if (this.#syncFd?.ino !== ino) {
        this.#closeSyncFd();
        this.#syncFd = { fd: openSync(this.file, "r"), ino };
      }
      const { fd } = this.#syncFd;
      await new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
    } catch (err) {
      this.#closeSyncFd();
      throw new AuditError(`cannot make the audit log ${this.file} durable: ${(err as Error).message}`);
    }
  }

  #closeSyncFd(): void {
    if (this.#syncFd === undefined) return;
    try {
      closeSync(this.#syncFd.fd);
    } catch {
      // Already closed: nothing to release.
    }
    this.#syncFd = undefined;
  }

  // ---- appends under the lock -----------------------------------------------------------------

  async #write(records: AuditRecordInput[], sync: boolean, waitMs: number): Promise<void> {
    if (records.length === 0) return;
    try {
      // The lock free now: taken and used in this turn of the event loop. Else waited for on timers.
      if (!this.#lock.tryAcquire()) await this.#lock.acquire(waitMs);
    } catch (err) {
      if (err instanceof LockBusyError) {
        throw new AuditBusyError(`the audit log ${this.file} is busy: ${err.message}; nothing was written`);
      }
      throw new AuditError(`the audit log ${this.file} cannot be locked: ${(err as Error).message}`);
    }
    // From here to release() everything is synchronous: no other append of this process
    // interleaves, and no other process holds the lock.
    try {
      this.#appendLocked(records, sync);
    } finally {
      this.#lock.release();
    }
  }

  #logFd(): number {
    const ino = (() => {
      try {
        return statSync(this.file).ino;
      } catch {
        return -1;
      }
    })();
    if (this.#fd && this.#fd.ino === ino) return this.#fd.fd;
    // Records always go to the path: a log moved away or replaced is reopened. What was written to
    // the old file is flushed first; from here on it is another chain.
    if (this.#fd) {
      try {
        fsyncSync(this.#fd.fd);
      } catch {
        // Reported to those records' writers by their own flush.
      }
    }
    this.#closeFd();
    try {
      const fd = openSync(this.file, "a+", 0o600);
      const opened = fstatSync(fd).ino;
      if (this.#ino !== undefined && this.#ino !== opened) {
        this.#written = undefined;
        this.#durable = undefined;
      }
      this.#fd = { fd, ino: opened };
      this.#ino = opened;
      this.#tail = undefined;
      this.#chainId = undefined;
      return fd;
    } catch (err) {
      throw new AuditError(`cannot open the audit log ${this.file}: ${(err as Error).message}`);
    }
  }

  #closeFd(): void {
    if (this.#fd === undefined) return;
    try {
      closeSync(this.#fd.fd);
    } catch {
      // Nothing to do: the next append opens it again.
    }
    this.#fd = undefined;
  }

  #appendLocked(records: AuditRecordInput[], sync: boolean): void {
    let fd: number;
    let tail: Tail;
    try {
      fd = this.#logFd();
      const size = fstatSync(fd).size;
      // While the lock is held nobody else appends; another process's appends since our last one
      // changed the size (the log only grows, and a recovery appends its own record).
      if (this.#tail?.size === size) tail = this.#tail;
      else {
        const found = readTail(fd, size, this.file);
        tail = isTorn(found) ? this.#recover(fd, found) : found;
        const pending = this.#pendingRecovery(tail);
        if (pending) tail = this.#recordRecovery(fd, tail, pending);
      }
    } catch (err) {
      this.#tail = undefined;
      this.#closeFd();
      if (err instanceof AuditError) throw err;
      throw new AuditError(`cannot read the audit log ${this.file}: ${(err as Error).message}`);
    }
    this.#tail = this.#writeRecords(fd, tail, records, sync);
  }

  /** Seals `records` after `tail` and writes them as one write; a short write is cut back. */
  #writeRecords(fd: number, tail: Tail, records: AuditRecordInput[], sync: boolean): Tail {
    const { lines, seq, prev } = sealRecords(tail, records);
    const data = Buffer.from(`${lines.join("\n")}\n`, "utf8");
    let written = 0;
    try {
      while (written < data.length) written += writeSync(fd, data, written);
      if (sync) fsyncSync(fd);
    } catch (err) {
      // A record is complete or absent: cut a short write (ENOSPC, EIO) back to where it began.
      // Truncating frees space, so it works on a full disk; if it fails too, the next append finds
      // the torn bytes and recovers them.
      let cut = written === 0;
      if (!cut) {
        try {
          ftruncateSync(fd, tail.size);
          cut = true;
        } catch {
          // Left for #recover.
        }
      }
      this.#tail = undefined;
      this.#closeFd();
      const what = cut ? "nothing was written" : `${written} bytes of it were written and could not be removed; the next append recovers them`;
      throw new AuditError(`cannot write the audit log ${this.file}: ${(err as Error).message} (${what})`);
    }
    if (tail.seq === 0) this.#chainId = sha256Hex(lines[0]!);
    this.#written = { seq, hash: prev, ino: this.#ino ?? -1 };
    if (sync) this.#durable = this.#written;
    return { size: tail.size + data.length, prev, seq };
  }

  /**
   * A record was cut short (a crash mid-write, or a short write that could not be cut back): keep
   * its bytes aside, cut the log back to its last complete record, and record what was found.
   */
  #recover(fd: number, torn: Torn): Tail {
    const aside = tornFile(this.file, torn.offset);
    try {
      const out = openSync(aside, "w", 0o600);
      try {
        writeSync(out, torn.bytes);
        fsyncSync(out);
      } finally {
        closeSync(out);
      }
      ftruncateSync(fd, torn.offset);
      fsyncSync(fd);
    } catch (err) {
      throw new AuditError(
        `${this.file} ends with a record cut short (${torn.bytes.length} bytes at offset ${torn.offset}) and it could not be set aside: ${(err as Error).message}; free some space, then any hostward command recovers it (or run "hostward audit repair")`,
      );
    }
    return this.#recordRecovery(fd, torn.tail, aside);
  }

  /**
   * Appends the audit.recovered record for bytes set aside in `aside` at the end of the log (which
   * `tail` describes). If this fails (the disk filled up again) the set-aside file stays, named by
   * the offset where the log now ends: the next append finds it there and records it then
   * (#pendingRecovery), so torn bytes never leave the log without a record.
   */
  #recordRecovery(fd: number, tail: Tail, aside: string): Tail {
    const bytes = readFileSync(aside);
    const record: AuditRecordInput = {
      event: "audit.recovered",
      pid: process.pid,
      tornOffset: tail.size,
      tornBytes: bytes.length,
      tornSha256: sha256Bytes(bytes),
      keptIn: basename(aside),
      afterSeq: tail.seq,
    };
    try {
      return this.#writeRecords(fd, tail, [record], true);
    } catch (err) {
      throw new AuditError(`${(err as Error).message}; the record cut short was set aside in ${basename(aside)} and its recovery is recorded by the next append`);
    }
  }

  /** A set-aside file for exactly where the log ends: a recovery whose record was not written. */
  #pendingRecovery(tail: Tail): string | undefined {
    const aside = tornFile(this.file, tail.size);
    return existsSync(aside) ? aside : undefined;
  }

  /** Checks the chain's tail (recovering a torn record) without writing anything else. */
  async repair(): Promise<{ recovered: boolean; seq: number }> {
    try {
      await this.#lock.acquire(this.#lockWaitMs);
    } catch (err) {
      throw new AuditBusyError(`the audit log ${this.file} is busy: ${(err as Error).message}`);
    }
    try {
      const fd = this.#logFd();
      const found = readTail(fd, fstatSync(fd).size, this.file);
      const pending = isTorn(found) ? undefined : this.#pendingRecovery(found);
      if (!isTorn(found) && !pending) return { recovered: false, seq: found.seq };
      this.#tail = isTorn(found) ? this.#recover(fd, found) : this.#recordRecovery(fd, found, pending!);
      this.#anchorNow(true, true);
      return { recovered: true, seq: this.#tail.seq };
    } finally {
      this.#lock.release();
    }
  }

  // ---- the signed head ------------------------------------------------------------------------

  #anchorTimer: NodeJS.Timeout | undefined;
  #anchoredAt = 0;

  /** Signs the head now if `urgent` or if the last signature is older than ANCHOR_INTERVAL_MS, else soon. */
  #anchorSoon(urgent: boolean): void {
    if (!this.#anchor) return;
    const wait = this.#anchoredAt + ANCHOR_INTERVAL_MS - Date.now();
    if (urgent || wait <= 0) this.#anchorNow(false);
    else this.#anchorLater(wait);
  }

  #anchorLater(waitMs: number): void {
    if (this.#anchorTimer) return;
    this.#anchorTimer = setTimeout(() => {
      this.#anchorTimer = undefined;
      this.#anchorNow(false);
    }, waitMs);
    this.#anchorTimer.unref();
  }

  /**
   * Writes the signed head for the last record known durable, under the log's lock (taken without
   * waiting: if it is busy, the holder's own appends sign a newer head, and a retry is scheduled).
   */
  #anchorNow(closing: boolean, locked = false): void {
    const anchor = this.#anchor;
    const durable = this.#durable;
    if (!anchor || !durable || durable.ino !== this.#ino) return;
    if (!locked) {
      let got: boolean;
      try {
        got = this.#lock.tryAcquire();
      } catch {
        got = false;
      }
      if (!got) {
        // Busy: its holder is appending (and will sign a head of its own); retry shortly.
        if (!closing) this.#anchorLater(ANCHOR_RETRY_MS);
        return;
      }
    }
    try {
      this.#chainId ??= this.#readChainId();
      if (this.#chainId) anchor.advance({ chain: this.#chainId, seq: durable.seq, hash: durable.hash });
      this.#anchoredAt = Date.now();
    } catch {
      // The head stays where it was (an older head is still a valid anchor); retried on the next write.
    } finally {
      if (!locked) this.#lock.release();
    }
  }

  /** The hash of the chain's first record: the chain's identity in the signed head. */
  #readChainId(): string | undefined {
    const fd = this.#logFd();
    const head = readAt(fd, 0, CHUNK);
    const nl = head.indexOf(0x0a);
    return nl < 0 ? undefined : sha256Hex(head.subarray(0, nl).toString("utf8"));
  }
}

/** The anchor files of a broker configuration directory. */
export function anchorFilesIn(configDir: string): AnchorFiles {
  return { key: join(configDir, "audit-anchor.key"), head: join(configDir, "audit-head.json") };
}

