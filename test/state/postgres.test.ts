// What the PostgreSQL store promises beyond the seam's contract (stores.test.ts), on a real server:
// the database itself keeps the audit chain linear and append-only (whoever writes, with or
// without hostward), the broker refuses a role that could rewrite it, `hostward state setup` is
// idempotent, `hostward audit verify|tail` read the chain in the database, `hostward state migrate`
// moves a file store without losing a record, and a broker killed in the middle of a change leaves
// nothing half-written.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ActionService } from "../../broker/src/actions/service";
import { ActionStore } from "../../broker/src/actions/store";
import { sealRecords } from "../../broker/src/audit/chain";
import { anchorFilesIn, AuditBusyError, AuditLog } from "../../broker/src/audit/log";
import { verifyPgChain } from "../../broker/src/state/postgres/admin";
import { openPostgresState } from "../../broker/src/state/postgres/index";
import type { StateStore } from "../../broker/src/state/store";
import { TEST_PROPOSAL } from "../broker/actions/cli-support";
import { createBrokerDir } from "../broker/helpers/broker-dir";
import { hostward } from "../cli/cli";
import { createTestPki } from "../support/pki";
import { startPostgres, type TestDatabase, type TestPostgres } from "../support/postgres";

let pgs: TestPostgres;
let scratch: string;
const opened: StateStore[] = [];
const open = (url: string) => {
  const s = openPostgresState({ url });
  opened.push(s);
  return s;
};

beforeAll(async () => {
  pgs = await startPostgres();
  scratch = mkdtempSync(join(tmpdir(), "hw-pgtest-"));
});
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  pgs?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const proposal = TEST_PROPOSAL;

async function sqlAs(url: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}

/** The SQLSTATE a statement fails with (undefined: it succeeded). */
async function sqlState(url: string, sql: string, params: unknown[] = []): Promise<string | undefined> {
  try {
    await sqlAs(url, sql, params);
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code ?? "unknown";
  }
}

async function chainOf(db: TestDatabase, n: number): Promise<ReturnType<typeof open>> {
  const s = open(db.brokerUrl);
  for (let i = 0; i < n; i++) await s.audit.append({ event: "tool.call", tool: "get_load", i });
  return s;
}

