// The audit chain in PostgreSQL (hostward.audit, one row per record: migrations.ts says what the
// database enforces). An append is one INSERT of every record it seals, after the tail this broker
// last saw: atomic (all or none), durable once the statement commits (synchronous_commit), and
// never a fork — another broker that appended first makes the INSERT fail on the primary key or
// on prev_hash's uniqueness, and this broker reads the new tail and seals again, within its bound
// on waiting (AUDIT_BUSY after it). No lock is held between statements, so a paused or killed
// broker holds nothing up.
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
    const row = r.rows[0];
    return row ? { seq: Number(row.seq), prev: row.hash } : { seq: 0, prev: GENESIS };
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
   * (in their order), so a broker's own concurrent calls never race each other for the tail.
   */
  async #drain(): Promise<void> {
    this.#writing = true;
    try {
      for (let attempt = 0; this.#queue.length > 0; ) {
        const now = Date.now();
        for (const late of this.#queue.filter((q) => q.deadline <= now && attempt > 0)) {
          late.reject(new AuditBusyError(`the audit chain in ${this.location} is busy: other brokers appended first for ${late.waitMs} ms; nothing was written`));
        }
        this.#queue = this.#queue.filter((q) => !(q.deadline <= now && attempt > 0));
        const batch = this.#queue.slice();
        if (batch.length === 0) break;
        try {
          await this.#insert(batch.flatMap((q) => q.records));
          this.#queue = this.#queue.slice(batch.length);
          for (const q of batch) q.resolve();
          attempt = 0;
        } catch (err) {
          this.#tail = undefined;
          const code = (err as { code?: string }).code;
          if (code === undefined || !LOST_RACE.has(code)) {
            this.#queue = this.#queue.slice(batch.length);
            const failure = new AuditError(`cannot append to the audit chain in ${this.location}: ${describePgError(err)}; nothing was written`);
            for (const q of batch) q.reject(failure);
            continue;
          }
          // Another broker appended first: read its tail and seal again, after a short random wait.
          attempt += 1;
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, 1 + attempt * 2)));
        }
      }
    } finally {
      this.#writing = false;
    }
  }

  async #insert(records: AuditRecordInput[]): Promise<void> {
    const tail = this.#tail ?? (await this.#readTail());
    const sealed = sealRecords(tail, records);
    const seqs = sealed.lines.map((_, i) => tail.seq + 1 + i);
    // Each row's prev_hash is the hash of the line before it (the line's own prev: a CHECK).
    const prevs = sealed.lines.map((_, i) => (i === 0 ? (tail.seq === 0 ? null : tail.prev) : sha256Hex(sealed.lines[i - 1]!)));
    await this.pool.query("INSERT INTO hostward.audit (seq, prev_hash, line) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])", [seqs, prevs, sealed.lines]);
    this.#tail = { seq: sealed.seq, prev: sealed.prev };
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
