// Roll-outs end to end on the local fleet (issue 14): the BUILT broker driven by the SDK's real
// MCP client over stdio, `hostward local up` agents (real gRPC over mTLS on loopback, each host's
// real helper in direct mode), `hostward approve ro-…` signing the plan with the fleet's approver
// key, and a real HTTP server as the health the gates check. The action is truncate_log on the
// fleet's shared log directory (the same parameters on every host, as a roll-out requires; no
// systemd here for a service restart — the e2e suite has that).
import { createServer, type Server } from "node:http";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, connectBroker, textOf, type BrokerSession } from "../helpers/mcp-client";
import { hostward } from "../../cli/cli";

let dir: string;
let broker: BrokerSession;
let server: Server;
let healthy = true;
/** How long the health endpoint takes to answer (the broker-kill test needs a batch in flight). */
let delayMs = 0;
let port = 0;
const log = () => join(dir, "shared-logs", "debug.log");
const key = () => join(dir, "approver", "local-admin");

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hw-rollout-fleet-"));
  const up = await hostward(["local", "up", "--dir", dir, "--hosts", "4"]);
  expect(up.code, up.stderr).toBe(0);
  server = createServer((_req, res) => {
    setTimeout(() => {
      res.writeHead(healthy ? 200 : 503, { "content-type": "text/plain" });
      res.end(healthy ? "ok\n" : "unavailable\n");
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as { port: number }).port;
  broker = await connectBroker(dir, dir);
}, 90_000);

afterAll(async () => {
  await broker?.close();
  server?.close();
  await hostward(["local", "down", "--dir", dir]);
  rmSync(dir, { recursive: true, force: true });
});

const gate = () => ({ diagnostic: "check_http", input: { url: `http://127.0.0.1:${port}/health` }, when: [{ field: "status", op: "==", value: 200 }] });

async function proposeApproveRun(strategy: Record<string, unknown>): Promise<{ id: string; approveText: string }> {
  writeFileSync(log(), "x".repeat(10_000));
  const proposed = await call(broker, "propose_rollout", { target: "tag:web", action: "truncate_log", params: { path: log() }, strategy, reason: "the shared debug log fills the disk" });
  expect(proposed.isError, textOf(proposed)).toBeFalsy();
  const id = String(proposed.structuredContent!.id);
  const approved = await hostward(["approve", id, "--key", key(), "--yes", "--config", dir]);
  expect(approved.code, approved.stderr).toBe(0);
  const started = await call(broker, "execute_rollout", { id });
  expect(started.isError, textOf(started)).toBeFalsy();
  return { id, approveText: approved.stdout };
}

async function settled(id: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await call(broker, "get_rollout", { id, hosts: true });
    expect(r.isError, textOf(r)).toBeFalsy();
    const s = r.structuredContent!;
    if (!["RUNNING", "APPROVED"].includes(String(s.state))) return s;
    if (Date.now() > deadline) throw new Error(`roll-out ${id} still ${String(s.state)} after ${timeoutMs} ms: ${JSON.stringify(s)}`);
    await new Promise((r2) => setTimeout(r2, 200));
  }
}

/** The ledger files a host's helper wrote for a roll-out (its own record: it ran there). */
function ledgerOf(host: string, id: string): string[] {
  const stateDir = join(dir, "agents", host, "helper", "state");
  const found: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      // The helper replaces a record by writing `<record>.tmp-<pid>` and renaming it over the record:
      // a listing taken mid-replace sees that name (or loses it before its stat); it is not a record.
      if (name.includes(".tmp-")) continue;
      const p = join(d, name);
      let dirEntry: boolean;
      try {
        dirEntry = statSync(p).isDirectory();
      } catch {
        continue;
      }
      if (dirEntry) walk(p);
      else if (name.startsWith(`${id}-`)) found.push(name);
    }
  };
  if (existsSync(stateDir)) walk(stateDir);
  return found;
}

