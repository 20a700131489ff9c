// What an administrator does to the PostgreSQL store, and what `hostward audit verify` checks in it:
//   setupDatabase   applies the pending migrations as the tables' owner and gives the broker's role
//                   exactly the rights it needs (migrations.ts grantsFor: no UPDATE/DELETE on audit);
//   verifyPgChain   reads the chain in seq order and runs the same checks as on a file;
//   migrateFiles    moves a file store (chain, requests, roll-outs) into an empty database in one
//                   transaction: all of it or nothing, the chain byte for byte (same hashes).
import { readFileSync } from "node:fs";
import pg from "pg";
import { sha256Hex } from "../../audit/chain";
import { ChainVerifier, verifyAuditFile, type VerifyResult } from "../../audit/verify";
import type { ActionStore } from "../../actions/store";
import type { RolloutFiles } from "../rollout-files";
import { describePgError, inspectRole, PostgresStateError, type RoleCheck } from "./connect";
import { grantsFor, LATEST_VERSION, MIGRATIONS, quoteIdent } from "./migrations";

/** A role name `hostward state setup` accepts: plain, so it needs no quoting anywhere. */
const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export interface SetupReport {
  applied: number[];
  version: number;
  role: string;
  roleCreated: boolean;
}

export async function setupDatabase(adminUrl: string, brokerRole: string, options: { brokerPassword?: string } = {}): Promise<SetupReport> {
  if (!ROLE_NAME.test(brokerRole)) throw new PostgresStateError(`--broker-role: "${brokerRole.slice(0, 70)}" is not a plain role name (lower-case letters, digits, _; at most 63)`);
  const client = new pg.Client({ connectionString: adminUrl, application_name: "hostward-setup", connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (err) {
    throw new PostgresStateError(`cannot connect as the administrator: ${describePgError(err)}`);
  }
  try {
    const enc = await client.query<{ enc: string; me: string }>("SELECT pg_encoding_to_char(encoding) AS enc, current_user AS me FROM pg_database WHERE datname = current_database()");
    if (enc.rows[0]!.enc !== "UTF8") throw new PostgresStateError(`the database's encoding is ${enc.rows[0]!.enc}; hostward needs UTF8 (CREATE DATABASE … ENCODING 'UTF8')`);
    if (enc.rows[0]!.me === brokerRole) throw new PostgresStateError(`--broker-role ${brokerRole} is the administrator connecting: the broker needs a role of its own that does not own the tables`);
    // One setup at a time (two administrators, or a retry while the first still runs).
    await client.query("SELECT pg_advisory_lock(hashtext('hostward.setup'))");
    await client.query("CREATE SCHEMA IF NOT EXISTS hostward");
    await client.query("REVOKE ALL ON SCHEMA hostward FROM PUBLIC");
    await client.query("CREATE TABLE IF NOT EXISTS hostward.schema_version (version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    const current = (await client.query<{ v: number | null }>("SELECT max(version) AS v FROM hostward.schema_version")).rows[0]!.v ?? 0;
    if (current > LATEST_VERSION) throw new PostgresStateError(`the database is at schema version ${current}, newer than this hostward's ${LATEST_VERSION}: upgrade hostward`);
    const applied: number[] = [];
    for (const m of MIGRATIONS.filter((m) => m.version > current)) {
      try {
        await client.query("BEGIN");
        await client.query(m.sql);
        await client.query("INSERT INTO hostward.schema_version (version, description) VALUES ($1, $2)", [m.version, m.description]);
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw new PostgresStateError(`migration ${m.version} (${m.description}) failed and was rolled back: ${describePgError(err)}`);
      }
      applied.push(m.version);
    }
    const exists = (await client.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [brokerRole])).rowCount === 1;
    const r = quoteIdent(brokerRole);
    if (!exists) await client.query(`CREATE ROLE ${r} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`);
    if (options.brokerPassword !== undefined) {
      // A utility statement takes no parameters: the password goes in as a quoted literal.
      const literal = (await client.query<{ q: string }>("SELECT quote_literal($1) AS q", [options.brokerPassword])).rows[0]!.q;
      await client.query(`ALTER ROLE ${r} PASSWORD ${literal}`);
    }
    // Exactly the grants below, whatever the role held before.
    await client.query(`REVOKE ALL ON ALL TABLES IN SCHEMA hostward FROM ${r}`);
    for (const g of grantsFor(brokerRole)) await client.query(g);
    await client.query("SELECT pg_advisory_unlock(hashtext('hostward.setup'))");
    return { applied, version: LATEST_VERSION, role: brokerRole, roleCreated: !exists };
  } catch (err) {
    if (err instanceof PostgresStateError) throw err;
    throw new PostgresStateError(`setup failed: ${describePgError(err)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface PgVerifyResult extends VerifyResult {
  role: RoleCheck;
}

/** The chain's checks over every row, in seq order, in pages; and what the connecting role may do. */
export async function verifyPgChain(pool: pg.Pool): Promise<PgVerifyResult> {
  const verifier = new ChainVerifier();
  const client = await pool.connect();
  try {
    const role = await inspectRole(client);
    // One snapshot for the whole read: appends made meanwhile are not half seen.
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    let after = 0;
    for (;;) {
      const rows = (await client.query<{ seq: string; hash: string; line: string }>("SELECT seq, hash, line FROM hostward.audit WHERE seq > $1 ORDER BY seq LIMIT 5000", [after])).rows;
      if (rows.length === 0) break;
      for (const row of rows) {
        if (!verifier.push(row.line)) return { ...verifier.result, role };
        if (row.hash !== sha256Hex(row.line)) {
          const n = verifier.result.records;
          return { ...verifier.result, ok: false, failure: { check: "record-hash", line: n, error: `record ${n}: the row's hash column does not match its line` }, role };
        }
        after = Number(row.seq);
      }
    }
    await client.query("COMMIT");
    return { ...verifier.result, role };
  } finally {
    await client.query("ROLLBACK").catch(() => undefined);
    client.release();
  }
}

