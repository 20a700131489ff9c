// Connections to the PostgreSQL store, and the check every broker makes before its first use: the
// schema is at the version this broker was built for, and the broker's role cannot change the
// audit chain (it neither owns the tables nor may UPDATE, DELETE or TRUNCATE them, and is not a
// superuser). A broker with more rights than that refuses to start: the database's permissions
// are what keeps the chain append-only, so they are checked, not assumed.
import { readFileSync, statSync } from "node:fs";
import pg from "pg";
import { LATEST_VERSION } from "./migrations";

export class PostgresStateError extends Error {
  override name = "PostgresStateError";
  code = "STATE_FAILED";
}

export interface PostgresSettings {
  url: string;
  passwordFile?: string | undefined;
  maxConnections?: number;
  connectTimeoutMs?: number;
}

/** The URL without credentials, for messages and logs. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = "";
    return u.toString();
  } catch {
    return "postgres://(unparsable URL)";
  }
}

function readPassword(file: string): string {
  let text: string;
  try {
    const st = statSync(file);
    if ((st.mode & 0o077) !== 0) throw new PostgresStateError(`${file}: the password file is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
    text = readFileSync(file, "utf8");
  } catch (err) {
    if (err instanceof PostgresStateError) throw err;
    throw new PostgresStateError(`cannot read the database password file ${file}: ${(err as Error).message}`);
  }
  const line = text.split("\n")[0]?.trim() ?? "";
  if (line === "") throw new PostgresStateError(`${file}: the password file is empty`);
  return line;
}

export function poolConfig(settings: PostgresSettings, applicationName = "hostward-broker", options: { asyncCommit?: boolean } = {}): pg.PoolConfig {
  return {
    // The audit chain's connections commit asynchronously and flush in groups (audit.ts).
    ...(options.asyncCommit && { options: "-c synchronous_commit=off" }),
    connectionString: settings.url,
    ...(settings.passwordFile !== undefined && { password: readPassword(settings.passwordFile) }),
    max: settings.maxConnections ?? 8,
    connectionTimeoutMillis: settings.connectTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    // A command (`hostward approve`) exits when its work is done, without closing the pool itself.
    allowExitOnIdle: true,
    application_name: applicationName,
    // Every statement is bounded: a lock held by a paused broker ends in a clear error, not a hang.
    statement_timeout: 30_000,
  };
}

export function newPool(settings: PostgresSettings, applicationName?: string, options: { asyncCommit?: boolean } = {}): pg.Pool {
  const pool = new pg.Pool(poolConfig(settings, applicationName, options));
  // An idle client's error (the server restarted) must not crash the broker: the next query reconnects.
  pool.on("error", () => undefined);
  return pool;
}

/** Why a database error happened, in words (never the URL's credentials). */
export function describePgError(err: unknown): string {
  const e = err as { message?: string; code?: string };
  return e.code ? `${e.message ?? String(err)} (SQLSTATE ${e.code})` : (e.message ?? String(err));
}

export interface RoleCheck {
  role: string;
  version: number | undefined;
  /** What the role may do that a broker must not. */
  excess: string[];
  /** The schema exists but this role may not read its version (it was not given a broker's grants). */
  unreadable?: boolean;
}

export async function inspectRole(client: pg.ClientBase): Promise<RoleCheck> {
  const who = await client.query<{ role: string; superuser: boolean }>("SELECT current_user AS role, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser");
  const role = who.rows[0]!.role;
  const excess: string[] = [];
  if (who.rows[0]!.superuser) excess.push("is a superuser");
  const audit = await client.query<{ ok: boolean }>("SELECT to_regclass('hostward.audit') IS NOT NULL AS ok");
  if (audit.rows[0]!.ok) {
    const rights = await client.query<{ owner: boolean; upd: boolean; del: boolean; trunc: boolean }>(
      `SELECT pg_has_role(current_user, c.relowner, 'USAGE') AS owner,
              has_table_privilege(current_user, 'hostward.audit', 'UPDATE') AS upd,
              has_table_privilege(current_user, 'hostward.audit', 'DELETE') AS del,
              has_table_privilege(current_user, 'hostward.audit', 'TRUNCATE') AS trunc
         FROM pg_class c WHERE c.oid = 'hostward.audit'::regclass`,
    );
    const r = rights.rows[0]!;
    if (r.owner) excess.push("owns the audit table (or is a member of its owner)");
    if (r.upd) excess.push("may UPDATE audit rows");
    if (r.del) excess.push("may DELETE audit rows");
    if (r.trunc) excess.push("may TRUNCATE the audit table");
  }
  const exists = await client.query<{ ok: boolean }>("SELECT to_regclass('hostward.schema_version') IS NOT NULL AS ok");
  let version: number | undefined;
  let unreadable = false;
  if (exists.rows[0]!.ok) {
    try {
      const v = await client.query<{ version: number | null }>("SELECT max(version) AS version FROM hostward.schema_version");
      version = v.rows[0]!.version ?? undefined;
    } catch (err) {
      if ((err as { code?: string }).code !== "42501") throw err;
      unreadable = true;
    }
  }
  return { role, version, excess, ...(unreadable && { unreadable }) };
}

/** Connects once and checks the schema version and the role's rights; throws PostgresStateError saying what to do. */
export async function checkBrokerRole(pool: pg.Pool, where: string): Promise<void> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw new PostgresStateError(`cannot connect to the state database ${where}: ${describePgError(err)}`);
  }
  try {
    const check = await inspectRole(client);
    if (check.excess.length > 0) {
      throw new PostgresStateError(
        `the broker's database role "${check.role}" ${check.excess.join(", ")}: with it the broker could rewrite the audit chain. Give the broker its own role ("hostward state setup --admin-url URL --broker-role NAME" grants it only what it needs) and put that role in broker.yaml state.postgres.url`,
      );
    }
    if (check.unreadable) throw new PostgresStateError(`the broker's database role "${check.role}" may not read ${where}'s hostward schema: run "hostward state setup --admin-url URL --broker-role ${check.role}" to give it a broker's grants`);
    if (check.version === undefined) throw new PostgresStateError(`the state database ${where} has no hostward schema: run "hostward state setup --admin-url URL --broker-role ${check.role}" as its administrator first`);
    if (check.version < LATEST_VERSION) throw new PostgresStateError(`the state database ${where} is at schema version ${check.version}, this broker needs ${LATEST_VERSION}: run "hostward state setup --admin-url URL --broker-role ${check.role}"`);
    if (check.version > LATEST_VERSION) throw new PostgresStateError(`the state database ${where} is at schema version ${check.version}, newer than this broker's ${LATEST_VERSION}: upgrade hostward`);
  } catch (err) {
    if (err instanceof PostgresStateError) throw err;
    throw new PostgresStateError(`cannot check the state database ${where}: ${describePgError(err)}`);
  } finally {
    client.release();
  }
}
