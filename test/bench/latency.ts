// Item 1: tool-call latency, one caller, sequential. The same data fetched five ways:
//   MCP   — the SDK's MCP client over stdio → `hostward serve` → the local reader agent (mTLS)
//   (a)   — `ssh` to the forced-command wrapper, a new connection per call
//   (b)   — `ssh` through an OpenSSH ControlMaster connection
//   (c)   — ssh2 on one kept-open connection (TCP_NODELAY), an exec channel per call
//   floor — a no-op grpc-js unary call over the same mTLS, client and server in one process
// plus "agent direct": a gRPC call straight to the agent, to split the MCP figure in two.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { callDiagnostic, clientFor, fleetTls, startNoopServer } from "./grpc";
import { connectSsh2, sshExec, startControlMaster, type SshFixture, type WrapperCommand } from "./ssh";
import { callTool, connectBroker, expectOk, log, procMemory, stats, timeRuns, type McpSession, type Stats } from "./util";

export interface LatencyCase {
  tool: string;
  args: Record<string, unknown>;
  grpcKey: string;
  ssh: WrapperCommand;
  /** Refusal path: the call answers with this host error on a machine without systemd. */
  expectHostError?: boolean;
}

export const CASES: LatencyCase[] = [
  { tool: "get_load", args: {}, grpcKey: "getLoad", ssh: "load" },
  { tool: "get_disk_usage", args: { mountPoint: "/" }, grpcKey: "getDiskUsage", ssh: "disk" },
  { tool: "get_memory_info", args: {}, grpcKey: "getMemoryInfo", ssh: "mem" },
  { tool: "get_service_status", args: { unit: "ssh.service" }, grpcKey: "getServiceStatus", ssh: "service", expectHostError: true },
];

/** get_load calls through MCP and straight to the agent before anything is measured. */
export const WARMUP_CALLS = 1000;

export const RUNS = { mcp: 400, direct: 1000, sshNew: 40, sshMaster: 150, ssh2: 300, floor: 3000 };

export interface LatencyRow {
  tool: string;
  ssh: WrapperCommand;
  /** What the MCP call answered (ok, or the host error code on the refusal path). */
  mcpAnswer: string;
  mcp: RoundStats;
  direct: RoundStats;
  sshNew: RoundStats;
  sshMaster: RoundStats;
  ssh2: RoundStats;
}

export interface LatencyResult {
  rows: LatencyRow[];
  floor: Stats;
  brokerPeakRssMiB: number;
}

interface Variant {
  runs: number;
  warmup: number;
  fn: () => Promise<unknown>;
}

/** Rounds in which every variant runs one block of its calls (BLOCKS blocks per variant in all). */
export const BLOCKS = 10;

/**
 * Warm-ups first, then BLOCKS rounds; in each round every variant runs a block of runs/BLOCKS
 * calls back to back. Blocks, not call-by-call alternation: an `ssh` per call leaves sshd's and
 * ssh's processes exiting on both cores for milliseconds after it returns, which would land on
 * whatever call comes next; in a block each variant is measured in its own steady state, and the
 * rounds still spread load that comes and goes on the shared machine over every variant alike.
 * The first call of each block is not counted (it pays for the previous variant's leftovers).
 */
async function interleaved(variants: Variant[]): Promise<RoundStats[]> {
  for (const v of variants) for (let i = 0; i < v.warmup; i++) await v.fn();
  const samples = variants.map(() => [] as number[]);
  const blockP50s = variants.map(() => [] as number[]);
  for (let round = 0; round < BLOCKS; round++) {
    for (const [k, v] of variants.entries()) {
      const block = Math.floor(((round + 1) * v.runs) / BLOCKS) - Math.floor((round * v.runs) / BLOCKS);
      await v.fn();
      const these: number[] = [];
      for (let i = 0; i < block; i++) {
        const t = performance.now();
        await v.fn();
        these.push(performance.now() - t);
      }
      samples[k]!.push(...these);
      if (these.length > 0) blockP50s[k]!.push(stats(these).p50);
    }
  }
  // The spread of the rounds' p50s shows how much the machine drifted during the measurement.
  return samples.map((s, k) => ({ ...stats(s), roundP50Min: Math.min(...blockP50s[k]!), roundP50Max: Math.max(...blockP50s[k]!) }));
}

