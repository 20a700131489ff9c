// The audit chain in PostgreSQL (hostward.audit, one row per record: migrations.ts says what the
// database enforces). An append is one INSERT of every record it seals (with those appended
// meanwhile by this broker: one INSERT in flight per broker), after the tail this broker last saw:
// atomic (all or none), durable once the statement commits (synchronous_commit), and never a fork — another broker that appended first makes the INSERT fail on the primary key or
// on prev_hash's uniqueness, and this broker seals again after the new tail, within its bound on
// waiting (AUDIT_BUSY after it). The first try holds no lock; a retry reads the tail and inserts
// under a transaction-scoped advisory lock, so brokers that lost a race queue instead of racing
// again (#insertLocked). A killed broker's lock goes with its connection; a paused one's, after
// idle_in_transaction_session_timeout.
import type pg from "pg";
import { GENESIS, openLines, sealRecords, sha256Hex } from "../../audit/chain";
import { AuditBusyError, AuditError } from "../../audit/log";
import type { AuditRecordInput } from "../../audit/records";
import type { AuditStore, Written } from "../store";
import { describePgError } from "./connect";

/** SQLSTATEs another broker's append causes: unique_violation, foreign_key_violation, check/integrity. */
const LOST_RACE = new Set(["23505", "23503", "23000"]);
const DEFAULT_WAIT_MS = 2_000;
const DONE: Written = { durable: Promise.resolve() };

interface Tail {
  seq: number;
  prev: string;
}

const tailOf = (row: { seq: string; hash: string } | undefined): Tail => (row ? { seq: Number(row.seq), prev: row.hash } : { seq: 0, prev: GENESIS });

export class PgAuditStore implements AuditStore {
  #tail: Tail | undefined;
  readonly #waitMs: number;

  constructor(
    private readonly pool: pg.Pool,
    readonly location: string,
    private readonly ready: () => Promise<void>,
    options: { lockWaitMs?: number } = {},
  ) {
    this.#waitMs = options.lockWaitMs ?? DEFAULT_WAIT_MS;
  }

  async #readTail(): Promise<Tail> {
    const r = await this.pool.query<{ seq: string; hash: string }>("SELECT seq, hash FROM hostward.audit ORDER BY seq DESC LIMIT 1");
    return tailOf(r.rows[0]);
  }

  /** One INSERT of every sealed record after `tail`, on `db` (the pool, or the locked transaction's client). */
  async #insert(db: pg.Pool | pg.PoolClient, tail: Tail, records: AuditRecordInput[]): Promise<void> {
    const sealed = sealRecords(tail, records);
    const seqs = sealed.lines.map((_, i) => tail.seq + 1 + i);
    // Each row's prev_hash is the hash of the line before it (the line's own prev: a CHECK).
    const prevs = sealed.lines.map((_, i) => (i === 0 ? (tail.seq === 0 ? null : tail.prev) : sha256Hex(sealed.lines[i - 1]!)));
    await db.query("INSERT INTO hostward.audit (seq, prev_hash, line) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])", [seqs, prevs, sealed.lines]);
    this.#tail = { seq: sealed.seq, prev: sealed.prev };
  }

  /**
   * After a lost race: the tail read and the INSERT under a transaction-scoped advisory lock, so
   * that brokers which lost a race queue for the next place instead of racing for it again (with
   * 16 brokers appending at once, optimistic retries alone went round and round: p50 ~0.75 s per
   * call). The lock is the server's: released at COMMIT, or when a killed broker's connection
   * drops; a paused broker's transaction ends after idle_in_transaction_session_timeout. Waiting
   * for it is bounded by what is left of the append's wait (lock_timeout: 55P03, AUDIT_BUSY).
   */
  async #insertLocked(records: AuditRecordInput[], deadline: number): Promise<void> {
    const client = await this.pool.connect();
    let open = false;
    try {
      const wait = Math.max(1, Math.floor(deadline - Date.now()));
      // Open from the first statement on: a failure inside the batch leaves an aborted transaction to roll back.
      open = true;
      // One round trip: no parameters (the numbers are integers made here).
      const results = (await client.query(
        `BEGIN; SET LOCAL lock_timeout = ${wait}; SET LOCAL idle_in_transaction_session_timeout = ${Math.max(1_000, wait)}; SELECT pg_advisory_xact_lock(hashtext('hostward.audit')); SELECT seq, hash FROM hostward.audit ORDER BY seq DESC LIMIT 1`,
      )) as unknown as pg.QueryResult<{ seq: string; hash: string }>[];
      await this.#insert(client, tailOf(results.at(-1)!.rows[0]), records);
      await client.query("COMMIT");
      open = false;
    } finally {
      if (open) await client.query("ROLLBACK").catch(() => undefined);
      client.release();
    }
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
      for (let attempt = 0; this.#queue.length > 0; ) {
        const now = Date.now();
        const late = (q: { deadline: number }) => attempt > 0 && q.deadline <= now;
        for (const q of this.#queue.filter(late)) q.reject(new AuditBusyError(`the audit chain in ${this.location} is busy: other brokers appended first for ${q.waitMs} ms; nothing was written`));
        this.#queue = this.#queue.filter((q) => !late(q));
        const batch = this.#queue.slice();
        if (batch.length === 0) break;
        const records = batch.flatMap((q) => q.records);
        try {
          if (attempt === 0) await this.#insert(this.pool, this.#tail ?? (await this.#readTail()), records);
          else await this.#insertLocked(records, Math.min(...batch.map((q) => q.deadline)));
          this.#queue = this.#queue.slice(batch.length);
          for (const q of batch) q.resolve();
          attempt = 0;
        } catch (err) {
          this.#tail = undefined;
          const code = (err as { code?: string }).code;
          // 55P03: the lock stayed busy for the earliest append's whole remaining wait (it is late now).
          if (code === undefined || !(LOST_RACE.has(code) || code === "55P03")) {
            this.#queue = this.#queue.slice(batch.length);
            const failure = new AuditError(`cannot append to the audit chain in ${this.location}: ${describePgError(err)}; nothing was written`);
            for (const q of batch) q.reject(failure);
            attempt = 0;
            continue;
          }
          // Lost to another broker (again: one that appended without the lock): a short random wait.
          if (attempt > 0) await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, 1 + attempt * 2)));
          attempt += 1;
        }
      }
    } finally {
      this.#writing = false;
    }
  }

  append(...records: AuditRecordInput[]): Promise<void> {
    return this.#write(records, this.#waitMs);
  }

  appendWaiting(waitMs: number, ...records: AuditRecordInput[]): Promise<void> {
    return this.#write(records, waitMs);
  }

  // A committed INSERT is durable: the deferred forms differ from append() only in their type.
  async appendDeferred(...records: AuditRecordInput[]): Promise<Written> {
    await this.#write(records, this.#waitMs);
    return DONE;
  }

  appendLazy(...records: AuditRecordInput[]): Promise<Written> {
    return this.appendDeferred(...records);
  }

  async appendLazyWaiting(waitMs: number, ...records: AuditRecordInput[]): Promise<Written> {
    await this.#write(records, waitMs);
    return DONE;
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
