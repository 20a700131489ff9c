// issue 14 part 4: a roll-out over N simulated hosts (default 1000) in batches of 50 with gates,
// through the real broker: propose_rollout (MCP, the SDK Client) → `hostward approve ro-… --yes
// --key …` (the CLI, the local fleet's approver key) → execute_rollout, followed with get_rollout.
//
// The hosts: P multi-agent processes (multi-agent.ts --hosts) serving, per host, a reader and an
// operator server built from the agent's own server code, each host with its OWN key pair and
// certificates (issued here by the local fleet's CA: its name is the first DNS SAN, as
// `hostward pki issue-agent` does), its own approval store and helper ledger. Every preview and
// every action runs the REAL helper bundle (dist/agent/hostward-action.cjs) as a process, in
// direct mode (as `hostward local up` does: no sudo, the helper's directories from the agent's
// configuration), which verifies its own entry of the signed plan (host name and key, Merkle
// proof, nonce) and runs `truncate --no-create --size=0` on the fleet's shared log file through
// its pty. What is simulated: the hosts share this machine (one log file, one CPU pair), and their
// agents share processes. The gates: check_http (status 200) on an HTTP server in the bench's
// process, and get_load (load1 below 1000), on each host's reader after its action.
//
// Time in the hosts: each agent's per-call log line (its own duration of the action's stream and
// of each gate's call). The broker's overhead per host: (the roll-out's wall time − Σ over batches
// of the longest host's action + gates in that batch) / hosts — what the broker adds to the
// critical path of the batches, hosts' concurrency within a batch granted.
import { createServer } from "node:http";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { initApprovalStore } from "../../agent/src/helper/nonce-store";
import { issueAgentCerts, writePem } from "../../broker/src/pki";
import { startHostsLauncher, writeBrokerConfig, type BrokerHost, type HostsLauncher } from "./fleet";
import { BROKER_BUNDLE, ROOT, callTool, connectBroker, cpuMs, log, procMemory, run, sleep, stats, type Stats } from "./util";

export interface RolloutBench {
  hosts: number;
  processes: number;
  canaries: number;
  batchSize: number;
  batches: number;
  gates: string[];
  simulated: string;
  /** Issuing 2 certificates per host and starting the launchers, s. */
  setupSeconds: number;
  /** propose_rollout: N operator keys (TLS handshakes) and N previews (N helper runs), ms. */
  proposeMs: number;
  /** `hostward approve ID --yes --key FILE` (a process: loads the record, checks every preview, signs), ms. */
  approveMs: number;
  state: string;
  counts: Record<string, number>;
  /** execution.startedAt → endedAt in the roll-out's record (the broker's clock), ms. */
  wallMs: number;
  /** Each batch: its `rollout.batch` start record → its `rollout.batch.result` record (audit ts). */
  canaryBatchMs?: number;
  batchMs: Stats;
  /** Between batches: one batch's result record → the next batch's start record. */
  betweenBatchesMs: Stats;
  /** Per host, the agents' own durations: the action's stream, and the gates' calls. */
  actionMs: Stats;
  gatesMs: Stats;
  /** Σ over batches of the longest host's action + gates. */
  hostsCriticalMs: number;
  overheadPerHostMs: number;
  /** The broker's CPU time (user + system) from execute_rollout to the end, and per host. */
  brokerCpuMs: number;
  brokerCpuPerHostMs: number;
  brokerPeakRssMiB: number;
  brokerRssAfterProposeMiB: number;
  /** The roll-out's record file at the end (state/rollouts/ID.json: every host's preview and outcome), bytes. */
  recordBytes: number;
  /** Lines the broker wrote to its log (stderr) about this roll-out during the run: after execute_rollout answers, each progress line goes there. */
  brokerLogLines: number;
}

interface CallLine {
  host: string;
  method: string;
  durationMs: number;
  time: string;
  outcome: string;
}