/** Stats plus the lowest and highest p50 of the rounds' blocks. */
export interface RoundStats extends Stats {
  roundP50Min: number;
  roundP50Max: number;
}

function answerOf(r: Awaited<ReturnType<typeof callTool>>, c: LatencyCase): string {
  const res = r.structuredContent?.results?.[0];
  if (r.isError || !res) throw new Error(`${c.tool}: ${JSON.stringify(r.content).slice(0, 300)}`);
  if (c.expectHostError) return res.ok ? "ok" : `host error ${res.error?.code}: ${res.error?.message.slice(0, 120)}`;
  expectOk(r, c.tool);
  return "ok";
}

export async function measureLatency(fleetDir: string, home: string, ssh: SshFixture): Promise<LatencyResult> {
  const tls = fleetTls(fleetDir);
  const session: McpSession = await connectBroker(fleetDir, home);
  const ready = JSON.parse(readFileSync(join(fleetDir, "agents", "local1", "reader.ready.json"), "utf8")) as { port: number };
  const agent = clientFor(tls, ready.port);
  const master = await startControlMaster(ssh);
  const conn = await connectSsh2(ssh);
  const rows: LatencyRow[] = [];
  try {
    // A broker and an agent run for days: measure them warm. The first case measured right after
    // start paid for V8's tiers still compiling (get_load, first, came out ~1.6× slower than the
    // cases after it in the same run). Not counted anywhere.
    for (let i = 0; i < WARMUP_CALLS; i++) {
      await callTool(session, "get_load", { target: "local1" });
      await callDiagnostic(agent, "getLoad");
    }
    for (const c of CASES) {
      const target = { ...c.args, target: "local1" };
      const mcpAnswer = answerOf(await callTool(session, c.tool, target), c);
      log(`latency ${c.tool}: MCP answers "${mcpAnswer}"`);
      // Interleaved in blocks (see interleaved()): load that comes and goes on the shared
      // machine falls on every variant alike.
      const [mcp, direct, sshMaster, ssh2, sshNew] = await interleaved([
        { runs: RUNS.mcp, warmup: 150, fn: async () => answerOf(await callTool(session, c.tool, target), c) },
        { runs: RUNS.direct, warmup: 50, fn: () => callDiagnostic(agent, c.grpcKey, c.args).catch((err: Error) => (c.expectHostError ? err : Promise.reject(err))) },
        { runs: RUNS.sshMaster, warmup: 5, fn: () => sshExec(ssh, c.ssh, master.args) },
        { runs: RUNS.ssh2, warmup: 10, fn: () => conn.exec(c.ssh) },
        { runs: RUNS.sshNew, warmup: 3, fn: () => sshExec(ssh, c.ssh) },
      ]);
      rows.push({ tool: c.tool, ssh: c.ssh, mcpAnswer, mcp: mcp!, direct: direct!, sshNew: sshNew!, sshMaster: sshMaster!, ssh2: ssh2! });
      log(`latency ${c.tool}: MCP p50 ${mcp!.p50} ms · direct ${direct!.p50} · ssh new ${sshNew!.p50} · ControlMaster ${sshMaster!.p50} · ssh2 ${ssh2!.p50}`);
    }
    const noop = await startNoopServer(tls);
    const floor = await timeRuns(RUNS.floor, 200, () => noop.call());
    noop.stop();
    log(`latency floor (no-op gRPC over mTLS): p50 ${floor.p50} ms`);
    return { rows, floor, brokerPeakRssMiB: procMemory(session.pid).hwm };
  } finally {
    conn.close();
    agent.close();
    await master.stop();
    await session.close();
  }
}
