// Many brokers, one truth (issue 16 part 2): N = 1, 4, 16 real broker processes (`hostward serve`,
// one MCP client each over stdio) on one store, making calls and proposals concurrently for a fixed
// time against the local fleet's host local1 — its reader agent answers `get_load`, its operator
// agent previews `propose_action truncate_log` (one helper process per proposal) — then checks the
// store: the chain verifies with seq 1..count (no fork), every broker's proposals are visible from
// broker 0, and approvals executed by all N brokers at once each ran once. The store is a PostgreSQL
// database (a throwaway cluster started here, test/support/postgres.ts) and, as the baseline in the
// same run, the file store: one state directory shared by the N brokers (kernel locks).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { ActionService } from "../../broker/src/actions/service";
import { fileSigner } from "../../broker/src/approval/signer";
import { configFiles } from "../../broker/src/paths";
import { issueClientCert } from "../../broker/src/pki/index";
import { verifyAuditFile } from "../../broker/src/audit/verify";
import { openFileState } from "../../broker/src/state/files";
import { verifyPgChain } from "../../broker/src/state/postgres/admin";
import { openPostgresState } from "../../broker/src/state/postgres/index";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { writeBrokerConfig } from "./fleet";
import { callTool, connectBroker, expectOk, log, stats, type McpSession, type Stats } from "./util";

const DURATION_MS = 4_000;
const BROKERS = [1, 4, 16] as const;
/** Every PROPOSE_EVERY-th call of a client is a proposal; the others are `get_load`. */
const PROPOSE_EVERY = 8;
/** Approvals executed by every broker at once, per N. */
const RACED = 2;

export interface MultiBrokerRow {
  store: "files" | "postgres";
  brokers: number;
  calls: number;
  callsPerSecond: number;
  /** Every tool call (get_load and propose_action), ms. */
  all: Stats;
  getLoad: Stats;
  propose: Stats;
  /** Calls that answered an error (AUDIT_BUSY, a store failure). */
  errors: number;
  /** Proposals of this phase not listed by broker 0 afterwards. */
  invisible: number;
  /** Approvals raced by all N brokers; executions beyond one per approval (action.execute records, successful answers). */
  raced: number;
  duplicates: number;
}

export interface MultiBrokerStore {
  store: "files" | "postgres";
  records: number;
  chainOk: boolean;
  /** seq is 1..records with no gap and no repeat. */
  contiguous: boolean;
  /** Records that follow a record another record already follows (files: a repeated seq; PostgreSQL: a repeated prev_hash). */
  forks: number;
}

export interface MultiBrokerResult {
  durationMs: number;
  proposeEvery: number;
  rows: MultiBrokerRow[];
  stores: MultiBrokerStore[];
  brokerStartSeconds: Record<string, number>;
}

interface Fleet1 {
  readerPort: number;
  operatorPort: number;
  approverKey: string;
  logFile: string;
}

function fleet1(fleetDir: string): Fleet1 {
  const { agents } = JSON.parse(readFileSync(join(fleetDir, "fleet.json"), "utf8")) as { agents: Array<{ host: string; role: string; port: number }> };
  const port = (role: string) => agents.find((a) => a.host === "local1" && a.role === role)!.port;
  return { readerPort: port("reader"), operatorPort: port("operator"), approverKey: join(fleetDir, "approver", "local-admin"), logFile: join(fleetDir, "agents", "local1", "logs", "debug.log") };
}

const fill = (file: string) => writeFileSync(file, "local1 DEBUG cache miss key=session:42 (retrying)\n".repeat(2_000));

async function client(session: McpSession, f: Fleet1, until: number, into: { getLoad: number[]; propose: number[]; ids: string[]; errors: number }): Promise<void> {
  for (let n = 1; Date.now() < until; n++) {
    const propose = n % PROPOSE_EVERY === 0;
    const t = performance.now();
    const r = propose
      ? await callTool(session, "propose_action", { target: "local1", request: { action: "truncate_log", path: f.logFile }, reason: "bench: many brokers" })
      : await callTool(session, "get_load", { target: "local1" });
    const ms = performance.now() - t;
    if (r.isError) {
      if (into.errors === 0) log(`many brokers: ${propose ? "propose_action" : "get_load"} answered an error: ${r.content.map((c) => c.text).join(" ").slice(0, 300)}`);
      into.errors += 1;
      continue;
    }
    if (propose) {
      into.propose.push(ms);
      into.ids.push((r.structuredContent as { id: string }).id);
    } else {
      expectOk(r, "get_load");
      into.getLoad.push(ms);
    }
  }
}

