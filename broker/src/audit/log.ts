// The broker's append-only audit log: JSON lines, hash-chained (chain.ts), fsync'd before the call
// proceeds. A write that fails throws, and callers refuse to act unaudited. Several broker
// processes may share one state directory (an MCP client starts one broker per session), so each
// append holds a small lock file while it reads the chain's tail and writes; the lock is leased
// (kept a few ms after use, file-lock.ts) and the log's descriptor kept with it.
//
// Two durabilities: append() writes and fsyncs before it returns (anything that changes a host
// must use it); appendDeferred() writes before it returns — a broker crash cannot lose the
// record — and leaves the fsync to a shared background flush (group commit: one fsync covers
// every record written before it started), resolving once the record is durable. Read-only calls
// use it so the fsync overlaps the call instead of preceding it (host-call.ts, results.md). A
// "lazy" deferred append waits for the next flush, started by the next non-lazy append or, at the
// latest, LAZY_FLUSH_MS later: a call's result record then shares the next call's fsync.
import { closeSync, fstatSync, fsync, fsyncSync, mkdirSync, openSync, readSync, statSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { LockError, withLease } from "../file-lock";
import { GENESIS, openLine, sealLine, sha256Hex } from "./chain";
import { AUDIT_CODES, type AuditRecordInput } from "./records";

/** The inode the path names now, or -1 if it names nothing. */
function inodeOf(path: string): number {
  try {
    return statSync(path).ino;
  } catch {
    return -1;
  }
}

/** How long a lazily appended record waits for a flush to share (appendLazy). */
export const LAZY_FLUSH_MS = 5;

export class AuditError extends Error {
  override name = "AuditError";
}


interface Tail {
  size: number;
  prev: string;
  seq: number;
}

/** Reads the last complete line of the file at `fd` (size bytes) without reading the whole file. */
function readTail(fd: number, size: number, file: string): Tail {
  if (size === 0) return { size, prev: GENESIS, seq: 0 };
  const chunks: Buffer[] = [];
  let pos = size;
  let total = 0;
  for (;;) {
    const len = Math.min(64 * 1024, pos);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, pos - len);
    pos -= len;
    chunks.unshift(buf);
    total += len;
    const joined = Buffer.concat(chunks, total);
    // The file must end with "\n"; look for the newline before the last line.
    if (joined[joined.length - 1] !== 0x0a) throw new AuditError(`${file}: the last line is incomplete; run "hostward audit verify" and repair the log`);
    const start = joined.lastIndexOf(0x0a, joined.length - 2);
    if (start >= 0 || pos === 0) {
      const line = joined.subarray(start + 1, joined.length - 1).toString("utf8");
      const opened = openLine(line);
      if (!opened.ok) throw new AuditError(`${file}: the last line is damaged (${opened.error}); run "hostward audit verify"`);
      const seq = typeof opened.record.seq === "number" ? opened.record.seq : NaN;
      if (!Number.isInteger(seq)) throw new AuditError(`${file}: the last line has no seq`);
      return { size, prev: sha256Hex(line), seq };
    }
  }
}

export class AuditLog {
  #tail: Tail | undefined;

  constructor(readonly file: string) {}

  /** Creates the directory (0700) and checks the existing chain's tail is readable. */
  open(): this {
    try {
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new AuditError(`cannot create the audit directory ${dirname(this.file)}: ${(err as Error).message}`);
    }
    this.#withLock(() => undefined);
    return this;
  }

  /** Appends records as one write + fsync; throws AuditError if they could not be made durable. */
  append(...records: AuditRecordInput[]): void {
    this.#write(records, true);
  }

  /**
   * Appends records as one write, now (throws AuditError if that fails), and returns a promise
   * that resolves once an fsync has made them durable (rejects with AuditError if it fails).
   */
  appendDeferred(...records: AuditRecordInput[]): Promise<void> {
    this.#write(records, false);
    return this.#flush();
  }

