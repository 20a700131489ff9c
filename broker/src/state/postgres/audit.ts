// The audit chain in PostgreSQL (hostward.audit, one row per record: migrations.ts says what the
// database enforces). An append is ONE statement, hostward.append_audit(…): under an advisory lock
// held to the end of that statement's transaction it reads the tail, seals each record after it
// (the broker sends what lies between a record's seq and its prev: chain.ts recordMiddle) and
// inserts it — atomic (all or none), one total order, never a fork, and since the whole append is
// one statement a paused or killed client holds nothing up (the server runs it to its end or rolls
// it back). Waiting for the lock is bounded by audit.lockWaitMs (lock_timeout: AUDIT_BUSY, nothing
// written). One append in flight per broker carries every record appended meanwhile.
import type pg from "pg";
import { openLines, recordMiddle } from "../../audit/chain";
import { AuditBusyError, AuditError } from "../../audit/log";
import type { AuditRecordInput } from "../../audit/records";
import type { AuditStore, Written } from "../store";
import { describePgError } from "./connect";

const DEFAULT_WAIT_MS = 2_000;

export class PgAuditStore implements AuditStore {
  readonly #waitMs: number;

  constructor(
    private readonly pool: pg.Pool,
    readonly location: string,
    private readonly ready: () => Promise<void>,
    options: { lockWaitMs?: number } = {},
  ) {
    this.#waitMs = options.lockWaitMs ?? DEFAULT_WAIT_MS;
  }

  /** Appends waiting for the one in flight; the next INSERT takes them all (group commit). */
  #queue: Array<{ records: AuditRecordInput[]; deadline: number; waitMs: number; resolve: () => void; reject: (err: unknown) => void }> = [];
  #writing = false;

  async #write(records: AuditRecordInput[], waitMs: number): Promise<void> {
    if (records.length === 0) return;
    try {
      await this.ready();
    } catch (err) {
      throw new AuditError(`the audit chain in ${this.location} cannot be used: ${(err as Error).message}; nothing was written`);
    }
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ records, deadline: Date.now() + waitMs, waitMs, resolve, reject });
      if (!this.#writing) void this.#drain();
    });
  }

  /**
   * One INSERT in flight per broker: appends made meanwhile wait and go together in the next one
   * (in their order), so a broker's own concurrent calls never race each other for the tail. The
   * first try is optimistic; after a lost race, the next ones are made under the lock
   * (#insertLocked) until each append's own bound.
   */
  async #drain(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0) {
        const now = Date.now();
        const late = (q: { deadline: number }) => q.deadline < now;
        for (const q of this.#queue.filter(late)) q.reject(new AuditBusyError(`the audit chain in ${this.location} is busy: other brokers held it for ${q.waitMs} ms; nothing was written`));
        this.#queue = this.#queue.filter((q) => !late(q));
        const batch = this.#queue.slice();
        if (batch.length === 0) break;
        const at = new Date().toISOString();
        const middles = batch.flatMap((q) => q.records.map((r) => recordMiddle(r, at)));
        try {
          const wait = Math.max(1, Math.min(...batch.map((q) => q.deadline)) - now);
          await this.pool.query("SELECT hostward.append_audit($1::text[], $2::integer)", [middles, wait]);
          this.#queue = this.#queue.slice(batch.length);
          for (const q of batch) q.resolve();
        } catch (err) {
          // 55P03: the lock stayed busy for the earliest append's whole wait: it is late now, and is
          // refused on the next turn; the others try again within their own bounds.
          if ((err as { code?: string }).code === "55P03") continue;
          this.#queue = this.#queue.slice(batch.length);
          const failure = new AuditError(`cannot append to the audit chain in ${this.location}: ${describePgError(err)}; nothing was written`);
          for (const q of batch) q.reject(failure);
        }
      }
    } finally {
      this.#writing = false;
    }
  }

  // Durability, as in the file store's group commit: the chain's INSERTs commit asynchronously
  // (the audit connections run with synchronous_commit off: committed, visible to every broker,
  // in the WAL, not yet flushed — a broker's crash loses nothing; the server's, at most a suffix of
  // the chain, never a record in the middle, since the WAL is one sequence). A flush is one small
  // transaction that commits synchronously (a logical message makes it write WAL), which flushes
  // the WAL up to it, so every record committed before it. One flush in flight and one queued
  // behind it, shared by every append waiting: the fsync is out of the chain's way.
  #flushing: Promise<void> | undefined;
  #flushQueued: Promise<void> | undefined;

  #flush(): Promise<void> {
    if (this.#flushing === undefined) {
      this.#flushing = this.pool
        .query("BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_logical_emit_message(true, 'hostward', 'flush'); COMMIT")
        .then(
          () => undefined,
          (err: unknown) => {
            throw new AuditError(`cannot make the audit chain in ${this.location} durable: ${describePgError(err)}`);
          },
        )
        .finally(() => {
          this.#flushing = undefined;
        });
      return this.#flushing;
    }
    this.#flushQueued ??= this.#flushing
      .catch(() => undefined)
      .then(() => {
        this.#flushQueued = undefined;
        return this.#flush();
      });
    return this.#flushQueued;
  }

  async append(...records: AuditRecordInput[]): Promise<void> {
    await this.#write(records, this.#waitMs);
    await this.#flush();
  }

  async appendWaiting(waitMs: number, ...records: AuditRecordInput[]): Promise<void> {
    await this.#write(records, waitMs);
    await this.#flush();
  }

  async appendDeferred(...records: AuditRecordInput[]): Promise<Written> {
    await this.#write(records, this.#waitMs);
    const durable = this.#flush();
    durable.catch(() => undefined);
    return { durable };
  }

  appendLazy(...records: AuditRecordInput[]): Promise<Written> {
    return this.appendDeferred(...records);
  }

  async appendLazyWaiting(waitMs: number, ...records: AuditRecordInput[]): Promise<Written> {
    await this.#write(records, waitMs);
    const durable = this.#flush();
    durable.catch(() => undefined);
    return { durable };
  }

  async close(): Promise<void> {
    // The pool is the state store's to end.
  }

  async tail(n: number, maxBytes: number): Promise<{ records: Record<string, unknown>[]; problems: string[] }> {
    let rows: { line: string }[];
    try {
      rows = (await this.pool.query<{ line: string }>("SELECT line FROM hostward.audit ORDER BY seq DESC LIMIT $1", [n])).rows;
    } catch (err) {
      throw new AuditError(`cannot read the audit chain in ${this.location}: ${describePgError(err)}`);
    }
    const lines: string[] = [];
    let bytes = 0;
    for (const { line } of rows) {
      bytes += Buffer.byteLength(line) + 1;
      if (bytes > maxBytes) break;
      lines.unshift(line);
    }
    return openLines(lines);
  }
}