/** action.execute records per id, from the store's chain. */
async function executions(auditFile: string, pool: pg.Pool | undefined, ids: string[]): Promise<Map<string, number>> {
  const lines = pool ? (await pool.query<{ line: string }>("SELECT line FROM hostward.audit")).rows.map((r) => r.line) : readFileSync(auditFile, "utf8").trimEnd().split("\n");
  const count = new Map(ids.map((id) => [id, 0]));
  for (const line of lines) {
    const r = JSON.parse(line) as { event?: string; actionId?: string };
    if (r.event === "action.execute" && r.actionId && count.has(r.actionId)) count.set(r.actionId, count.get(r.actionId)! + 1);
  }
  return count;
}

async function measureStore(store: "files" | "postgres", work: string, fleetDir: string, home: string, f: Fleet1, pgs: TestPostgres | undefined, starts: Record<string, number>): Promise<{ rows: MultiBrokerRow[]; check: MultiBrokerStore }> {
  const sharedState = join(work, `mb-${store}-state`);
  const db = pgs ? await pgs.newDatabase() : undefined;
  const settings = {
    budgets: { proposalsPerSession: 10_000, proposalsPerHour: 100_000 },
    ...(db ? { state: { postgres: { url: db.brokerUrl } } } : { stateDir: sharedState }),
  };
  const dirs = Array.from({ length: BROKERS.at(-1)! }, (_, i) => join(work, `mb-${store}-broker${i}`));
  // Each broker with client certificates of its own (as each person's broker has): the agents'
  // per-certificate limit on calls in progress (8) applies per broker, not to all of them at once.
  const ca = { cert: readFileSync(join(fleetDir, "pki", "ca.crt"), "utf8"), key: readFileSync(join(fleetDir, "pki", "ca.key"), "utf8") };
  for (const [i, dir] of dirs.entries()) {
    writeBrokerConfig(dir, fleetDir, [{ name: "local1", readerPort: f.readerPort, operatorPort: f.operatorPort, certName: "local1" }], settings, { actions: true });
    for (const role of ["reader", "operator"] as const) {
      const pair = await issueClientCert(ca, { role, name: `bench-broker-${i}-${role}`, validityHours: 2 });
      writeFileSync(configFiles(dir).clientCert(role), pair.cert);
      writeFileSync(configFiles(dir).clientKey(role), pair.key, { mode: 0o600 });
    }
  }
  const t0 = performance.now();
  const sessions: McpSession[] = [];
  // Started a few at a time: 16 node processes compiling at once on 2 cores would only queue.
  for (let i = 0; i < dirs.length; i += 4) sessions.push(...(await Promise.all(dirs.slice(i, i + 4).map((d) => connectBroker(d, home)))));
  starts[store] = Math.round((performance.now() - t0) / 100) / 10;
  const state = db ? openPostgresState({ url: db.brokerUrl }) : openFileState(sharedState, dirs[0]!);
  const pool = db ? new pg.Pool({ connectionString: db.brokerUrl, max: 2 }) : undefined;
  pool?.on("error", () => undefined);
  const service = new ActionService(state.actions, state.audit, () => 900);
  const rows: MultiBrokerRow[] = [];
  try {
    return { rows, check: await phases() };
  } finally {
    await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
    await pool?.end();
    await state.close();
  }

  async function phases(): Promise<MultiBrokerStore> {
    // Warm: each broker's channels to local1 open, its first calls compiled.
    await Promise.all(sessions.map(async (s) => {
      for (let i = 0; i < 5; i++) expectOk(await callTool(s, "get_load", { target: "local1" }), "get_load");
    }));
    for (const n of BROKERS) {
      const active = sessions.slice(0, n);
      log(`many brokers: ${n} broker(s) on ${store === "postgres" ? "one PostgreSQL database" : "one state directory"} for ${DURATION_MS / 1000} s`);
      fill(f.logFile);
      const per = active.map(() => ({ getLoad: [] as number[], propose: [] as number[], ids: [] as string[], errors: 0 }));
      const started = performance.now();
      const until = Date.now() + DURATION_MS;
      await Promise.all(active.map((s, i) => client(s, f, until, per[i]!)));
      const seconds = (performance.now() - started) / 1000;
      const getLoad = per.flatMap((p) => p.getLoad);
      const propose = per.flatMap((p) => p.propose);
      const ids = per.flatMap((p) => p.ids);
      log(`many brokers: ${getLoad.length} get_load, ${propose.length} proposals, ${per.reduce((a, p) => a + p.errors, 0)} errors in ${seconds.toFixed(1)} s`);
      // Every broker's proposals, seen by broker 0.
      const listed = (await sessions[0]!.client.callTool({ name: "list_actions", arguments: {} })).structuredContent as { actions: Array<{ id: string }> };
      const seen = new Set(listed.actions.map((a) => a.id));
      // list_actions is bounded (maxOutputBytes): the ones it left out are asked for one by one.
      for (const id of ids.filter((i) => !seen.has(i))) if (!(await callTool(sessions[0]!, "get_action", { id })).isError) seen.add(id);
      // RACED of them approved (the fleet's approver key), each executed by all N brokers at once.
      const raced = ids.slice(0, RACED);
      let duplicates = 0;
      for (const id of raced) {
        const approved = await service.approve(id, fileSigner(f.approverKey), { via: "cli", approver: "bench" });
        if (!approved.ok) throw new Error(`approve ${id}: ${approved.reason}`);
        fill(f.logFile);
        const answers = await Promise.all(active.map((s) => callTool(s, "execute_action", { id })));
        const ran = answers.filter((a) => !a.isError).length;
        if (ran !== 1) log(`many brokers: ${id} answered as run by ${ran} brokers`);
        duplicates += Math.max(0, ran - 1);
      }
      const executed = await executions(join(sharedState, "audit.jsonl"), pool, raced);
      for (const [id, count] of executed) {
        if (count !== 1) log(`many brokers: ${id} has ${count} action.execute records`);
        duplicates += Math.max(0, count - 1) + (count === 0 ? 1 : 0);
      }
      rows.push({
        store,
        brokers: n,
        calls: getLoad.length + propose.length,
        callsPerSecond: Math.round((getLoad.length + propose.length) / seconds),
        all: stats([...getLoad, ...propose]),
        getLoad: stats(getLoad),
        propose: stats(propose),
        errors: per.reduce((s, p) => s + p.errors, 0),
        invisible: ids.filter((id) => !seen.has(id)).length,
        raced: raced.length,
        duplicates,
      });
    }
    if (pool) {
      const v = await verifyPgChain(pool);
      const s = (await pool.query<{ n: number; lo: number; hi: number; prevs: number }>("SELECT count(*)::int AS n, coalesce(min(seq), 0)::int AS lo, coalesce(max(seq), 0)::int AS hi, count(DISTINCT prev_hash)::int AS prevs FROM hostward.audit")).rows[0]!;
      return { store, records: s.n, chainOk: v.ok, contiguous: s.lo === 1 && s.hi === s.n, forks: s.n - 1 - s.prevs };
    }
    const file = join(sharedState, "audit.jsonl");
    const v = verifyAuditFile(file);
    const seqs = readFileSync(file, "utf8").trimEnd().split("\n").map((l) => (JSON.parse(l) as { seq: number }).seq);
    return { store, records: seqs.length, chainOk: v.ok, contiguous: seqs.every((s, i) => s === i + 1), forks: seqs.length - new Set(seqs).size };
  }
}

export async function measureMultiBroker(work: string, fleetDir: string, home: string): Promise<MultiBrokerResult> {
  const f = fleet1(fleetDir);
  const starts: Record<string, number> = {};
  log("many brokers: starting a throwaway PostgreSQL cluster");
  const pgs = await startPostgres();
  try {
    const files = await measureStore("files", work, fleetDir, home, f, undefined, starts);
    const db = await measureStore("postgres", work, fleetDir, home, f, pgs, starts);
    return { durationMs: DURATION_MS, proposeEvery: PROPOSE_EVERY, rows: [...files.rows, ...db.rows], stores: [files.check, db.check], brokerStartSeconds: starts };
  } finally {
    pgs.stop();
    fill(f.logFile);
  }
}
