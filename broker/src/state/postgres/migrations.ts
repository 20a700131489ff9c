// The PostgreSQL store's schema, as numbered migrations. `hostward state setup` applies the pending
// ones as the tables' owner (an administrator), each in its own transaction, and records it in
// hostward.schema_version; a broker only checks, at start, that the database is at the version it
// was built for (it never alters the schema: its role cannot).
//
// The audit chain cannot fork by construction:
//   - `hash` is computed by the database from the line itself (a generated column);
//   - `prev_hash` REFERENCES an existing record's hash and is UNIQUE (no two records follow one);
//   - seq is the primary key, and a trigger checks the record follows record seq - 1;
//   - the line's own `seq` and `prev` fields must equal the row's (CHECK);
//   - UPDATE, DELETE and TRUNCATE are refused by triggers, whoever asks — and the broker's role is
//     granted only SELECT and INSERT on the table (the broker refuses to start with a role that can
//     do more: state/postgres/connect.ts).

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "audit chain, action requests, roll-outs, change notices",
    sql: `
-- The database's encoding is UTF8 (setup checks it), so this is immutable in fact.
CREATE FUNCTION hostward.sha256_utf8(t text) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN encode(sha256(convert_to(t, 'UTF8')), 'hex');

CREATE TABLE hostward.audit (
  seq bigint PRIMARY KEY CHECK (seq >= 1),
  prev_hash text UNIQUE,
  line text NOT NULL CHECK (octet_length(line) <= 1048576),
  hash text NOT NULL GENERATED ALWAYS AS (hostward.sha256_utf8(line)) STORED UNIQUE,
  written_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((seq = 1) = (prev_hash IS NULL)),
  CHECK (((line::jsonb) ->> 'seq')::bigint = seq),
  CHECK (((line::jsonb) ->> 'prev') = coalesce(prev_hash, repeat('0', 64)))
);
ALTER TABLE hostward.audit ADD CONSTRAINT audit_prev_is_a_record FOREIGN KEY (prev_hash) REFERENCES hostward.audit (hash);

CREATE FUNCTION hostward.audit_follows() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF NEW.seq > 1 AND NOT EXISTS (SELECT 1 FROM hostward.audit WHERE seq = NEW.seq - 1 AND hash = NEW.prev_hash) THEN
    RAISE EXCEPTION 'audit record % does not follow record %', NEW.seq, NEW.seq - 1 USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END
$fn$;
CREATE TRIGGER audit_follows BEFORE INSERT ON hostward.audit FOR EACH ROW EXECUTE FUNCTION hostward.audit_follows();

CREATE FUNCTION hostward.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'the audit chain is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$fn$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON hostward.audit FOR EACH ROW EXECUTE FUNCTION hostward.audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON hostward.audit FOR EACH STATEMENT EXECUTE FUNCTION hostward.audit_append_only();

-- One append: the records' chain fields are filled in here, after the tail read under an advisory
-- lock held to the end of this statement's transaction (released at commit, or with the session of
-- a killed broker; a paused client holds nothing: the whole append is one statement). middles[i]
-- is everything the broker serialises between the seq and the prev of record i, leading comma
-- included; the line is sealed exactly as audit/chain.ts sealLine does (its hash covers the line
-- without it, its prev is the hash of the line before). wait_ms bounds the wait for the lock.
CREATE FUNCTION hostward.append_audit(middles text[], wait_ms integer) RETURNS bigint
  LANGUAGE plpgsql AS $fn$
DECLARE
  last_seq bigint;
  last_hash text;
  body text;
  line text;
BEGIN
  PERFORM set_config('lock_timeout', greatest(wait_ms, 1)::text, true);
  PERFORM pg_advisory_xact_lock(hashtext('hostward.audit'));
  SELECT a.seq, a.hash INTO last_seq, last_hash FROM hostward.audit a ORDER BY a.seq DESC LIMIT 1;
  last_seq := coalesce(last_seq, 0);
  FOR i IN 1 .. coalesce(array_length(middles, 1), 0) LOOP
    body := '{"v":1,"seq":' || (last_seq + 1) || middles[i] || ',"prev":"' || coalesce(last_hash, repeat('0', 64)) || '"}';
    line := left(body, -1) || ',"hash":"' || hostward.sha256_utf8(body) || '"}';
    INSERT INTO hostward.audit (seq, prev_hash, line) VALUES (last_seq + 1, last_hash, line);
    last_seq := last_seq + 1;
    last_hash := hostward.sha256_utf8(line);
  END LOOP;
  RETURN last_seq;
END
$fn$;

CREATE TABLE hostward.actions (
  id text PRIMARY KEY,
  state text NOT NULL,
  body jsonb NOT NULL,
  version bigint NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX actions_state ON hostward.actions (state, created_at DESC);

CREATE TABLE hostward.rollouts (
  id text PRIMARY KEY,
  state text NOT NULL,
  body jsonb NOT NULL,
  version bigint NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE hostward.rollout_previews (
  rollout_id text NOT NULL REFERENCES hostward.rollouts (id),
  idx integer NOT NULL CHECK (idx >= 0),
  preview text NOT NULL,
  PRIMARY KEY (rollout_id, idx)
);
CREATE TABLE hostward.rollout_results (
  rollout_id text NOT NULL REFERENCES hostward.rollouts (id),
  idx integer NOT NULL CHECK (idx >= 0),
  result text NOT NULL,
  PRIMARY KEY (rollout_id, idx)
);

-- "Look again" notices: a request or roll-out changed (state/postgres/watch.ts LISTENs).
CREATE FUNCTION hostward.notify_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_notify('hostward_state', json_build_object('kind', TG_ARGV[0], 'id', NEW.id)::text);
  RETURN NULL;
END
$fn$;
CREATE TRIGGER actions_changed AFTER INSERT OR UPDATE ON hostward.actions FOR EACH ROW EXECUTE FUNCTION hostward.notify_change('action');
CREATE TRIGGER rollouts_changed AFTER INSERT OR UPDATE ON hostward.rollouts FOR EACH ROW EXECUTE FUNCTION hostward.notify_change('rollout');
`,
  },
];

export const LATEST_VERSION = MIGRATIONS.at(-1)!.version;

/** What the broker's role may do: read everything, append to the audit chain, never change it. */
export function grantsFor(role: string): string[] {
  const r = quoteIdent(role);
  return [
    `GRANT USAGE ON SCHEMA hostward TO ${r}`,
    `GRANT SELECT ON hostward.schema_version TO ${r}`,
    `GRANT SELECT, INSERT ON hostward.audit TO ${r}`,
    `GRANT SELECT, INSERT, UPDATE ON hostward.actions, hostward.rollouts TO ${r}`,
    `GRANT SELECT, INSERT ON hostward.rollout_previews TO ${r}`,
    `GRANT SELECT, INSERT, UPDATE ON hostward.rollout_results TO ${r}`,
    `GRANT EXECUTE ON FUNCTION hostward.sha256_utf8(text) TO ${r}`,
    `GRANT EXECUTE ON FUNCTION hostward.append_audit(text[], integer) TO ${r}`,
  ];
}

/** A role name as a SQL identifier (the grammar of `hostward state setup --broker-role` keeps it plain). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
