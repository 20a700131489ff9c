// `npm run bench` (via test/bench/run.mjs, which checks the prerequisites and bundles this file):
// sets up everything on loopback — a local fleet, an OpenSSH server with a forced-command wrapper,
// simulated hosts — runs every comparison in this one process tree, and writes
// test/bench/results.json and test/bench/results.md. Not part of `npm test`: timings are never
// asserted there.
//
//   node main.cjs --launcher FILE --floor FILE --channel-floor FILE [--only latency,fanout,agent,search,streaming,audit,tools,summary,scale,rollout,brokers] [--out DIR] [--baseline results.json]
//     [--scale-hosts N (10000)] [--rollout-hosts N (1000)] [--broker-prof DIR: the scale and rollout sections' brokers run with node --cpu-prof, profiles in DIR]
//     [--broker-node-args "OPTIONS": more node options for those brokers, for experiments]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { measureAgentSelf, type AgentSelfResult } from "./agent-self";
import { auditWriter, measureAuditLock, WRITER_FLAG, type AuditLockResult } from "./audit-lock";
import { measureFanout, type FanoutRow } from "./fanout";
import { localDown, localUp } from "./fleet";
import { measureLatency, type LatencyResult } from "./latency";
import { measureLogSearch, type LogSearchResult } from "./log-search";
import { measureMultiBroker, type MultiBrokerResult } from "./multi-broker";
import { machineFacts, type MachineFacts } from "./machine";
import { renderMarkdown } from "./report";
import { startSshd, stopSshd, type SshFixture } from "./ssh";
import { measureStreaming, type StreamingResult } from "./streaming";
import { measureRollout, type RolloutBench } from "./rollout";
import { measureScale, type ScaleResult } from "./scale";
import { measureSummarySizes, type SummarySizeRow } from "./summary-size";
import { measureToolList, type ToolListResult } from "./tool-list";
import { log, ROOT, stopAll } from "./util";

export interface BenchResults {
  machine: MachineFacts;
  durationSeconds?: number;
  latency?: LatencyResult;
  fanout?: FanoutRow[];
  agent?: AgentSelfResult;
  logSearch?: LogSearchResult;
  streaming?: StreamingResult;
  auditLock?: AuditLockResult;
  toolList?: ToolListResult;
  summarySizes?: SummarySizeRow[];
  scale?: ScaleResult;
  rollout?: RolloutBench;
  multiBroker?: MultiBrokerResult;
}

const SECTIONS = ["latency", "fanout", "agent", "search", "streaming", "audit", "tools", "summary", "scale", "rollout", "brokers"] as const;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: "string" },
      out: { type: "string" },
      launcher: { type: "string" },
      floor: { type: "string" },
      baseline: { type: "string" },
      "scale-hosts": { type: "string" },
      "rollout-hosts": { type: "string" },
      "broker-prof": { type: "string" },
      "broker-node-args": { type: "string" },
      "channel-floor": { type: "string" },
    },
    strict: true,
  });
  // Experiments: node options for those brokers (never ones that print on stdout, the MCP channel).
  const brokerNodeArgs = [...(values["broker-prof"] ? ["--cpu-prof", "--cpu-prof-dir", values["broker-prof"]] : []), ...(values["broker-node-args"]?.split(" ").filter(Boolean) ?? [])];
  const only = new Set(values.only ? values.only.split(",") : SECTIONS);
  const outDir = values.out ?? join(ROOT, "test", "bench");
  if (!values.launcher || !values.floor) throw new Error("--launcher FILE and --floor FILE (bundled by test/bench/run.mjs) are required; run through test/bench/run.mjs");
  const started = performance.now();
  const results: BenchResults = { machine: await machineFacts(ROOT) };
  log(`machine: ${results.machine.cpuModel}, ${results.machine.cores} cores, load ${results.machine.loadAvgStart.join(" ")}`);

  const work = mkdtempSync("/tmp/hwbench-");
  const home = join(work, "home");
  const fleet1 = join(work, "fleet1");
  let ssh: SshFixture | undefined;
  try {
    log("setting up: hostward local up --hosts 1, sshd with a forced-command wrapper");
    await localUp(fleet1, 1);
    try {
      if (only.has("latency") || only.has("fanout")) ssh = await startSshd(work);
      if (only.has("latency")) results.latency = await measureLatency(fleet1, home, ssh!);
      if (only.has("fanout")) results.fanout = await measureFanout(work, fleet1, values.launcher, home, ssh!);
      if (only.has("agent")) results.agent = await measureAgentSelf(fleet1, join(work, "agent-self"), values.floor);
      if (only.has("search")) results.logSearch = await measureLogSearch(fleet1, join(work, "search"));
      if (only.has("streaming")) results.streaming = await measureStreaming(join(work, "streaming"));
      if (only.has("audit")) results.auditLock = await measureAuditLock(join(work, "audit"));
      if (only.has("tools")) results.toolList = await measureToolList(fleet1, home);
      if (only.has("summary")) results.summarySizes = measureSummarySizes();
      if (only.has("scale")) {
        const hosts = Number(values["scale-hosts"] ?? 10_000);
        results.scale = await measureScale(work, fleet1, values.launcher, home, { hosts, processes: hosts >= 1000 ? 4 : 2, rounds: hosts >= 5000 ? 11 : 21, brokerNodeArgs, channelFloor: values["channel-floor"] });
      }
      if (only.has("rollout")) results.rollout = await measureRollout(work, fleet1, values.launcher, home, { hosts: Number(values["rollout-hosts"] ?? 1000), batchSize: 50, brokerNodeArgs });
      if (only.has("brokers")) results.multiBroker = await measureMultiBroker(join(work, "brokers"), fleet1, home);
    } finally {
      if (ssh) await stopSshd(ssh);
      await localDown(fleet1);
    }
  } finally {
    await stopAll();
    rmSync(work, { recursive: true, force: true });
  }
  results.machine.loadAvgEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  results.durationSeconds = Math.round((performance.now() - started) / 1000);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  // A previous run's results.json (e.g. of the commit before the performance work) adds a
  // before → after table; its figures are from that run, not this one, and are labelled so.
  const baseline = values.baseline ? (JSON.parse(readFileSync(values.baseline, "utf8")) as BenchResults & { label?: string }) : undefined;
  writeFileSync(join(outDir, "results.md"), renderMarkdown(results, baseline));
  log(`done in ${results.durationSeconds} s: ${join(outDir, "results.md")}, results.json`);
}

if (process.argv[2] === WRITER_FLAG) {
  // A child of measureAuditLock: one audit writer process.
  auditWriter(process.argv[3]!, Number(process.argv[4])).catch((err: unknown) => {
    process.stderr.write(`audit writer failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
} else main().catch(async (err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  await stopAll();
  process.exit(1);
});