describe("the database keeps the chain linear and append-only", () => {
  it("the broker's role can insert, but not update, delete or truncate audit rows", async () => {
    const db = await pgs.newDatabase();
    await chainOf(db, 3);
    expect(await sqlState(db.brokerUrl, "UPDATE hostward.audit SET line = line WHERE seq = 2")).toBe("42501");
    expect(await sqlState(db.brokerUrl, "DELETE FROM hostward.audit WHERE seq = 3")).toBe("42501");
    expect(await sqlState(db.brokerUrl, "TRUNCATE hostward.audit")).toBe("42501");
    expect(await sqlState(db.brokerUrl, "ALTER TABLE hostward.audit DISABLE TRIGGER audit_no_update")).toBe("42501");
    expect(await sqlState(db.brokerUrl, "DROP TABLE hostward.audit")).toBe("42501");
    // The owner is refused by the triggers too.
    expect(await sqlState(db.adminUrl, "UPDATE hostward.audit SET line = line WHERE seq = 2")).toBe("42501");
    expect(await sqlState(db.adminUrl, "DELETE FROM hostward.audit WHERE seq = 3")).toBe("42501");
    expect(await sqlState(db.adminUrl, "TRUNCATE hostward.audit")).toBe("42501");
    // Negative control: the role does insert (through the store) and the rows are all there.
    expect((await sqlAs(db.adminUrl, "SELECT count(*)::int AS n FROM hostward.audit")).rows[0].n).toBe(3);
  });

  it("a fork, a gap, a line that lies about its place or a forged hash cannot be inserted, by any role", async () => {
    const db = await pgs.newDatabase();
    await chainOf(db, 3);
    const rows = (await sqlAs(db.adminUrl, "SELECT seq::int, hash FROM hostward.audit ORDER BY seq")).rows as Array<{ seq: number; hash: string }>;
    const after = (seq: number) => sealRecords({ seq, prev: rows[seq - 1]!.hash }, [{ event: "tool.call", tool: "forged" }]).lines[0]!;
    const insert = "INSERT INTO hostward.audit (seq, prev_hash, line) VALUES ($1, $2, $3)";
    for (const url of [db.brokerUrl, db.adminUrl]) {
      // A second record after record 2 (record 3 already follows it): a fork.
      expect(await sqlState(url, insert, [3, rows[1]!.hash, after(2)])).toBe("23505");
      // The same fork under a new seq (prev_hash is unique; the trigger sees it does not follow record 3).
      const forkLine = after(2).replace('"seq":3', '"seq":4');
      expect(await sqlState(url, insert, [4, rows[1]!.hash, forkLine])).toMatch(/^23/);
      // A gap: seq 5 after record 3.
      const gap = sealRecords({ seq: 4, prev: rows[2]!.hash }, [{ event: "tool.call" }]).lines[0]!;
      expect(await sqlState(url, insert, [5, rows[2]!.hash, gap])).toMatch(/^23/);
      // A row whose columns disagree with its line (the line says seq 4, the row 9).
      expect(await sqlState(url, insert, [9, rows[2]!.hash, after(3)])).toMatch(/^23/);
      // A predecessor that is no record.
      const nowhere = sealRecords({ seq: 3, prev: "e".repeat(64) }, [{ event: "tool.call" }]).lines[0]!;
      expect(await sqlState(url, insert, [4, "e".repeat(64), nowhere])).toMatch(/^23/);
      // The hash is the database's own, computed from the line: it cannot be supplied.
      expect(await sqlState(url, "INSERT INTO hostward.audit (seq, prev_hash, line, hash) VALUES ($1, $2, $3, $4)", [4, rows[2]!.hash, after(3), "0".repeat(64)])).toBe("428C9");
    }
    // Negative control: the honest next record goes in.
    expect(await sqlState(db.brokerUrl, insert, [4, rows[2]!.hash, after(3)])).toBeUndefined();
    expect(await verifyPgChain(open(db.brokerUrl).pool)).toMatchObject({ ok: true, records: 4 });
  });

  it("even the owner, with the triggers disabled, cannot rewrite a record others follow", async () => {
    const db = await pgs.newDatabase();
    await chainOf(db, 3);
    await sqlAs(db.adminUrl, "ALTER TABLE hostward.audit DISABLE TRIGGER USER");
    // Record 2's hash would change with its line, and record 3 names it: the foreign key refuses.
    expect(await sqlState(db.adminUrl, "UPDATE hostward.audit SET line = replace(line, 'get_load', 'get_lood') WHERE seq = 2")).toBe("23503");
    // The last record has no follower: an owner who disables the triggers can edit it — and verify names it.
    await sqlAs(db.adminUrl, "UPDATE hostward.audit SET line = replace(line, 'get_load', 'get_lood') WHERE seq = 3");
    const r = await hostward(["audit", "verify", "--config", brokerConfig(db)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAILED check "record-hash" at record 3/);
  });
});

/** A broker configuration directory whose broker.yaml names `db` (through `url`, default the broker's role). */
function brokerConfig(db: TestDatabase, url = db.brokerUrl, stateDir?: string): string {
  const dir = mkdtempSync(join(scratch, "cfg-"));
  writeFileSync(join(dir, "broker.yaml"), JSON.stringify({ ...(stateDir && { stateDir }), state: { postgres: { url } } }));
  return dir;
}

describe("the broker's role is checked before the first use", () => {
  it("a superuser, the tables' owner or a database without the schema is refused, saying what to do", async () => {
    const db = await pgs.newDatabase();
    const asAdmin = openPostgresState({ url: db.adminUrl });
    opened.push(asAdmin);
    await expect(asAdmin.audit.append({ event: "broker.start" })).rejects.toThrow(/role "postgres" is a superuser.*could rewrite the audit chain.*hostward state setup/);
    // An owner that is no superuser.
    await sqlAs(db.adminUrl, "CREATE ROLE hw_owner LOGIN; GRANT USAGE ON SCHEMA hostward TO hw_owner");
    await sqlAs(db.adminUrl, "ALTER TABLE hostward.audit OWNER TO hw_owner");
    const asOwner = open(db.brokerUrl.replace(db.brokerRole, "hw_owner"));
    await expect(asOwner.audit.append({ event: "broker.start" })).rejects.toThrow(/owns the audit table/);
    await sqlAs(db.adminUrl, "ALTER TABLE hostward.audit OWNER TO postgres; REVOKE USAGE ON SCHEMA hostward FROM hw_owner; DROP ROLE hw_owner");
    // A role granted UPDATE on top of what setup gives.
    await sqlAs(db.adminUrl, `GRANT UPDATE ON hostward.audit TO ${db.brokerRole}`);
    await expect(open(db.brokerUrl).audit.append({ event: "broker.start" })).rejects.toThrow(/may UPDATE audit rows/);
    // `hostward state setup` run again puts the grants back to exactly what a broker needs.
    const again = await hostward(["state", "setup", "--admin-url", db.adminUrl, "--broker-role", db.brokerRole]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain("nothing to apply");
    await expect(open(db.brokerUrl).audit.append({ event: "broker.start" })).resolves.toBeUndefined();
    // No schema at all.
    const bare = await pgs.newDatabase({ setup: false });
    await sqlAs(bare.adminUrl, `CREATE ROLE ${bare.brokerRole} LOGIN`);
    await expect(open(bare.brokerUrl).actions.list()).rejects.toThrow(/has no hostward schema: run "hostward state setup/);
  });

  it("a broker.yaml URL with a password is refused by the configuration check, naming the field", async () => {
    const dir = mkdtempSync(join(scratch, "cfg-"));
    writeFileSync(join(dir, "broker.yaml"), JSON.stringify({ state: { postgres: { url: "postgres://hw:secret@127.0.0.1/hw" } } }));
    const r = await hostward(["audit", "verify", "--config", dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/state\.postgres\.url: must not carry a password/);
    expect(r.stderr).not.toContain("secret");
  });

  it("hostward serve stops at start with the refusal (nothing served) when the role could rewrite the chain", async () => {
    const db = await pgs.newDatabase();
    const bd = createBrokerDir(mkdtempSync(join(scratch, "serve-")), await createTestPki(mkdtempSync(join(scratch, "pki-"))));
    bd.writeHosts([{ name: "web1", port: 9 }]);
    bd.writePolicy([{ target: "*", allow: ["get_load"] }]);
    bd.writeBroker({ state: { postgres: { url: db.adminUrl } } });
    const r = await hostward(["serve", "--config", bd.dir], { timeoutMs: 20_000 });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe(""); // the MCP channel stays clean
    expect(r.stderr).toMatch(/is a superuser|superuser/);
  });
});

describe("hostward audit and hostward state on the database", () => {
  it("verify checks every row in one snapshot and says how append-only is enforced; tail prints the last records", async () => {
    const db = await pgs.newDatabase();
    await chainOf(db, 7);
    const dir = brokerConfig(db);
    const v = await hostward(["audit", "verify", "--config", dir]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain("7 records, hash chain intact");
    expect(v.stdout).toContain(`append-only: enforced by the database (role ${db.brokerRole} can insert, not update, delete or truncate`);
    const t = await hostward(["audit", "tail", "-n", "2", "--config", dir]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout.trimEnd().split("\n").map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([6, 7]);
    const st = await hostward(["state", "status", "--config", dir]);
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toMatch(/schema: version 1\n/);
    expect(st.stdout).toContain("records: 7 audit, 0 action requests, 0 roll-outs");
  });

  it("setup refuses the administrator itself as the broker's role, and a URL with a password", async () => {
    const db = await pgs.newDatabase({ setup: false });
    const self = await hostward(["state", "setup", "--admin-url", db.adminUrl, "--broker-role", "postgres"]);
    expect(self.code).toBe(1);
    expect(self.stderr).toMatch(/is the administrator connecting/);
    const pw = await hostward(["state", "setup", "--admin-url", db.adminUrl.replace("postgres@", "postgres:pw@"), "--broker-role", "hw_b"]);
    expect(pw.code).toBe(2);
    expect(pw.stderr).toMatch(/must not carry a password/);
  });
});

describe("hostward state migrate --from files --to postgres", () => {
  async function fileStore(): Promise<{ dir: string; stateDir: string; ids: string[] }> {
    const dir = mkdtempSync(join(scratch, "files-"));
    const stateDir = join(dir, "state");
    const audit = new AuditLog(join(stateDir, "audit.jsonl"), { anchor: anchorFilesIn(dir) }).open();
    const svc = new ActionService(new ActionStore(stateDir), audit, () => 900);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await svc.propose(proposal)).id);
    await svc.cancel(ids[0]!, "not needed", { who: "tester" });
    for (let i = 0; i < 20; i++) await audit.append({ event: "tool.call", tool: "get_load", i });
    await audit.close();
    return { dir, stateDir, ids };
  }

  it("moves the chain line for line (same hashes), every request, and records the move", async () => {
    const { dir, stateDir, ids } = await fileStore();
    const db = await pgs.newDatabase();
    const fileLines = readFileSync(join(stateDir, "audit.jsonl"), "utf8").trimEnd().split("\n");
    writeFileSync(join(dir, "broker.yaml"), JSON.stringify({ stateDir, state: { postgres: { url: db.brokerUrl } } }));
    const m = await hostward(["state", "migrate", "--from", "files", "--to", "postgres", "--config", dir]);
    expect(m.code, m.stderr).toBe(0);
    expect(m.stdout).toContain(`moved ${fileLines.length} audit records`);
    expect(m.stdout).toContain("3 action requests");
    const lines = (await sqlAs(db.adminUrl, "SELECT line FROM hostward.audit ORDER BY seq")).rows.map((r: { line: string }) => r.line);
    expect(lines.slice(0, fileLines.length)).toEqual(fileLines);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ event: "state.migrated", code: "HW1012", records: fileLines.length });
    const s = open(db.brokerUrl);
    const svc = new ActionService(s.actions, s.audit, () => 900);
    expect((await svc.list()).requests.map((r) => r.id).sort()).toEqual([...ids].sort());
    expect((await svc.get(ids[0]!))!.state).toBe("CANCELLED");
    const v = await hostward(["audit", "verify", "--config", dir]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain(`${fileLines.length + 1} records, hash chain intact`);
    // A second migration into the now non-empty database moves nothing.
    const again = await hostward(["state", "migrate", "--from", "files", "--to", "postgres", "--config", dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already holds .* row\(s\).*nothing was moved/);
    expect(Number((await sqlAs(db.adminUrl, "SELECT count(*) AS n FROM hostward.audit")).rows[0].n)).toBe(fileLines.length + 1);
  });

  it("a file chain that does not verify is not moved at all", async () => {
    const { dir, stateDir } = await fileStore();
    const file = join(stateDir, "audit.jsonl");
    const lines = readFileSync(file, "utf8").split("\n");
    lines[4] = lines[4]!.replace("get_load", "get_lood");
    writeFileSync(file, lines.join("\n"));
    const db = await pgs.newDatabase();
    writeFileSync(join(dir, "broker.yaml"), JSON.stringify({ stateDir, state: { postgres: { url: db.brokerUrl } } }));
    const m = await hostward(["state", "migrate", "--from", "files", "--to", "postgres", "--config", dir]);
    expect(m.code).toBe(1);
    expect(m.stderr).toMatch(/does not verify.*nothing was moved/);
    for (const t of ["audit", "actions", "rollouts"]) expect(Number((await sqlAs(db.adminUrl, `SELECT count(*) AS n FROM hostward.${t}`)).rows[0].n)).toBe(0);
  });
});

describe("a broker killed in the middle of a change", () => {
  it("leaves the request as it was and its row lock released: the next broker's change goes through", async () => {
    const db = await pgs.newDatabase();
    const s = open(db.brokerUrl);
    const svc = new ActionService(s.actions, s.audit, () => 900);
    const r = await svc.propose(proposal);
    await s.actions.transition(r.id, "APPROVED", { from: ["PENDING"], by: "test" });
    // Another process opens the same change (APPROVED → RUNNING) under the row's lock and is
    // SIGKILLed before it commits: the same point a broker dies at between its audit record and its write.
    const script = `
      const pg = require(${JSON.stringify(join(import.meta.dirname, "..", "..", "node_modules", "pg"))});
      const c = new pg.Client({ connectionString: ${JSON.stringify(db.brokerUrl)} });
      c.connect().then(async () => {
        await c.query("BEGIN");
        const row = (await c.query("SELECT body FROM hostward.actions WHERE id = $1 FOR UPDATE", [${JSON.stringify(r.id)}])).rows[0];
        await c.query("UPDATE hostward.actions SET state = 'RUNNING', body = $2 WHERE id = $1", [${JSON.stringify(r.id)}, { ...row.body, state: "RUNNING" }]);
        process.stdout.write("locked\\n");
        setInterval(() => {}, 1000);
      });`;
    const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) => child.stdout.on("data", (d: Buffer) => d.toString().includes("locked") && resolve()));
    // While it lives, the row is held: this broker's change waits (bounded) and is refused as busy.
    const busy = await s.actions.get(r.id);
    expect(busy!.state).toBe("APPROVED"); // uncommitted work is invisible
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    const started = await svc.startExecution(r.id, "call-after", { transport: "stdio" });
    expect(started).toMatchObject({ ok: true, request: { state: "RUNNING" } });
    expect((await s.actions.get(r.id))!.history.map((h) => h.state)).toEqual(["PENDING", "APPROVED", "RUNNING"]);
    expect(await verifyPgChain(s.pool)).toMatchObject({ ok: true });
  });
  it("a broker paused holding a request's lock holds up only that request: appends and other requests go on; the change waits its bound, then is refused as busy", async () => {
    const db = await pgs.newDatabase();
    const s = open(db.brokerUrl);
    const svc = new ActionService(s.actions, s.audit, () => 900);
    const held = await svc.propose(proposal);
    const free = await svc.propose(proposal);
    const script = `
      const pg = require(${JSON.stringify(join(import.meta.dirname, "..", "..", "node_modules", "pg"))});
      const c = new pg.Client({ connectionString: ${JSON.stringify(db.brokerUrl)} });
      c.connect().then(async () => {
        await c.query("BEGIN");
        await c.query("SELECT body FROM hostward.actions WHERE id = $1 FOR UPDATE", [${JSON.stringify(held.id)}]);
        process.stdout.write("locked\\n");
        setInterval(() => {}, 1000);
      });`;
    const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      await new Promise<void>((resolve) => child.stdout.on("data", (d: Buffer) => d.toString().includes("locked") && resolve()));
      child.kill("SIGSTOP");
      await s.audit.append({ event: "tool.call", tool: "get_load" });
      expect((await svc.cancel(free.id, "not needed", { who: "tester" })).ok).toBe(true);
      const started = Date.now();
      await expect(svc.cancel(held.id, "not needed", { who: "tester" })).rejects.toThrow(/is busy in another hostward process/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(4_000);
      expect((await s.actions.get(held.id))!.state).toBe("PENDING");
    } finally {
      child.kill("SIGKILL");
      await new Promise((resolve) => child.once("exit", resolve));
    }
    expect((await svc.cancel(held.id, "not needed", { who: "tester" })).ok).toBe(true);
    expect(await verifyPgChain(s.pool)).toMatchObject({ ok: true });
  });
});

describe("the database goes away and comes back", () => {
  it("appends and changes fail, saying where, while it is down (nothing half-written); the same store carries on after", async () => {
    const db = await pgs.newDatabase();
    const s = open(db.brokerUrl);
    const svc = new ActionService(s.actions, s.audit, () => 900);
    const r = await svc.propose(proposal);
    pgs.pauseServer();
    try {
      await expect(s.audit.append({ event: "tool.call", tool: "get_load" })).rejects.toThrow(/cannot append to the audit chain in postgres:\/\/.*nothing was written/);
      await expect(svc.propose(proposal)).rejects.toThrow(/audit/);
      await expect(s.actions.get(r.id)).rejects.toThrow(/cannot read action request/);
    } finally {
      pgs.resumeServer();
    }
    await s.audit.append({ event: "tool.call", tool: "after" });
    expect((await s.actions.list()).requests.map((x) => x.id)).toEqual([r.id]);
    const v = await verifyPgChain(s.pool);
    expect(v).toMatchObject({ ok: true, records: 2 });
  });
});

describe("durability of the chain's asynchronous commits", () => {
  it("append() resolves only once the WAL is flushed past its record; a bare asynchronous commit is not (the control)", async () => {
    const db = await pgs.newDatabase();
    const s = open(db.brokerUrl);
    await s.audit.append({ event: "broker.start" });
    const lsns = async () => (await sqlAs(db.adminUrl, "SELECT pg_current_wal_flush_lsn() >= pg_current_wal_insert_lsn() AS flushed")).rows[0].flushed as boolean;
    // The control: a commit made with synchronous_commit off is visible but not yet flushed.
    const c = new pg.Client({ connectionString: db.brokerUrl, options: "-c synchronous_commit=off" });
    await c.connect();
    let unflushedSeen = false;
    try {
      for (let i = 0; i < 20 && !unflushedSeen; i++) {
        await c.query("BEGIN; SELECT pg_logical_emit_message(true, 'test', 'x'); COMMIT");
        unflushedSeen = !(await lsns());
      }
    } finally {
      await c.end();
    }
    expect(unflushedSeen).toBe(true);
    for (let i = 0; i < 10; i++) {
      await s.audit.append({ event: "tool.call", tool: "get_load", i });
      expect(await lsns()).toBe(true);
      const w = await s.audit.appendDeferred({ event: "tool.result", tool: "get_load", i });
      await w.durable;
      expect(await lsns()).toBe(true);
    }
    expect(await verifyPgChain(s.pool)).toMatchObject({ ok: true, records: 21 });
  });
});

describe("an append's bound on waiting", () => {
  it("while another session holds the chain's lock an append waits its audit.lockWaitMs, then is refused AUDIT_BUSY with nothing written; then it goes in", async () => {
    const db = await pgs.newDatabase();
    const s = openPostgresState({ url: db.brokerUrl }, { lockWaitMs: 300 });
    opened.push(s);
    await s.audit.append({ event: "broker.start" });
    const holder = new pg.Client({ connectionString: db.brokerUrl });
    await holder.connect();
    try {
      await holder.query("SELECT pg_advisory_lock(hashtext('hostward.audit'))");
      const started = Date.now();
      const refused = await s.audit.append({ event: "tool.call", tool: "held" }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(refused).toBeInstanceOf(AuditBusyError);
      expect((refused as Error).message).toMatch(/busy.*nothing was written/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(Number((await sqlAs(db.adminUrl, "SELECT count(*) AS n FROM hostward.audit")).rows[0].n)).toBe(1);
    } finally {
      await holder.end(); // the session's lock goes with it
    }
    await s.audit.append({ event: "tool.call", tool: "after" });
    expect(await verifyPgChain(s.pool)).toMatchObject({ ok: true, records: 2 });
  });
});