  /** Like appendDeferred, but its fsync waits up to LAZY_FLUSH_MS for other records to share it. */
  appendLazy(...records: AuditRecordInput[]): Promise<void> {
    this.#write(records, false);
    if (!this.#lazy) {
      let settle!: { resolve: () => void; reject: (err: unknown) => void };
      const promise = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
      this.#lazy = { promise, ...settle, timer: setTimeout(() => void this.#flush().catch(() => undefined), LAZY_FLUSH_MS) };
    }
    return this.#lazy.promise;
  }

  #lazy: { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void; timer: NodeJS.Timeout } | undefined;

  #syncing: Promise<void> | undefined;
  #queued: Promise<void> | undefined;

  /** Group commit: at most one fsync in flight, and one queued behind it for later writes. */
  #flush(): Promise<void> {
    // Records appended lazily so far are covered by this flush.
    const lazy = this.#lazy;
    if (lazy) {
      this.#lazy = undefined;
      clearTimeout(lazy.timer);
      const flushed = this.#flush();
      flushed.then(lazy.resolve, lazy.reject);
      return flushed;
    }
    if (this.#syncing === undefined) {
      this.#syncing = this.#fsync().finally(() => {
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
    // The descriptor is kept between flushes (an open + close per call cost more than the fsync's
    // own main-thread time, test/bench/results.md), unless the path now names another file. A
    // plain descriptor, not a FileHandle: Node deprecates closing those on garbage collection.
    // Flushes never overlap (#flush), so it is never closed under an fsync in flight.
    try {
      const ino = statSync(this.file).ino;
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

  #write(records: AuditRecordInput[], sync: boolean): void {
    if (records.length === 0) return;
    this.#withLock((fd, tail) => {
      let { prev, seq } = tail;
      const now = new Date().toISOString();
      const lines: string[] = [];
      for (const r of records) {
        seq += 1;
        // The chain's own fields cannot be overridden by a record's content.
        const { v: _v, seq: _seq, ts: _ts, code: _code, prev: _prev, hash: _hash, ...fields } = r;
        const line = sealLine({ v: 1, seq, ts: now, code: AUDIT_CODES[r.event], ...fields, prev });
        lines.push(line);
        prev = sha256Hex(line);
      }
      const data = Buffer.from(`${lines.join("\n")}\n`, "utf8");
      let written = 0;
      while (written < data.length) written += writeSync(fd, data, written);
      if (sync) fsyncSync(fd);
      this.#tail = { size: tail.size + data.length, prev, seq };
    });
  }

  /** The log's descriptor, kept between appends; reopened whenever the lock was just taken. */
  #fd: number | undefined;

  #closeFd(): void {
    if (this.#fd === undefined) return;
    try {
      closeSync(this.#fd);
    } catch {
      // Nothing to do: the next append opens it again.
    }
    this.#fd = undefined;
  }

  #withLock(fn: (fd: number, tail: Tail) => void): void {
    try {
      withLease(`${this.file}.lock`, (fresh) => {
        // While the lock is held no other process appends, so the cached tail stays valid; the
        // descriptor is reopened when the lock was just taken, or when the path no longer names
        // the file it is open on (moved away, replaced): records always go to the path.
        if (fresh) this.#closeFd();
        let stat = this.#fd === undefined ? undefined : fstatSync(this.#fd);
        if (stat !== undefined && stat.ino !== inodeOf(this.file)) {
          this.#closeFd();
          stat = undefined;
        }
        if (this.#fd === undefined) {
          try {
            this.#fd = openSync(this.file, "a+", 0o600);
          } catch (err) {
            throw new AuditError(`cannot open the audit log ${this.file}: ${(err as Error).message}`);
          }
        }
        const fd = this.#fd;
        try {
          const size = (stat ?? fstatSync(fd)).size;
          const tail = this.#tail?.size === size ? this.#tail : readTail(fd, size, this.file);
          fn(fd, tail);
        } catch (err) {
          // A failed append may have left the descriptor in an unknown state: start over next time.
          this.#tail = undefined;
          this.#closeFd();
          if (err instanceof AuditError) throw err;
          throw new AuditError(`cannot write the audit log ${this.file}: ${(err as Error).message}`);
        }
      });
    } catch (err) {
      if (err instanceof LockError) throw new AuditError(`the audit log ${this.file} cannot be locked: ${err.message}`);
      throw err;
    }
  }
}
