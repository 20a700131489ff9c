// Many brokers, one truth (issue 16 part 2): several BUILT brokers — stdio sessions, each in its own
// configuration directory, and one shared HTTP broker — on one REAL PostgreSQL database
// (test/support/postgres.ts), driven by the SDK's Client, against one REAL operator agent whose
// root helper runs in direct mode with its real ledger (truncate_log on a log file: an action
// that succeeds on this machine). What is proven:
//   (a) broker A's proposal is pending in broker B (another process, another directory), which
//       hears of it (LISTEN/NOTIFY), and `hostward approve` against the database approves it; a
//       broker on the file store does not see it (the control: the sharing is the database's);
//   (b) an approval executed by three brokers at once runs once: one result, two refusals naming
//       the state, one RPC at the agent, one action.execute record (once with all three held at
//       the row lock together) — and each broker could have executed it alone (the control: the
//       refusals are the race's, not a broker's inability);
//   (c) a broker SIGKILLed while its action is in flight leaves a whole RUNNING row and a chain
//       that verifies; another broker settles it from the host's record, once; a broker killed
//       among concurrent proposals leaves no request without its audit record; one HTTP broker
//       makes 12 sessions' concurrent changes (each change's audit append gets a connection); a
//       RUNNING request of a broker on another machine is not taken for orphaned by its pid;
//   (d) afterwards `hostward audit verify --config DIR` exits 0, seq is 1..count with no fork —
//       and exits 1 once the administrator alters one row (the control: it reads the database).
import { spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PassThrough } from "node:stream";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ledgerDir } from "../../agent/src/helper/ledger";
import { formatOpenSshPrivateKey } from "../../broker/src/approval/private-key";
import { configFiles } from "../../broker/src/paths";
import { verifyPgChain } from "../../broker/src/state/postgres/admin";
import { newPool } from "../../broker/src/state/postgres/connect";
import { openPostgresState } from "../../broker/src/state/postgres/index";
import { ActionService } from "../../broker/src/actions/service";
import { HELPER_BUNDLE, makeApprover, makeHost, type HostDirs } from "../actions/support";
import { runCli, TEST_HOST_KEY, TEST_PREVIEW } from "../broker/actions/cli-support";
import { BROKER_BUNDLE, brokerEnv, createBrokerDir, spawnHttpBroker } from "../broker/helpers/broker-dir";
import { startAgent, type TestAgent } from "../support/agent";
import { startPostgres, type TestDatabase, type TestPostgres } from "../support/postgres";
import { createTestPki, type TestPki } from "../support/pki";

interface ToolResult {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content: Array<{ type: string; text?: string }>;
}

interface TestBroker {
  name: string;
  dir: string;
  client: Client;
  /** The broker process (stdio: the transport's child; HTTP: spawned here). */
  pid: number;
  exited: Promise<void>;
  stderr(): string;
  /** HTTP brokers: the MCP endpoint. */
  url?: string;
}

const TOKEN = "multi-broker-test-token-0123456789abcdef";
const PENDING = "hostward://actions/pending";

let root: string;
let pgs: TestPostgres;
let db: TestDatabase;
let pki: TestPki;
let host: HostDirs;
let operator: TestAgent;
let keyFile: string;
let logFile: string;
const brokers: TestBroker[] = [];
const httpChildren: ChildProcess[] = [];
let A: TestBroker;
let B: TestBroker;
let C: TestBroker;

const text = (r: ToolResult) => r.content.map((c) => c.text ?? "").join("\n");
const call = async (b: TestBroker, name: string, args: Record<string, unknown>) => (await b.client.callTool({ name, arguments: args }, { timeout: 60_000 })) as ToolResult;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A broker configuration directory of its own: the fleet's TLS files, web1 = the operator agent, state in the database. */
function brokerDir(name: string, state: "postgres" | "files" = "postgres"): string {
  const bd = createBrokerDir(join(root, name), undefined);
  bd.writeHosts([{ name: "web1", port: 9, operatorPort: operator.port }]);
  // A diagnostic too: a host where policy allows none is not shown (pending actions included).
  bd.writePolicy([{ target: "web1", allow: ["group:actions", "get_load"] }]);
  const files = configFiles(bd.dir);
  writeFileSync(files.caCert, pki.ca.cert);
  for (const role of ["reader", "operator"] as const) {
    writeFileSync(files.clientCert(role), pki.clients[role].cert);
    writeFileSync(files.clientKey(role), pki.clients[role].key, { mode: 0o600 });
  }
  bd.writeBroker({ budgets: { proposalsPerSession: 1000, proposalsPerHour: 10_000 }, ...(state === "postgres" && { state: { postgres: { url: db.brokerUrl } } }) });
  return bd.dir;
}