function agentConfig(role: "reader" | "operator", hostDir: string, shared: { ca: string; logs: string; helper?: Record<string, string> }): Record<string, unknown> {
  return {
    role,
    listen: { host: "127.0.0.1", port: 0 },
    tls: { ca: shared.ca, cert: join(hostDir, `${role}.crt`), key: join(hostDir, `${role}.key`) },
    logs: { roots: [shared.logs] },
    ...(role === "operator" && { helper: shared.helper }),
  };
}

export async function measureRollout(work: string, fleet1Dir: string, launcherBundle: string, home: string, opts: { hosts: number; batchSize: number; brokerNodeArgs?: string[] }): Promise<RolloutBench> {
  const n = opts.hosts;
  const processes = n >= 500 ? 4 : 2;
  const canaries = 1;
  const dir = join(work, `rollout${n}`);
  const sharedLogs = join(dir, "shared-logs");
  const approvers = join(dir, "approvers");
  mkdirSync(sharedLogs, { recursive: true, mode: 0o700 });
  mkdirSync(approvers, { recursive: true, mode: 0o700 });
  const logFile = join(sharedLogs, "debug.log");
  writeFileSync(join(approvers, "local-admin.pub"), readFileSync(join(fleet1Dir, "approver", "local-admin.pub")));
  const actionsFile = join(dir, "actions.yaml");
  writeFileSync(actionsFile, JSON.stringify({ units: [], containers: [], reboot: false, logFiles: [sharedLogs] }));
  const caCert = join(fleet1Dir, "pki", "ca.crt");
  const ca = { cert: readFileSync(caCert, "utf8"), key: readFileSync(join(fleet1Dir, "pki", "ca.key"), "utf8") };

  log(`roll-out: issuing 2 certificates for each of ${n} hosts, starting ${processes} launcher processes`);
  let t = performance.now();
  const names = Array.from({ length: n }, (_, i) => `web${String(i + 1).padStart(4, "0")}`);
  const specs: Array<{ name: string; reader: string; operator: string }> = [];
  for (const name of names) {
    const hostDir = join(dir, "hosts", name);
    const stateDir = join(hostDir, "helper-state");
    mkdirSync(hostDir, { recursive: true, mode: 0o700 });
    const certs = await issueAgentCerts(ca, { host: name, dns: ["localhost"], ips: ["127.0.0.1"], validityDays: 2 });
    for (const role of ["reader", "operator"] as const) {
      writePem(join(hostDir, `${role}.crt`), certs[role].cert, { private: false });
      writePem(join(hostDir, `${role}.key`), certs[role].key, { private: true });
    }
    initApprovalStore(stateDir, [0, process.geteuid?.() ?? 0], Math.floor(Date.now() / 1000));
    const helper = { mode: "direct", path: join(ROOT, "dist", "agent", "hostward-action.cjs"), approversDir: approvers, stateDir, actionsFile, agentCert: join(hostDir, "operator.crt") };
    const shared = { ca: caCert, logs: sharedLogs, helper };
    for (const role of ["reader", "operator"] as const) writeFileSync(join(hostDir, `${role}.yaml`), JSON.stringify(agentConfig(role, hostDir, shared)));
    specs.push({ name, reader: join(hostDir, "reader.yaml"), operator: join(hostDir, "operator.yaml") });
  }
  const callLogs = Array.from({ length: processes }, (_, i) => join(dir, `calls-${i}.jsonl`));
  const launchers: HostsLauncher[] = [];
  const health = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok\n");
  });
  await new Promise<void>((resolve) => health.listen(0, "127.0.0.1", resolve));
  const healthPort = (health.address() as { port: number }).port;
  try {
    const per = Math.ceil(n / processes);
    for (let i = 0; i < processes; i++) launchers.push(await startHostsLauncher(launcherBundle, dir, i, specs.slice(i * per, (i + 1) * per), callLogs[i]!, join(dir, `helpers-${i}.log`)));
    const setupSeconds = Math.round((performance.now() - t) / 100) / 10;
    const hosts: BrokerHost[] = launchers.flatMap((l) => l.hosts.map((h) => ({ name: h.name, readerPort: h.reader, operatorPort: h.operator, certName: h.name })));
    const cfg = join(work, `broker-rollout-${n}`);
    // The approval must outlive the proposal's N previews and the run: 50 minutes (the helpers allow 60).
    writeBrokerConfig(cfg, fleet1Dir, hosts, { approvalTtlSeconds: 3000 }, { actions: true });
    log(`roll-out: ${n} hosts up in ${setupSeconds} s; propose_rollout`);
    const session = await connectBroker(cfg, home, opts.brokerNodeArgs);
    try {
      writeFileSync(logFile, "x".repeat(100_000));
      const gates = [
        { diagnostic: "check_http", input: { url: `http://127.0.0.1:${healthPort}/health` }, when: [{ field: "status", op: "==", value: 200 }] },
        { diagnostic: "get_load", input: {}, when: [{ field: "load1", op: "<", value: 1000 }] },
      ];
      t = performance.now();
      const proposed = (await session.client.callTool(
        { name: "propose_rollout", arguments: { target: "tag:bench", action: "truncate_log", params: { path: logFile }, strategy: { canaries, batchSize: opts.batchSize, gates }, reason: "bench: the shared debug log fills the disk" } },
        { timeout: 1_800_000 },
      )) as { isError?: boolean; structuredContent?: Record<string, unknown>; content: Array<{ text?: string }> };
      const proposeMs = Math.round(performance.now() - t);
      if (proposed.isError) throw new Error(`propose_rollout: ${proposed.content.map((c) => c.text).join(" ").slice(0, 1000)}`);
      const id = String(proposed.structuredContent!.id);
      const afterPropose = procMemory(session.pid);
      log(`roll-out ${id}: proposed in ${proposeMs} ms; hostward approve`);
      t = performance.now();
      await run(process.execPath, [BROKER_BUNDLE, "approve", id, "--key", join(fleet1Dir, "approver", "local-admin"), "--yes", "--config", cfg], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, XDG_STATE_HOME: join(home, "state"), XDG_CONFIG_HOME: join(home, "config") },
      });
      const approveMs = Math.round(performance.now() - t);
      log(`roll-out ${id}: approved in ${approveMs} ms; execute_rollout`);
      const c0 = cpuMs(session.pid);
      const started = await callTool(session, "execute_rollout", { id });
      if (started.isError) throw new Error(`execute_rollout: ${JSON.stringify(started.content).slice(0, 1000)}`);
      const deadline = Date.now() + 3_600_000;
      let view: Record<string, unknown>;
      for (;;) {
        await sleep(2_000);
        view = (await callTool(session, "get_rollout", { id })).structuredContent as Record<string, unknown>;
        if (view.state !== "RUNNING" && view.state !== "APPROVED") break;
        if (Date.now() > deadline) throw new Error(`roll-out ${id} still ${String(view.state)} after an hour`);
      }
      const brokerCpuMs = cpuMs(session.pid) - c0;
      const mem = procMemory(session.pid);
      const recordFile = join(cfg, "state", "rollouts", `${id}.json`);
      const brokerLogLines = session.stderr().split("\n").filter((l) => l.includes(id)).length;
      const record = JSON.parse(readFileSync(recordFile, "utf8")) as {
        state: string;
        execution: { startedAt: string; endedAt: string };
        hosts: Array<{ host: string; batch: number; state: string }>;
      };
      const counts: Record<string, number> = {};
      for (const h of record.hosts) counts[h.state] = (counts[h.state] ?? 0) + 1;
      if (record.state !== "SUCCEEDED") log(`roll-out ${id} ended ${record.state}: ${JSON.stringify(view).slice(0, 1000)}`);
      const wallMs = Date.parse(record.execution.endedAt) - Date.parse(record.execution.startedAt);

      // Batches, from the audit chain's records of this roll-out.
      const audit = readFileSync(join(cfg, "state", "audit.jsonl"), "utf8")
        .split("\n")
        .filter((l) => l.includes(id))
        .map((l) => JSON.parse(l) as { event: string; ts: string; batch?: number; phase?: string; hostsInBatch?: unknown });
      const startOf = new Map<number, number>();
      const endOf = new Map<number, number>();
      for (const a of audit) {
        if (a.event === "rollout.batch" && a.phase === "start" && a.hostsInBatch !== undefined) startOf.set(a.batch!, Date.parse(a.ts));
        if (a.event === "rollout.batch.result") endOf.set(a.batch!, Date.parse(a.ts));
      }
      const batchCount = Math.max(...record.hosts.map((h) => h.batch)) + 1;
      const span = (b: number) => (endOf.get(b) ?? NaN) - (startOf.get(b) ?? NaN);
      const full = Array.from({ length: batchCount }, (_, b) => b).filter((b) => b >= canaries && startOf.has(b) && endOf.has(b));
      const between = Array.from({ length: batchCount - 1 }, (_, b) => (startOf.get(b + 1) ?? NaN) - (endOf.get(b) ?? NaN)).filter((x) => Number.isFinite(x));

      // The hosts' own time: the agents' per-call lines during the run.
      const from = Date.parse(record.execution.startedAt);
      const lines: CallLine[] = callLogs.flatMap((f) =>
        readFileSync(f, "utf8")
          .split("\n")
          .filter((l) => l.includes('"msg":"rpc"'))
          .map((l) => JSON.parse(l) as CallLine)
          .filter((l) => Date.parse(l.time) >= from),
      );
      const action = new Map<string, number>();
      const gate = new Map<string, number>();
      for (const l of lines) {
        if (l.method === "TruncateLog") action.set(l.host, (action.get(l.host) ?? 0) + l.durationMs);
        else if (l.method === "CheckHttp" || l.method === "GetLoad") gate.set(l.host, (gate.get(l.host) ?? 0) + l.durationMs);
      }
      let hostsCriticalMs = 0;
      for (let b = 0; b < batchCount; b++) {
        const inBatch = record.hosts.filter((h) => h.batch === b);
        hostsCriticalMs += Math.max(0, ...inBatch.map((h) => (action.get(h.host) ?? 0) + (gate.get(h.host) ?? 0)));
      }
      const result: RolloutBench = {
        hosts: n,
        processes,
        canaries,
        batchSize: opts.batchSize,
        batches: batchCount,
        gates: gates.map((g) => `${g.diagnostic}: ${g.when.map((w) => `${w.field} ${w.op} ${w.value}`).join(", ")}`),
        simulated: `${processes} processes × ${Math.ceil(n / processes)} hosts (a reader and an operator server each, agent/src/server code, each host its own certificates, approval store and ledger); the real helper bundle run as a process for every preview and action (direct mode); one shared log file`,
        setupSeconds,
        proposeMs,
        approveMs,
        state: record.state,
        counts,
        wallMs,
        ...(canaries > 0 && startOf.has(0) && { canaryBatchMs: span(0) }),
        batchMs: stats(full.map(span)),
        betweenBatchesMs: stats(between),
        actionMs: stats([...action.values()]),
        gatesMs: stats([...gate.values()]),
        hostsCriticalMs: Math.round(hostsCriticalMs),
        overheadPerHostMs: Math.round(((wallMs - hostsCriticalMs) / n) * 100) / 100,
        brokerCpuMs,
        brokerCpuPerHostMs: Math.round((brokerCpuMs / n) * 100) / 100,
        brokerPeakRssMiB: mem.hwm,
        brokerRssAfterProposeMiB: afterPropose.rss,
        recordBytes: statSync(recordFile).size,
        brokerLogLines,
      };
      log(`roll-out ${id}: ${record.state} ${JSON.stringify(counts)} in ${wallMs} ms; batch p50 ${result.batchMs.p50} ms; overhead ${result.overheadPerHostMs} ms/host; broker CPU ${result.brokerCpuPerHostMs} ms/host; peak RSS ${mem.hwm} MiB`);
      return result;
    } finally {
      await session.close();
    }
  } finally {
    health.close();
    await Promise.all(launchers.map((l) => l.stop()));
  }
}
