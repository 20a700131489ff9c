// hostward state setup|migrate|status: the shared PostgreSQL store (broker.yaml state.postgres).
import { join } from "node:path";
import { parseArgs } from "node:util";
import { anchorFilesIn } from "../audit/log";
import { createPublicKey } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { loadOrCreateAnchorKey } from "../audit/anchor";
import { ActionStore } from "../actions/store";
import { ConfigError, loadBrokerSettings } from "../config/load";
import { defaultStateDir } from "../paths";
import { AUDIT_FILE } from "../state/files";
import { migrateFiles, setupDatabase } from "../state/postgres/admin";
import { inspectRole, PostgresStateError, redactedUrl } from "../state/postgres/connect";
import { openPostgresState } from "../state/postgres/index";
import { LATEST_VERSION } from "../state/postgres/migrations";
import { RolloutFiles } from "../state/rollout-files";
import { requireConfigDir } from "./config-dir";

const HELP = `Usage:
  hostward state setup --admin-url URL --broker-role NAME [--broker-password-file FILE]
      as the database's administrator: create the hostward schema (or apply its pending
      migrations) and give NAME exactly what a broker needs — it can read everything and append
      to the audit chain, never update or delete it. Idempotent. The administrator's password:
      PGPASSWORD or ~/.pgpass (not on the command line).
  hostward state migrate --from files --to postgres [--config DIR]
      move this broker's file store (the audit chain, action requests, roll-outs) into the
      database broker.yaml's state.postgres names, in one transaction: all or nothing, into an
      empty database, the chain copied line for line (its hashes unchanged). The files stay.
  hostward state status [--config DIR]
      which store broker.yaml names; for PostgreSQL: schema version, the broker role's rights,
      records held.

broker.yaml:
  state:
    postgres:
      url: postgres://hostward_broker@db.example:5432/hostward
      passwordFile: /etc/hostward/db-password   # or PGPASSWORD / ~/.pgpass
`;

function fail(message: string, code = 1): number {
  process.stderr.write(`hostward state: ${message}\n`);
  return code;
}

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: "string" },
        "admin-url": { type: "string" },
        "broker-role": { type: "string" },
        "broker-password-file": { type: "string" },
        from: { type: "string" },
        to: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    return fail(`${(err as Error).message}\n\n${HELP}`, 2);
  }
  const { values, positionals } = parsed;
  const [sub, ...extra] = positionals;
  if (values.help || sub === undefined) {
    process.stdout.write(HELP);
    return values.help ? 0 : 2;
  }
  if (extra.length > 0) return fail(`unexpected arguments: ${extra.join(" ")}\n\n${HELP}`, 2);
  try {
    switch (sub) {
      case "setup":
        return await setup(values);
      case "migrate":
        return await migrate(values);
      case "status":
        return await status(values);
      default:
        return fail(`unknown subcommand "${sub}"\n\n${HELP}`, 2);
    }
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.problems.join("\n  "));
    if (err instanceof PostgresStateError) return fail(err.message);
    throw err;
  }
}