async function stdioBroker(name: string, state: "postgres" | "files" = "postgres"): Promise<TestBroker> {
  const dir = brokerDir(name, state);
  const transport = new StdioClientTransport({ command: process.execPath, args: [BROKER_BUNDLE, "serve", "--config", dir], env: brokerEnv(root), stderr: "pipe" });
  let stderr = "";
  (transport.stderr as PassThrough | null)?.on("data", (c: Buffer) => (stderr += c.toString()));
  const client = new Client({ name: `multi-${name}`, version: "1.0" });
  try {
    await client.connect(transport);
  } catch (err) {
    throw new Error(`broker ${name} did not start: ${(err as Error).message}\n${stderr}`, { cause: err });
  }
  const pid = transport.pid!;
  const b: TestBroker = { name, dir, client, pid, exited: exitOf(pid), stderr: () => stderr };
  brokers.push(b);
  return b;
}

/** Resolves once `pid` is gone (reaped: a zombie would still answer kill(pid, 0)). */
function exitOf(pid: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setInterval(() => {
      try {
        process.kill(pid, 0);
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return;
      } catch {
        clearInterval(t);
        resolve();
      }
    }, 20);
    t.unref();
  });
}

/** A shared HTTP broker (`serve --http`, bearer token) on the same database, its own directory. */
async function httpBroker(name: string): Promise<TestBroker> {
  const dir = brokerDir(name);
  const { child, url, stderr } = await spawnHttpBroker(dir, brokerEnv(root, { HOSTWARD_HTTP_TOKEN: TOKEN }), { timeoutMs: 15_000 });
  httpChildren.push(child);
  const client = new Client({ name: `multi-${name}`, version: "1.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } }));
  const b: TestBroker = { name, dir, url, client, pid: child.pid!, exited: new Promise((r) => child.once("exit", () => r())), stderr };
  brokers.push(b);
  return b;
}

async function auditRecords(): Promise<Array<Record<string, unknown> & { seq: number }>> {
  const rows = (await pgs.query(db.name, "SELECT line FROM hostward.audit ORDER BY seq")).rows as Array<{ line: string }>;
  return rows.map((r) => JSON.parse(r.line) as Record<string, unknown> & { seq: number });
}

const recordsOf = async (id: string, event: string) => (await auditRecords()).filter((r) => r.event === event && r.actionId === id);

async function row(id: string): Promise<{ state: string; body: Record<string, unknown> } | undefined> {
  return (await pgs.query(db.name, "SELECT state, body FROM hostward.actions WHERE id = $1", [id])).rows[0] as { state: string; body: Record<string, unknown> } | undefined;
}

/** The log file the action empties, full again (the preview measures it; the post-check wants it smaller). */
function fillLog(): void {
  writeFileSync(logFile, "app DEBUG cache miss key=session:42 (retrying)\n".repeat(2_000));
}

async function propose(b: TestBroker): Promise<string> {
  fillLog();
  const r = await call(b, "propose_action", { target: "web1", request: { action: "truncate_log", path: logFile }, reason: "the debug log fills the disk" });
  expect(r.isError, `${text(r)}\n${b.stderr()}`).toBeFalsy();
  expect(r.structuredContent).toMatchObject({ state: "PENDING" });
  return r.structuredContent!.id as string;
}

async function approve(id: string, dir: string): Promise<void> {
  const r = await runCli(["approve", id, "--key", keyFile, "--yes", "--config", dir], { HOME: root });
  expect(r.code, r.stderr).toBe(0);
}

const truncateRpcs = () => operator.rpcLines().filter((l) => l.method === "TruncateLog").length;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "hw-multi-"));
  pgs = await startPostgres();
  db = await pgs.newDatabase();
  pki = await createTestPki(join(root, "pki"));
  const alice = makeApprover("HIGH", "alice");
  keyFile = join(root, "alice.key");
  writeFileSync(keyFile, formatOpenSshPrivateKey(alice.privateKey, "alice"), { mode: 0o600 });
  // The log root is root's and not writable by others (what truncate_log's pre-check asks).
  const scratch = mkdtempSync(join(tmpdir(), "hw-multi-logs-"));
  const logDir = join(scratch, "app");
  mkdirSync(logDir, { mode: 0o755 });
  logFile = join(logDir, "debug.log");
  fillLog();
  host = makeHost([alice], `units: []\ncontainers: []\nreboot: false\nlogFiles: [${logDir}]\n`, pki.agents.operator);
  operator = await startAgent({
    role: "operator",
    pki,
    dir: join(root, "operator"),
    config: { helper: { mode: "direct", path: HELPER_BUNDLE, approversDir: host.approversDir, stateDir: host.stateDir, actionsFile: host.actionsFile, agentCert: host.agentCert } },
  });
  [A, B, C] = await Promise.all([stdioBroker("a"), stdioBroker("b"), httpBroker("c")]);
}, 90_000);