export interface MigrateReport {
  records: number;
  head: string;
  actions: number;
  rollouts: number;
  results: number;
}

/**
 * Copies a file store into an empty database, in one transaction. The file chain is verified
 * first (with its signed head) and copied line for line, so its hashes — and any later `audit
 * verify` — are unchanged; every request and roll-out must read back valid, or nothing is moved.
 */
export async function migrateFiles(
  source: { auditFile: string; verifyOptions: Parameters<typeof verifyAuditFile>[1]; actions: ActionStore; rollouts: RolloutFiles },
  pool: pg.Pool,
): Promise<MigrateReport> {
  const verified = verifyAuditFile(source.auditFile, source.verifyOptions);
  if (!verified.ok) throw new PostgresStateError(`${source.auditFile} does not verify (${verified.failure!.error}); nothing was moved: run "hostward audit verify" and settle it first`);
  if (verified.tornTail !== undefined) throw new PostgresStateError(`${source.auditFile} ends with a record cut short; run "hostward audit repair" first; nothing was moved`);
  const text = readFileSync(source.auditFile, "utf8");
  const lines = text.length === 0 ? [] : text.slice(0, -1).split("\n");
  const acts = await source.actions.list();
  if (acts.problems.length > 0) throw new PostgresStateError(`some action requests cannot be read (${acts.problems[0]}); nothing was moved`);
  const rolloutIds = await source.rollouts.ids();
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    for (const table of ["hostward.audit", "hostward.actions", "hostward.rollouts"]) {
      const n = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
      if (n > 0) throw new PostgresStateError(`the database's ${table} already holds ${n} row(s): migrate into an empty hostward database; nothing was moved`);
    }
    for (let i = 0; i < lines.length; i += 1000) {
      const chunk = lines.slice(i, i + 1000);
      const seqs = chunk.map((_, j) => i + j + 1);
      const prevs = chunk.map((_, j) => (i + j === 0 ? null : sha256Hex(lines[i + j - 1]!)));
      await client.query("INSERT INTO hostward.audit (seq, prev_hash, line) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])", [seqs, prevs, chunk]);
    }
    for (const r of acts.requests) {
      await client.query("INSERT INTO hostward.actions (id, state, body, created_at) VALUES ($1, $2, $3, $4)", [r.id, r.state, JSON.stringify(r), r.createdAt]);
    }
    let results = 0;
    for (const id of rolloutIds) {
      const r = await source.rollouts.get(id);
      if (!r) continue;
      const previews = await source.rollouts.previews(id);
      await client.query("INSERT INTO hostward.rollouts (id, state, body, created_at) VALUES ($1, $2, $3, $4)", [r.id, r.state, JSON.stringify(r), r.createdAt]);
      await client.query("INSERT INTO hostward.rollout_previews (rollout_id, idx, preview) SELECT $1, i - 1, p FROM unnest($2::text[]) WITH ORDINALITY AS t(p, i)", [id, previews]);
      const indices = r.hosts.filter((h) => h.run?.hasResult).map((h) => h.index);
      for (const [idx, json] of await source.rollouts.results(id, indices)) {
        await client.query("INSERT INTO hostward.rollout_results (rollout_id, idx, result) VALUES ($1, $2, $3)", [id, idx, json.trimEnd()]);
        results += 1;
      }
    }
    await client.query("COMMIT");
    return { records: lines.length, head: lines.length > 0 ? sha256Hex(lines.at(-1)!) : "", actions: acts.requests.length, rollouts: rolloutIds.length, results };
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    if (err instanceof PostgresStateError) throw err;
    throw new PostgresStateError(`the migration failed and was rolled back (nothing was moved): ${describePgError(err)}`);
  } finally {
    client.release();
  }
}
