// Records (action requests, roll-outs) as rows: the record as jsonb, its state and a version that
// every write increments. A change is a read-check-write in one transaction holding the row's lock
// (SELECT … FOR UPDATE), the same discipline as the file store's kernel lock: one change at a time
// per record, whatever the number of brokers; `before` (the change's audit record) runs under the
// lock, and if it throws nothing changes. A broker killed mid-change leaves its transaction
// rolled back by the server: nothing half-written. A broker paused holding a row lock holds up
// only that record (lock_timeout, then a clear error).
import type pg from "pg";
import type { z } from "zod";
import { describeIssues } from "../../../../shared/zod-issues";
import type { RecordUpdate } from "../store";
import { describePgError } from "./connect";

class PgRecordError extends Error {
  override name = "PgRecordError";
}

interface Stored {
  id: string;
  state: string;
  createdAt: string;
}

export class PgRecords<S extends z.ZodType<Stored>> {
  constructor(
    readonly pool: pg.Pool,
    readonly options: { table: "hostward.actions" | "hostward.rollouts"; noun: string; id: RegExp; schema: S; ready: () => Promise<void>; lockWaitMs: number; location: string },
  ) {}

  #checkId(id: string): void {
    if (!this.options.id.test(id)) throw new PgRecordError(`not a valid ${this.options.noun} id: ${JSON.stringify(id.slice(0, 40))}`);
  }

  parse(id: string, body: unknown): z.output<S> {
    const parsed = this.options.schema.safeParse(body);
    if (!parsed.success) throw new PgRecordError(`${this.options.location}: ${this.options.noun} ${id} is not valid: ${describeIssues(parsed.error, { max: 1 })}`);
    if (parsed.data.id !== id) throw new PgRecordError(`${this.options.location}: the row of ${this.options.noun} ${id} holds ${parsed.data.id}`);
    return parsed.data;
  }

  /** Errors of the caller's own callbacks (`before`: the audit record), passed on unchanged. */
  readonly #theirs = new WeakSet<object>();

  async #use<T>(what: string, fn: () => Promise<T>): Promise<T> {
    await this.options.ready();
    try {
      return await fn();
    } catch (err) {
      if (err instanceof PgRecordError || (typeof err === "object" && err !== null && this.#theirs.has(err))) throw err;
      throw new PgRecordError(`cannot ${what} in ${this.options.location}: ${describePgError(err)}`);
    }
  }

  /** Inserts a new record (refused if its id exists); `also` runs in the same transaction (a roll-out's previews). */
  async create(record: z.input<S>, also?: (client: pg.ClientBase) => Promise<void>): Promise<z.output<S>> {
    const parsed = this.options.schema.parse(record);
    this.#checkId(parsed.id);
    return this.#use(`store ${this.options.noun} ${parsed.id}`, async () => {
      const client = await this.pool.connect();
      try {
        await client.query("BEGIN");
        await client.query(`INSERT INTO ${this.options.table} (id, state, body, created_at) VALUES ($1, $2, $3, $4)`, [parsed.id, parsed.state, JSON.stringify(parsed), parsed.createdAt]);
        await also?.(client);
        await client.query("COMMIT");
        return parsed;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        if ((err as { code?: string }).code === "23505") throw new PgRecordError(`${this.options.noun} ${parsed.id} exists already; not replaced`);
        throw err;
      } finally {
        client.release();
      }
    });
  }

  async get(id: string): Promise<z.output<S> | undefined> {
    this.#checkId(id);
    return this.#use(`read ${this.options.noun} ${id}`, async () => {
      const r = await this.pool.query<{ body: unknown }>(`SELECT body FROM ${this.options.table} WHERE id = $1`, [id]);
      return r.rows[0] ? this.parse(id, r.rows[0].body) : undefined;
    });
  }

  /** Newest first, at most `max`; unreadable rows are reported, not fatal. */
  async list(max = 10_000): Promise<{ records: z.output<S>[]; problems: string[] }> {
    return this.#use(`list ${this.options.noun}s`, async () => {
      const r = await this.pool.query<{ id: string; body: unknown }>(`SELECT id, body FROM ${this.options.table} ORDER BY created_at DESC, id LIMIT $1`, [max]);
      const records: z.output<S>[] = [];
      const problems: string[] = [];
      for (const row of r.rows) {
        try {
          records.push(this.parse(row.id, row.body));
        } catch (err) {
          problems.push((err as Error).message);
        }
      }
      return { records, problems };
    });
  }

  async ids(max = 10_000): Promise<string[]> {
    return this.#use(`list ${this.options.noun}s`, async () => (await this.pool.query<{ id: string }>(`SELECT id FROM ${this.options.table} LIMIT $1`, [max])).rows.map((r) => r.id));
  }

  async version(id: string): Promise<string | undefined> {
    this.#checkId(id);
    return this.#use(`read ${this.options.noun} ${id}`, async () => (await this.pool.query<{ version: string }>(`SELECT version FROM ${this.options.table} WHERE id = $1`, [id])).rows[0]?.version);
  }

  /**
   * Under the row's lock: `change` sees the current record and returns the next one (validated
   * before it is written) or a refusal; `before(next, current)` runs then — if it throws, nothing
   * changes (the transaction is rolled back).
   */
  async update(
    id: string,
    change: (current: z.output<S>) => { next: z.input<S> } | { refuse: string },
    before?: (next: z.output<S>, current: z.output<S>) => void | Promise<void>,
  ): Promise<RecordUpdate<z.output<S>>> {
    this.#checkId(id);
    return this.#use(`change ${this.options.noun} ${id}`, async () => {
      const client = await this.pool.connect();
      let open = false;
      try {
        await client.query("BEGIN");
        open = true;
        await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(this.options.lockWaitMs))}`);
        let row;
        try {
          row = (await client.query<{ body: unknown }>(`SELECT body FROM ${this.options.table} WHERE id = $1 FOR UPDATE`, [id])).rows[0];
        } catch (err) {
          if ((err as { code?: string }).code === "55P03") throw new PgRecordError(`${this.options.noun} ${id} is busy in another hostward process (its row stayed locked for ${this.options.lockWaitMs} ms)`);
          throw err;
        }
        if (!row) {
          await client.query("ROLLBACK");
          open = false;
          return { ok: false as const, reason: `no ${this.options.noun} ${id}` };
        }
        const current = this.parse(id, row.body);
        const decided = change(current);
        if ("refuse" in decided) {
          await client.query("ROLLBACK");
          open = false;
          return { ok: false as const, reason: decided.refuse, record: current };
        }
        const next = this.options.schema.parse(decided.next);
        if (next.id !== id) throw new PgRecordError(`a change of ${this.options.noun} ${id} may not change its id`);
        try {
          await before?.(next, current);
        } catch (err) {
          if (typeof err === "object" && err !== null) this.#theirs.add(err);
          throw err;
        }
        await client.query(`UPDATE ${this.options.table} SET state = $2, body = $3, version = version + 1, updated_at = now() WHERE id = $1`, [id, next.state, JSON.stringify(next)]);
        await client.query("COMMIT");
        open = false;
        return { ok: true as const, record: next };
      } finally {
        if (open) await client.query("ROLLBACK").catch(() => undefined);
        client.release();
      }
    });
  }
}
