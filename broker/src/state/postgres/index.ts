// The shared store: action requests, approvals, roll-outs and the audit chain in one PostgreSQL
// database (broker.yaml state.postgres), for several brokers and `hostward approve` on several
// workstations. The schema comes from `hostward state setup` (migrations.ts); every broker checks
// it, and its own role's rights, before its first use (connect.ts). What each part guarantees is
// said where it is done: audit.ts (no fork, atomic appends), records.ts (one change at a time per
// record), watch.ts (change notices).
import pg from "pg";
import { ACTION_ID, ActionRequestSchema, type ActionRequest, type ActionState } from "../../actions/request";
import { decideTransition } from "../../actions/store";
import { ROLLOUT_RECORD_ID, RolloutRecordSchema, type RolloutRecord } from "../../rollouts/record";
import type { ActionStateStore, RecordUpdate, RolloutRecordStore, StateStore, TransitionOptions, TransitionResult } from "../store";
import { PgAuditStore } from "./audit";
import { checkBrokerRole, newPool, poolConfig, redactedUrl, type PostgresSettings } from "./connect";
import { PgRecords } from "./records";
import { PgStateWatch } from "./watch";

const RECORD_LOCK_WAIT_MS = 5_000;

class PgActionStore implements ActionStateStore {
  constructor(
    private readonly rows: PgRecords<typeof ActionRequestSchema>,
    readonly location: string,
  ) {}

  create(request: ActionRequest): Promise<ActionRequest> {
    return this.rows.create(request);
  }

  get(id: string): Promise<ActionRequest | undefined> {
    return this.rows.get(id);
  }

  async list(): Promise<{ requests: ActionRequest[]; problems: string[] }> {
    const { records, problems } = await this.rows.list();
    return { requests: records, problems };
  }

  async transition(id: string, to: ActionState, options: TransitionOptions): Promise<TransitionResult> {
    let refusal: TransitionResult | undefined;
    const t = await this.rows.update(
      id,
      (current) => {
        const decided = decideTransition(current, to, options);
        if (decided.ok) return { next: decided.request };
        refusal = decided;
        return { refuse: decided.reason };
      },
      (next) => options.before?.(next),
    );
    if (t.ok) return { ok: true, request: t.record };
    return refusal ?? { ok: false, reason: t.reason };
  }
}

class PgRolloutStore implements RolloutRecordStore {
  constructor(
    private readonly rows: PgRecords<typeof RolloutRecordSchema>,
    readonly location: string,
  ) {}

  /** The record and its previews in one transaction: neither is stored without the other. */
  create(record: RolloutRecord, previews: readonly string[]): Promise<RolloutRecord> {
    return this.rows.create(record, async (client) => {
      await client.query("INSERT INTO hostward.rollout_previews (rollout_id, idx, preview) SELECT $1, i - 1, p FROM unnest($2::text[]) WITH ORDINALITY AS t(p, i)", [record.id, previews]);
    });
  }

  get(id: string): Promise<RolloutRecord | undefined> {
    return this.rows.get(id);
  }

  update(
    id: string,
    change: (current: RolloutRecord) => { next: RolloutRecord } | { refuse: string },
    before?: (next: RolloutRecord, current: RolloutRecord) => void | Promise<void>,
  ): Promise<RecordUpdate<RolloutRecord>> {
    return this.rows.update(id, change, before);
  }

  ids(max?: number): Promise<string[]> {
    return this.rows.ids(max);
  }

  version(id: string): Promise<string | undefined> {
    return this.rows.version(id);
  }

  async previews(id: string): Promise<string[]> {
    if (!ROLLOUT_RECORD_ID.test(id)) throw new Error(`not a roll-out id: ${id}`);
    const r = await this.rows.pool.query<{ preview: string }>("SELECT preview FROM hostward.rollout_previews WHERE rollout_id = $1 ORDER BY idx", [id]);
    return r.rows.map((row) => row.preview);
  }

  async saveResult(id: string, index: number, json: string): Promise<void> {
    if (!ROLLOUT_RECORD_ID.test(id) || !Number.isSafeInteger(index) || index < 0) throw new Error(`not a roll-out host: ${id} ${index}`);
    await this.rows.pool.query("INSERT INTO hostward.rollout_results (rollout_id, idx, result) VALUES ($1, $2, $3) ON CONFLICT (rollout_id, idx) DO UPDATE SET result = EXCLUDED.result", [id, index, json]);
  }

  async results(id: string, indices: readonly number[]): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    if (indices.length === 0) return out;
    const r = await this.rows.pool.query<{ idx: number; result: string }>("SELECT idx, result FROM hostward.rollout_results WHERE rollout_id = $1 AND idx = ANY($2::int[])", [id, [...indices]]);
    for (const row of r.rows) out.set(row.idx, row.result);
    return out;
  }
}

export function openPostgresState(settings: PostgresSettings, options: { lockWaitMs?: number; warn?: (message: string) => void; applicationName?: string } = {}): StateStore & { pool: pg.Pool } {
  const location = redactedUrl(settings.url);
  // Audit appends have connections of their own. A record change holds a connection of `pool` for
  // its transaction while its audit record is appended (records.ts, `before`): from one pool, as
  // many concurrent changes as connections would each wait for an append that waits for a
  // connection (every change failing after connectTimeoutMs). An append holds its connection for
  // one statement, so the changes always get theirs. Together: settings.maxConnections.
  const max = settings.maxConnections ?? 8;
  const auditConnections = Math.max(1, Math.floor(max / 4));
  const pool = newPool({ ...settings, maxConnections: Math.max(1, max - auditConnections) }, options.applicationName);
  const auditPool = newPool({ ...settings, maxConnections: auditConnections }, options.applicationName, { asyncCommit: true });
  // Checked once, before the first use; a failure is said by every use (and `serve` stops on its first record).
  let checked: Promise<void> | undefined;
  const ready = () => (checked ??= checkBrokerRole(pool, location));
  const actions = new PgRecords(pool, { table: "hostward.actions", noun: "action request", id: ACTION_ID, schema: ActionRequestSchema, ready, lockWaitMs: RECORD_LOCK_WAIT_MS, location });
  const rollouts = new PgRecords(pool, { table: "hostward.rollouts", noun: "roll-out", id: ROLLOUT_RECORD_ID, schema: RolloutRecordSchema, ready, lockWaitMs: RECORD_LOCK_WAIT_MS, location });
  const changes = new PgStateWatch(() => new pg.Client(newClientConfig(settings, options.applicationName)), options.warn);
  return {
    kind: "postgres",
    pool,
    audit: new PgAuditStore(auditPool, location, ready, options.lockWaitMs !== undefined ? { lockWaitMs: options.lockWaitMs } : {}),
    actions: new PgActionStore(actions, location),
    rollouts: new PgRolloutStore(rollouts, location),
    changes,
    close: async () => {
      changes.stop();
      await Promise.all([pool.end().catch(() => undefined), auditPool.end().catch(() => undefined)]);
    },
  };
}

function newClientConfig(settings: PostgresSettings, applicationName?: string): pg.ClientConfig {
  const { max: _max, idleTimeoutMillis: _idle, ...config } = poolConfig(settings, applicationName);
  return config;
}
