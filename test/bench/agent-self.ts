// Item 3: the agent itself — start to serving (spawn → --ready-file written, which happens once
// the gRPC server is bound), idle memory per role, memory after 10,000 calls, bundle sizes.
// Agents (and the floors) run with the units' node options and environment (AGENT_NODE_OPTIONS,
// AGENT_ENVIRONMENT: the same constants `hostward local up` uses and the unit files are tested against).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AGENT_ENVIRONMENT, AGENT_NODE_OPTIONS } from "../../broker/src/local/launcher";
import { callDiagnostic, clientFor, fleetTls } from "./grpc";
import { AGENT_BUNDLE, log, procMemory, ROOT, sleep, stats, stopChild, track, waitForFile, type ProcMemory, type Stats } from "./util";

type Role = "reader" | "operator";

export interface AgentSelfResult {
  /** Idle RSS of the floors: `node` doing nothing, and a bare grpc-js mTLS server (floor-server.ts). */
  floors: { bareNodeMiB: number; grpcMtlsServerMiB: number };
  startToServing: Record<Role, Stats>;
  idle: Record<Role, { runs: number; rssMiB: Stats; samples: ProcMemory[] }>;
  afterCalls: { calls: number; concurrency: number; before: ProcMemory; after: ProcMemory; callsPerSecond: number };
  bundles: Array<{ file: string; bytes: number }>;
}

const START_RUNS = 15;
const IDLE_RUNS = 3;
const IDLE_SETTLE_MS = 3_000;
const CALLS = 10_000;
const CALL_CONCURRENCY = 4;

async function startAgent(fleetDir: string, role: Role, work: string, i: number): Promise<{ child: ChildProcess; ms: number; port: number }> {
  const ready = join(work, `${role}-${i}.ready.json`);
  rmSync(ready, { force: true });
  const t = performance.now();
  const child = track(
    spawn(process.execPath, [...AGENT_NODE_OPTIONS, AGENT_BUNDLE(role), "--config", join(fleetDir, "agents", "local1", `${role}.yaml`), "--ready-file", ready], {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, ...AGENT_ENVIRONMENT },
    }),
  );
  await waitForFile(ready, 15_000, child);
  const ms = performance.now() - t;
  const { port } = JSON.parse(readFileSync(ready, "utf8")) as { port: number };
  return { child, ms, port };
}

/** Floors run with the agent units' node options and environment, so the comparison is like for like. */
async function floorRss(args: string[], ready: string | null): Promise<number> {
  const child = track(spawn(process.execPath, [...AGENT_NODE_OPTIONS, ...args], { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, ...AGENT_ENVIRONMENT } }));
  if (ready) await waitForFile(ready, 15_000, child);
  await sleep(IDLE_SETTLE_MS);
  const rss = procMemory(child.pid!).rss;
  await stopChild(child);
  return rss;
}

export async function measureAgentSelf(fleetDir: string, work: string, floorBundle: string): Promise<AgentSelfResult> {
  mkdirSync(work, { recursive: true });
  const tls = fleetTls(fleetDir);
  const floorConfig = join(work, "floor.json");
  writeFileSync(floorConfig, JSON.stringify({ tls: { ca: tls.ca, cert: tls.agentCert, key: tls.agentKey } }));
  const floors = {
    bareNodeMiB: await floorRss(["-e", "setInterval(() => {}, 1000)"], null),
    grpcMtlsServerMiB: await floorRss([floorBundle, "--config", floorConfig, "--ready-file", join(work, "floor.ready.json")], join(work, "floor.ready.json")),
  };
  log(`floors: bare node ${floors.bareNodeMiB} MiB, grpc-js mTLS server ${floors.grpcMtlsServerMiB} MiB`);
  const roles: Role[] = ["reader", "operator"];
  const startToServing = {} as Record<Role, Stats>;
  const idle = {} as AgentSelfResult["idle"];
  for (const role of roles) {
    const samples: number[] = [];
    for (let i = 0; i < START_RUNS; i++) {
      const a = await startAgent(fleetDir, role, work, i);
      samples.push(a.ms);
      await stopChild(a.child);
    }
    startToServing[role] = stats(samples);
    const mem: ProcMemory[] = [];
    for (let i = 0; i < IDLE_RUNS; i++) {
      const a = await startAgent(fleetDir, role, work, 100 + i);
      await sleep(IDLE_SETTLE_MS);
      mem.push(procMemory(a.child.pid!));
      await stopChild(a.child);
    }
    idle[role] = { runs: IDLE_RUNS, rssMiB: stats(mem.map((m) => m.rss)), samples: mem };
    log(`agent ${role}: start→serving p50 ${startToServing[role].p50} ms, idle RSS ${idle[role].rssMiB.p50} MiB (anon ${mem[0]?.rssAnon})`);
  }

  const a = await startAgent(fleetDir, "reader", work, 999);
  const client = clientFor(fleetTls(fleetDir), a.port);
  try {
    await sleep(IDLE_SETTLE_MS);
    const before = procMemory(a.child.pid!);
    let next = 0;
    const t = performance.now();
    await Promise.all(
      Array.from({ length: CALL_CONCURRENCY }, async () => {
        while (next < CALLS) {
          next++;
          await callDiagnostic(client, "getLoad");
        }
      }),
    );
    const seconds = (performance.now() - t) / 1000;
    await sleep(1_000);
    const after = procMemory(a.child.pid!);
    log(`agent reader after ${CALLS} calls: RSS ${after.rss} MiB (peak ${after.hwm}), was ${before.rss}`);
    const bundles = ["dist/agent/hostward-reader.cjs", "dist/agent/hostward-operator.cjs", "dist/hostward.cjs"].map((file) => ({ file, bytes: statSync(join(ROOT, file)).size }));
    return { floors, startToServing, idle, afterCalls: { calls: CALLS, concurrency: CALL_CONCURRENCY, before, after, callsPerSecond: Math.round(CALLS / seconds) }, bundles };
  } finally {
    client.close();
    await stopChild(a.child);
  }
}