afterAll(async () => {
  for (const b of brokers) await b.client.close().catch(() => undefined);
  for (const c of httpChildren) if (c.exitCode === null && c.signalCode === null) c.kill("SIGTERM");
  await operator?.stop();
  pgs?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe("several brokers on one PostgreSQL database", () => {
  it("(a) broker A's proposal is pending in broker B, which hears of it; `hostward approve` against the database approves it; a file-store broker does not see it", async () => {
    const updates: string[] = [];
    B.client.setNotificationHandler("notifications/resources/updated", (n) => {
      updates.push(n.params.uri);
    });
    await B.client.subscribeResource({ uri: PENDING });
    const id = await propose(A);
    // B heard of it (the database's NOTIFY, A's write), and lists it from the database.
    await waitFor("B's pending-actions update", () => updates.includes(PENDING));
    const pending = JSON.parse(((await B.client.readResource({ uri: PENDING })).contents[0] as { text: string }).text) as { actions: Array<{ id: string; state: string }> };
    expect(pending.actions.find((a) => a.id === id), JSON.stringify(pending)).toMatchObject({ state: "PENDING" });
    const listed = (await call(C, "list_actions", {})).structuredContent as { actions: Array<{ id: string }> };
    expect(listed.actions.map((a) => a.id)).toContain(id);
    // Nothing of it is in any broker's state directory: the database is the only place it is.
    for (const b of [A, B, C]) {
      expect(existsSync(join(b.dir, "state", "actions", `${id}.json`))).toBe(false);
      expect(existsSync(join(b.dir, "state", "audit.jsonl"))).toBe(false);
    }

    // The human approves it in a terminal whose configuration names the same database (B's directory).
    updates.length = 0;
    await approve(id, B.dir);
    expect((await call(A, "get_action", { id })).structuredContent).toMatchObject({ state: "APPROVED" });
    await waitFor("B's update on the approval", () => updates.includes(PENDING));
    expect((await recordsOf(id, "action.approved")).length).toBe(1);

    // The control: a broker on its own file store does not see it, and cannot approve it.
    const F = await stdioBroker("f", "files");
    const theirs = (await call(F, "list_actions", {})).structuredContent as { actions: Array<{ id: string }> };
    expect(theirs.actions.map((a) => a.id)).not.toContain(id);
    const refused = await runCli(["approve", id, "--key", keyFile, "--yes", "--config", F.dir], { HOME: root });
    expect(refused.code).not.toBe(0);
    await F.client.close();
  }, 60_000);

  it("(b) each broker can execute alone; an approval executed by three brokers at once runs once", async () => {
    // The control: A, B and C each execute an approval of their own (so a refusal below is the race's).
    for (const b of [A, B, C]) {
      const id = await propose(A);
      await approve(id, A.dir);
      const r = await call(b, "execute_action", { id });
      expect(r.isError, `${b.name}: ${text(r)}\n${b.stderr()}`).toBeFalsy();
      expect(r.structuredContent).toMatchObject({ verdict: "SUCCEEDED" });
      expect(statSync(logFile).size).toBe(0);
    }

    // Three rounds; in the last the test holds the request's row lock until all three brokers wait
    // on it, so all three have read APPROVED and meet at the compare-and-set together.
    let refusedWhileRunning = 0;
    for (let round = 0; round < 3; round++) {
      const held = round === 2;
      const id = await propose(B);
      await approve(id, C.dir);
      const before = truncateRpcs();
      const lock = held ? new pg.Client({ connectionString: db.adminUrl }) : undefined;
      if (lock) {
        await lock.connect();
        await lock.query("BEGIN");
        await lock.query("SELECT 1 FROM hostward.actions WHERE id = $1 FOR UPDATE", [id]);
      }
      let results: ToolResult[];
      try {
        const calls = Promise.all([A, B, C].map((b) => call(b, "execute_action", { id })));
        if (lock) {
          // Well within the brokers' 5 s lock_timeout.
          await waitFor("three brokers waiting on the row lock", async () => ((await pgs.query(db.name, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'", [db.name])).rows[0] as { n: number }).n >= 3, 4_000);
          await lock.query("ROLLBACK");
        }
        results = await calls;
      } finally {
        await lock?.end();
      }
      const ran = results.filter((r) => !r.isError);
      const refused = results.filter((r) => r.isError);
      expect(ran, results.map(text).join("\n---\n")).toHaveLength(1);
      expect(ran[0]!.structuredContent).toMatchObject({ verdict: "SUCCEEDED" });
      expect(refused).toHaveLength(2);
      for (const r of refused) expect(text(r)).toMatch(new RegExp(`^refused: action ${id} is (RUNNING|SUCCEEDED)(, not APPROVED|; only an APPROVED request can be executed)`));
      refusedWhileRunning += refused.filter((r) => text(r).startsWith(`refused: action ${id} is RUNNING`)).length;
      // Held round: both refusals are the compare-and-set's under the lock (no advice after them).
      if (held) for (const r of refused) expect(text(r)).toBe(`refused: action ${id} is RUNNING, not APPROVED`);
      // Ran once: one RPC at the agent, one execute record, the host's ledger ended it once.
      expect(truncateRpcs() - before).toBe(1);
      expect(await recordsOf(id, "action.execute")).toHaveLength(1);
      expect(await recordsOf(id, "action.result")).toHaveLength(1);
      expect((await recordsOf(id, "action.refused")).filter((r) => r.op === "execute")).toHaveLength(2);
      expect(JSON.parse(readFileSync(join(ledgerDir(host.stateDir), `${id}.json`), "utf8"))).toMatchObject({ requestId: id, state: "ENDED", verdict: "SUCCEEDED" });
      expect((await row(id))!.state).toBe("SUCCEEDED");
    }
    // The calls overlapped the execution they lost to.
    expect(refusedWhileRunning).toBeGreaterThanOrEqual(2);
  }, 120_000);

  it("(c) a broker SIGKILLed while its action is in flight: a whole RUNNING row, a chain that verifies; another broker settles it once from the host's record", async () => {
    const K = await stdioBroker("k");
    const id = await propose(A);
    await approve(id, A.dir);
    const sizeBefore = statSync(logFile).size;
    const before = truncateRpcs();
    // The operator agent is paused: K's call reaches RUNNING and waits on the host.
    process.kill(operator.pid, "SIGSTOP");
    let inFlight: Promise<unknown> | undefined;
    try {
      inFlight = K.client.callTool({ name: "execute_action", arguments: { id } }, { timeout: 60_000 }).catch((err: unknown) => err);
      await waitFor("K's RUNNING row", async () => (await row(id))?.state === "RUNNING");
      process.kill(K.pid, "SIGKILL");
      await K.exited;
    } finally {
      process.kill(operator.pid, "SIGCONT");
    }
    await inFlight;
    // Left whole: the committed RUNNING row names K, its execute record is in the chain, and the chain verifies.
    const left = (await row(id))!;
    expect(left.state).toBe("RUNNING");
    expect(left.body).toMatchObject({ state: "RUNNING", execution: { pid: K.pid } });
    expect(await recordsOf(id, "action.execute")).toHaveLength(1);
    const pool = newPool({ url: db.brokerUrl });
    try {
      expect((await verifyPgChain(pool)).ok).toBe(true);
    } finally {
      await pool.end();
    }

    // Broker B settles it: K is gone (outcome unknown), then the host's record says it never started.
    const view = await waitFor("B's settled view", async () => {
      const v = (await call(B, "get_action", { id })).structuredContent as { state: string; execution?: { reconciliation?: unknown } };
      return v.execution?.reconciliation ? v : undefined;
    });
    expect(view).toMatchObject({ state: "FAILED", execution: { error: { code: "NOT_STARTED" }, reconciliation: { host: "NOT_STARTED", previous: { state: "FAILED", error: { code: "OUTCOME_UNKNOWN" } } } } });
    expect(truncateRpcs() - before).toBe(0);
    expect(statSync(logFile).size).toBe(sizeBefore);
    // Once: A asking again settles nothing more, and nobody can run the approval now.
    await call(A, "get_action", { id });
    expect(await recordsOf(id, "action.reconciled")).toHaveLength(1);
    expect((await recordsOf(id, "action.result")).map((r) => (r.error as { code?: string } | undefined)?.code)).toEqual(["OUTCOME_UNKNOWN"]);
    const again = await call(C, "execute_action", { id });
    expect(again.isError).toBe(true);
    expect(text(again)).toContain(`action ${id} is FAILED, not APPROVED`);
  }, 90_000);

  it("(c) a RUNNING request of a broker on another machine is waited for, not taken for orphaned by its pid; one of this machine whose process is gone is", async () => {
    const id = await propose(A);
    await approve(id, A.dir);
    // What a broker elsewhere leaves while it runs the action: its pid means nothing here.
    const gonePid = Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout);
    const running = async (owner: Record<string, string>) => {
      const execution = { startedAt: new Date().toISOString(), pid: gonePid, owner: { token: "ab".repeat(16), ...owner }, callId: "call-elsewhere" };
      await pgs.query(db.name, "UPDATE hostward.actions SET state = 'RUNNING', body = jsonb_set(jsonb_set(body, '{state}', '\"RUNNING\"'), '{execution}', $2::jsonb) WHERE id = $1", [id, JSON.stringify(execution)]);
    };
    await running({ bootId: "0f0f0f0f-0000-4000-8000-000000000000", pidNamespace: "pid:[4026531836]", startTime: "1" });
    expect((await call(B, "get_action", { id })).structuredContent).toMatchObject({ state: "RUNNING" });
    expect(await recordsOf(id, "action.result")).toHaveLength(0);
    // The control: the same on this machine (this boot, this PID namespace) is settled.
    await running({ bootId: readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim(), pidNamespace: readlinkSync("/proc/self/ns/pid"), startTime: "1" });
    expect((await call(B, "get_action", { id })).structuredContent).toMatchObject({ state: "FAILED" });
    expect((await recordsOf(id, "action.result")).map((r) => (r.error as { code?: string } | undefined)?.code)).toEqual(["OUTCOME_UNKNOWN"]);
  }, 60_000);

  it("(c) a broker SIGKILLed among concurrent proposals: every stored request has its audit record, none is half-changed", async () => {
    const K = await stdioBroker("k2");
    const before = new Set(((await pgs.query(db.name, "SELECT id FROM hostward.actions")).rows as Array<{ id: string }>).map((r) => r.id));
    fillLog();
    // Sixteen proposals, one every 40 ms: whenever the kill lands, some are stored and some are still on their way.
    const calls = Array.from({ length: 16 }, (_, i) =>
      new Promise((r) => setTimeout(r, i * 40)).then(() => K.client.callTool({ name: "propose_action", arguments: { target: "web1", request: { action: "truncate_log", path: logFile }, reason: "killed mid-call" } })).catch((err: unknown) => err),
    );
    // Killed once its first proposal is stored, the others in flight (previews on the host, audit, insert).
    await waitFor("K2's first stored proposal", async () => ((await pgs.query(db.name, "SELECT count(*)::int AS n FROM hostward.actions WHERE body->>'requester' LIKE '%multi-k2%'")).rows[0] as { n: number }).n > 0);
    process.kill(K.pid, "SIGKILL");
    await K.exited;
    const answers = await Promise.all(calls);
    const rows = ((await pgs.query(db.name, "SELECT id, state, body FROM hostward.actions")).rows as Array<{ id: string; state: string; body: { state: string; history: Array<{ state: string }> } }>).filter((r) => !before.has(r.id));
    const proposed = new Set((await auditRecords()).filter((r) => r.event === "action.proposed").map((r) => r.actionId));
    // Not vacuous: some were stored, and some calls were cut short by the kill.
    expect(rows.length).toBeGreaterThan(0);
    expect(answers.filter((a) => a instanceof Error).length).toBeGreaterThan(0);
    for (const r of rows) {
      expect(proposed.has(r.id), `${r.id} stored without its action.proposed record`).toBe(true);
      expect(r.body.state).toBe(r.state);
      expect(r.body.history.at(-1)!.state).toBe(r.state);
    }
    const pool = newPool({ url: db.brokerUrl });
    try {
      expect((await verifyPgChain(pool)).ok).toBe(true);
    } finally {
      await pool.end();
    }
  }, 60_000);

  it("(c) one shared HTTP broker, 12 sessions changing 12 requests at once: every change is made (a change's audit append never waits on a connection the changes hold)", async () => {
    // Twelve PENDING requests, stored as propose_action stores them (through the same service).
    const state = openPostgresState({ url: db.brokerUrl });
    const service = new ActionService(state.actions, state.audit, () => 900);
    const ids: string[] = [];
    try {
      for (let i = 0; i < 12; i++) ids.push((await service.propose({ host: "web1", hostIdentity: "localhost", hostKey: TEST_HOST_KEY, preview: TEST_PREVIEW, action: "restart_service", params: { unit: "nginx.service" }, impact: "MEDIUM", reason: "load", requester: "mcp:test" })).id);
    } finally {
      await state.close();
    }
    const sessions = await Promise.all(ids.map(async () => {
      const client = new Client({ name: "multi-http-session", version: "1.0" });
      await client.connect(new StreamableHTTPClientTransport(new URL(C.url!), { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } }));
      return client;
    }));
    try {
      const t0 = Date.now();
      const results = (await Promise.all(ids.map((id, i) => sessions[i]!.callTool({ name: "cancel_action", arguments: { id, reason: "not needed" } }, { timeout: 60_000 })))) as ToolResult[];
      const ms = Date.now() - t0;
      expect(results.filter((r) => r.isError).map(text)).toEqual([]);
      // Well inside the pool's 5 s wait for a connection.
      expect(ms).toBeLessThan(4_000);
      for (const id of ids) {
        expect((await row(id))!.state).toBe("CANCELLED");
        expect(await recordsOf(id, "action.cancelled")).toHaveLength(1);
      }
    } finally {
      await Promise.all(sessions.map((c) => c.close().catch(() => undefined)));
    }
  }, 60_000);

  it("(d) after all of it the chain verifies: `hostward audit verify` exits 0, seq 1..count, no fork — and exits 1 once a row is altered", async () => {
    const verified = await runCli(["audit", "verify", "--config", A.dir], { HOME: root });
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    const stats = (await pgs.query(db.name, "SELECT count(*)::int AS n, min(seq)::int AS lo, max(seq)::int AS hi, count(DISTINCT prev_hash)::int AS prevs FROM hostward.audit")).rows[0] as { n: number; lo: number; hi: number; prevs: number };
    expect(stats.n).toBeGreaterThan(50);
    expect(stats).toEqual({ n: stats.n, lo: 1, hi: stats.n, prevs: stats.n - 1 });
    const records = await auditRecords();
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: stats.n }, (_, i) => i + 1));
    // Every broker wrote to this one chain (their starts at least).
    const starts = records.filter((r) => r.event === "broker.start").length;
    expect(starts).toBeGreaterThanOrEqual(5);
    const pool = newPool({ url: db.brokerUrl });
    try {
      expect(await verifyPgChain(pool)).toMatchObject({ ok: true, records: stats.n });
    } finally {
      await pool.end();
    }

    // The control: the administrator, bypassing the triggers, alters one record's line.
    const mid = Math.floor(stats.n / 2);
    await pgs.query(db.name, `SET session_replication_role = replica; UPDATE hostward.audit SET line = replace(line, '"seq":${mid},', '"seq":${mid},"x":1,') WHERE seq = ${mid}`);
    const broken = await runCli(["audit", "verify", "--config", B.dir], { HOME: root });
    expect(broken.code, broken.stdout + broken.stderr).toBe(1);
  }, 60_000);
});