async function setup(values: { "admin-url"?: string; "broker-role"?: string; "broker-password-file"?: string }): Promise<number> {
  const url = values["admin-url"];
  const role = values["broker-role"];
  if (!url) return fail("setup: --admin-url is required (postgres://ADMIN@HOST:PORT/DATABASE)", 2);
  if (!role) return fail("setup: --broker-role is required (the role the brokers connect as)", 2);
  if (/^postgres(ql)?:\/\/[^/@?#]*:[^/@?#]*@/.test(url)) return fail("setup: --admin-url must not carry a password (it would be in the process list and shell history): use PGPASSWORD or ~/.pgpass", 2);
  let brokerPassword: string | undefined;
  if (values["broker-password-file"]) {
    try {
      brokerPassword = readFileSync(values["broker-password-file"], "utf8").split("\n")[0]!.trim();
    } catch (err) {
      return fail(`setup: --broker-password-file: ${(err as Error).message}`);
    }
    if (!brokerPassword) return fail("setup: --broker-password-file is empty");
  }
  const r = await setupDatabase(url, role, brokerPassword !== undefined ? { brokerPassword } : {});
  process.stdout.write(
    `${redactedUrl(url)}: schema at version ${r.version}${r.applied.length ? ` (applied ${r.applied.join(", ")})` : " (nothing to apply)"}\n` +
      `role ${r.role}${r.roleCreated ? " created" : ""}: may read every table, insert into hostward.audit (never update, delete or truncate it), insert and update requests and roll-outs\n` +
      `broker.yaml:\n  state:\n    postgres:\n      url: postgres://${r.role}@HOST:PORT/DATABASE\n`,
  );
  return 0;
}

function postgresSettings(configDir: string) {
  const settings = loadBrokerSettings(configDir);
  const pgSettings = settings.state?.postgres;
  if (!pgSettings) throw new ConfigError([`${join(configDir, "broker.yaml")}: no state.postgres section: this broker keeps its state in files (add state.postgres.url first)`]);
  return { settings, pgSettings };
}

async function migrate(values: { config?: string; from?: string; to?: string }): Promise<number> {
  if (values.from !== "files" || values.to !== "postgres") return fail("migrate: only --from files --to postgres is supported", 2);
  const configDir = requireConfigDir(values.config);
  const { settings, pgSettings } = postgresSettings(configDir);
  const stateDir = settings.stateDir ?? defaultStateDir();
  const auditFile = join(stateDir, AUDIT_FILE);
  if (!existsSync(auditFile)) return fail(`migrate: there is no audit log at ${auditFile}: nothing to move`);
  const anchor = anchorFilesIn(configDir);
  const publicKey = existsSync(anchor.key) ? createPublicKey(loadOrCreateAnchorKey(anchor.key)) : undefined;
  const state = openPostgresState(pgSettings, { applicationName: "hostward-migrate" });
  try {
    const report = await migrateFiles(
      { auditFile, verifyOptions: { head: anchor.head, requireHead: existsSync(anchor.key), ...(publicKey && { publicKey }) }, actions: new ActionStore(stateDir), rollouts: new RolloutFiles(stateDir) },
      state.pool,
    );
    // The move itself is a record of the chain it moved (checked first: the role must be a broker's).
    await state.audit.append({ event: "state.migrated", from: auditFile, records: report.records, head: report.head, actions: report.actions, rollouts: report.rollouts });
    process.stdout.write(
      `moved ${report.records} audit records (chain head ${report.head.slice(0, 16)}… unchanged), ${report.actions} action requests, ${report.rollouts} roll-outs (${report.results} host results) into ${state.audit.location}\n` +
        `the files in ${stateDir} are left as they were; brokers with this broker.yaml now use the database. Check with: hostward audit verify\n`,
    );
    return 0;
  } finally {
    await state.close();
  }
}

async function status(values: { config?: string }): Promise<number> {
  const configDir = requireConfigDir(values.config);
  const settings = loadBrokerSettings(configDir);
  if (!settings.state?.postgres) {
    process.stdout.write(`state: files in ${settings.stateDir ?? defaultStateDir()}\n`);
    return 0;
  }
  const state = openPostgresState(settings.state.postgres, { applicationName: "hostward-status" });
  try {
    const client = await state.pool.connect().catch((err: unknown) => {
      throw new PostgresStateError(`cannot connect to ${state.audit.location}: ${(err as Error).message}`);
    });
    try {
      const role = await inspectRole(client);
      const counts = role.version === undefined ? undefined : (await client.query<{ audit: string; actions: string; rollouts: string }>("SELECT (SELECT count(*) FROM hostward.audit) AS audit, (SELECT count(*) FROM hostward.actions) AS actions, (SELECT count(*) FROM hostward.rollouts) AS rollouts")).rows[0];
      process.stdout.write(
        `state: PostgreSQL ${state.audit.location}\n` +
          `schema: ${role.version === undefined ? "none (run hostward state setup)" : `version ${role.version}${role.version === LATEST_VERSION ? "" : ` (this hostward needs ${LATEST_VERSION})`}`}\n` +
          `role ${role.role}: ${role.excess.length === 0 ? "cannot update, delete or truncate the audit chain" : `${role.excess.join(", ")} — a broker refuses to start with it`}\n` +
          (counts ? `records: ${counts.audit} audit, ${counts.actions} action requests, ${counts.rollouts} roll-outs\n` : ""),
      );
      return role.excess.length === 0 && role.version === LATEST_VERSION ? 0 : 1;
    } finally {
      client.release();
    }
  } finally {
    await state.close();
  }
}