describe("a roll-out on the local fleet", () => {
  it("canary first, then batches; one approval shows every batch and the gate; every host passes its HTTP gate: SUCCEEDED", async () => {
    healthy = true;
    const { id, approveText } = await proposeApproveRun({ canaries: 1, batchSize: 1, gates: [gate()] });
    expect(approveText).toMatch(/Roll-out ro-[0-9a-f]{10}: truncate_log - Empty a log file on 3 host\(s\) in 3 batch\(es\)/);
    expect(approveText).toMatch(/1\. \(canary\) local1\n\s+2\. local3\n\s+3\. local4/);
    expect(approveText).toContain(`check_http {"url":"http://127.0.0.1:${port}/health"}: status == 200`);
    expect(approveText).toMatch(/3 host\(s\): local1, local3, local4/);
    const r = await settled(id);
    expect(r.state, JSON.stringify(r)).toBe("SUCCEEDED");
    expect(r.counts).toEqual({ SUCCEEDED: 3 });
    const hosts = r.hosts as Array<{ host: string; state: string; gates: Array<{ ok: boolean; conditions: Array<{ seen: unknown }> }> }>;
    expect(hosts.map((h) => [h.host, h.state])).toEqual([["local1", "SUCCEEDED"], ["local3", "SUCCEEDED"], ["local4", "SUCCEEDED"]]);
    for (const h of hosts) expect(h.gates[0]).toMatchObject({ ok: true, conditions: [{ seen: 200 }] });
    expect(readFileSync(log(), "utf8")).toBe("");
    for (const h of ["local1", "local3", "local4"]) expect(ledgerOf(h, id).length, h).toBeGreaterThan(0);
    expect(ledgerOf("local2", id)).toEqual([]);
  }, 90_000);

  it("a gate that fails on the canary stops the roll-out there: HALTED, the other hosts untouched and never contacted", async () => {
    healthy = false;
    const { id } = await proposeApproveRun({ canaries: 1, batchSize: 2, gates: [gate()] });
    const r = await settled(id);
    expect(r.state).toBe("HALTED");
    expect(r.counts).toEqual({ GATE_FAILED: 1, UNTOUCHED: 2 });
    expect(r.untouched).toEqual(["local3", "local4"]);
    expect((r.execution as { halt: { reason: string } }).halt.reason).toMatch(/the canary batch failed \(local1: GATE_FAILED\); stopped before batch 2/);
    const canary = (r.hosts as Array<{ host: string; gates?: Array<{ conditions: Array<{ text: string; ok: boolean; seen: unknown }> }> }>).find((h) => h.host === "local1")!;
    expect(canary.gates![0]!.conditions[0]).toEqual({ text: "status == 200", ok: false, seen: 503 });
    expect(ledgerOf("local3", id)).toEqual([]);
    expect(ledgerOf("local4", id)).toEqual([]);
    healthy = true;
  }, 90_000);

  it("cancel_rollout during the pause after the canary: CANCELLED before batch 2, the rest untouched", async () => {
    healthy = true;
    const { id } = await proposeApproveRun({ canaries: 1, batchSize: 2, pauseSeconds: 30, gates: [gate()] });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = (await call(broker, "get_rollout", { id, hosts: true })).structuredContent!;
      if ((r.counts as Record<string, number>).SUCCEEDED === 1) break;
      if (Date.now() > deadline) throw new Error(`the canary did not finish: ${JSON.stringify(r)}`);
      await new Promise((r2) => setTimeout(r2, 100));
    }
    const t0 = Date.now();
    const cancelled = await call(broker, "cancel_rollout", { id, reason: "saw errors on the dashboard" });
    expect(cancelled.isError, textOf(cancelled)).toBeFalsy();
    const r = await settled(id, 10_000);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.state).toBe("CANCELLED");
    expect(r.counts).toEqual({ SUCCEEDED: 1, UNTOUCHED: 2 });
    expect(r.cancellation).toMatchObject({ reason: "saw errors on the dashboard" });
  }, 90_000);

  it("refuses a gate the catalog cannot type, naming the field, and proposes nothing", async () => {
    const r = await call(broker, "propose_rollout", {
      target: "tag:web",
      action: "truncate_log",
      params: { path: log() },
      strategy: { gates: [{ diagnostic: "check_http", input: { url: `http://127.0.0.1:${port}/` }, when: [{ field: "statuscode", op: "==", value: 200 }] }] },
      reason: "test",
    });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/invalid argument "strategy": gates\[0\]\.when\[0\]\.field: statuscode is not a field/);
    const list = (await call(broker, "get_rollout", {})).structuredContent!;
    expect((list.rollouts as unknown[]).length).toBe(3);
  }, 30_000);

  it("refuses a rollback for an action without an inverse, and pauses that outlast the approval, naming the field; proposes nothing", async () => {
    const count = async () => ((await call(broker, "get_rollout", {})).structuredContent!.rollouts as unknown[]).length;
    const before = await count();
    const noInverse = await call(broker, "propose_rollout", { target: "tag:web", action: "truncate_log", params: { path: log() }, strategy: { rollback: true }, reason: "test" });
    expect(noInverse.isError).toBe(true);
    expect(textOf(noInverse)).toMatch(/invalid argument "strategy\.rollback": truncate_log has no inverse action to roll a host back with \(the actions with one: .*stop_service/);
    // 3 hosts, one per batch, 600 s apart: 1,200 s of pauses; an approval lasts 900 s here.
    const tooLong = await call(broker, "propose_rollout", { target: "tag:web", action: "truncate_log", params: { path: log() }, strategy: { canaries: 1, batchSize: 1, pauseSeconds: 600 }, reason: "test" });
    expect(tooLong.isError).toBe(true);
    expect(textOf(tooLong)).toMatch(/invalid argument "strategy\.pauseSeconds": \d+ batches with 600 s between them pause \d+ s, and an approval lasts \d+ s/);
    const noGate = await call(broker, "propose_rollout", { target: "tag:web", action: "stop_service", params: { unit: "nginx" }, strategy: { rollback: true }, reason: "test" });
    expect(noGate.isError).toBe(true);
    expect(textOf(noGate)).toMatch(/invalid argument "strategy\.rollback": a host is rolled back when a gate fails, and strategy\.gates is empty/);
    expect(await count()).toBe(before);
  }, 30_000);

  it("a broker killed mid-batch (its host's action done, the gate in flight): a new broker settles that host from its record, never runs it again, and finishes", async () => {
    healthy = true;
    delayMs = 2_500;
    const { id } = await proposeApproveRun({ canaries: 1, batchSize: 2, gates: [gate()] });
    // Batch 2 started: its hosts are RUNNING in the record, their actions ran; their gates wait.
    const recordFile = join(dir, "state", "rollouts", `${id}.json`);
    const deadline = Date.now() + 30_000;
    let pid: number;
    for (;;) {
      const rec = JSON.parse(readFileSync(recordFile, "utf8")) as { execution?: { pid: number; batch: number }; hosts: Array<{ batch: number; state: string }> };
      if (rec.execution && rec.execution.batch === 1 && rec.hosts.filter((h) => h.batch === 1).every((h) => h.state === "RUNNING")) {
        pid = rec.execution.pid;
        break;
      }
      if (Date.now() > deadline) throw new Error(`batch 2 never started: ${JSON.stringify(rec)}`);
      await new Promise((r2) => setTimeout(r2, 50));
    }
    // Until both hosts of batch 2 have run their part (the ledger holds an entry for each).
    while (ledgerOf("local3", id).length === 0 || ledgerOf("local4", id).length === 0) {
      if (Date.now() > deadline) throw new Error("batch 2's actions did not run");
      await new Promise((r2) => setTimeout(r2, 50));
    }
    const ledgerBefore = { local3: ledgerOf("local3", id), local4: ledgerOf("local4", id) };
    process.kill(pid, "SIGKILL");
    await broker.close().catch(() => undefined);
    delayMs = 0;
    broker = await connectBroker(dir, dir);
    const r = await settled(id, 60_000);
    expect(r.state, JSON.stringify(r)).toBe("SUCCEEDED");
    expect(r.counts).toEqual({ SUCCEEDED: 3 });
    expect((r.execution as { resumes: number }).resumes).toBe(1);
    const hosts = r.hosts as Array<{ host: string; reconciled?: string }>;
    expect(hosts.filter((h) => h.reconciled === "ENDED").map((h) => h.host).sort()).toEqual(["local3", "local4"]);
    // Never run again: the hosts' records are those of the one run.
    expect({ local3: ledgerOf("local3", id), local4: ledgerOf("local4", id) }).toEqual(ledgerBefore);
    const audit = readFileSync(join(dir, "state", "audit.jsonl"), "utf8");
    expect(audit).toContain('"event":"rollout.resumed"');
  }, 120_000);
});
