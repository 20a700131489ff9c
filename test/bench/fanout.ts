// Item 2: one diagnostic (get_load) on target "*" across N hosts, through MCP → hostward serve.
// N = 10: real agent processes (`hostward local up --hosts 10`). N = 100, 1000: simulated hosts —
// K reader servers per process from the bench-only launcher (multi-agent.ts, the agent's own
// server code), each server its own loopback port and its own entry in the broker's inventory.
// Compared, for N ≤ 100, with ssh2 kept-open connections (one per host) to the forced-command sshd.
import { join } from "node:path";
import { localDown, localUp, startLauncher, writeBrokerConfig, type BrokerHost, type Launcher } from "./fleet";
import { connectMany, type SshFixture } from "./ssh";
import { callTool, connectBroker, log, procMemory, stats, type Stats } from "./util";

export interface FanoutRow {
  hosts: number;
  simulated: string;
  /** The first round: the broker opens N channels (N TLS handshakes). */
  coldRoundMs: number;
  round: Stats;
  brokerPeakRssMiB: number;
  /** Whether the broker cut the output to its maxOutputBytes. */
  outputTruncated: boolean;
  /** The same call with view "summary" (issue 14): its structured content's bytes, and its rounds. */
  summary?: { bytes: number; round: Stats };
  ssh2?: Stats;
}

const ROUNDS: Record<number, number> = { 10: 100, 100: 40, 1000: 15 };

async function mcpRounds(cfgDir: string, home: string, n: number): Promise<Omit<FanoutRow, "simulated" | "ssh2">> {
  const session = await connectBroker(cfgDir, home);
  try {
    let truncated = false;
    // view "hosts": the per-host answer these rounds always measured (above 10 hosts the default
    // is now the summary, measured separately below).
    const round = async () => {
      const r = await callTool(session, "get_load", { target: "*", view: "hosts" });
      const s = r.structuredContent?.summary;
      if (r.isError || s?.ok !== n) throw new Error(`fan-out to ${n}: ${JSON.stringify(s ?? r.content).slice(0, 400)}`);
      truncated ||= (r.structuredContent as { truncated?: boolean }).truncated === true;
    };
    let t = performance.now();
    await round();
    const coldRoundMs = Math.round(performance.now() - t);
    await round();
    const samples: number[] = [];
    for (let i = 0; i < (ROUNDS[n] ?? 10); i++) {
      t = performance.now();
      await round();
      samples.push(performance.now() - t);
    }
    const brokerPeakRssMiB = procMemory(session.pid).hwm;
    let bytes = 0;
    const summaryRound = async () => {
      const r = await callTool(session, "get_load", { target: "*", view: "summary" });
      const s = r.structuredContent as { summary?: { ok: number }; fleet?: unknown } | undefined;
      if (r.isError || s?.summary?.ok !== n || s.fleet === undefined) throw new Error(`summary of ${n}: ${JSON.stringify(s ?? r.content).slice(0, 400)}`);
      bytes = Buffer.byteLength(JSON.stringify(r.structuredContent));
    };
    await summaryRound();
    const summarySamples: number[] = [];
    for (let i = 0; i < Math.min(ROUNDS[n] ?? 10, 20); i++) {
      t = performance.now();
      await summaryRound();
      summarySamples.push(performance.now() - t);
    }
    return { hosts: n, coldRoundMs, round: stats(samples), brokerPeakRssMiB, outputTruncated: truncated, summary: { bytes, round: stats(summarySamples) } };
  } finally {
    await session.close();
  }
}

async function ssh2Rounds(ssh: SshFixture, n: number): Promise<Stats> {
  const conns = await connectMany(ssh, n);
  try {
    const round = () => Promise.all(conns.map((c) => c.exec("load")));
    await round();
    const samples: number[] = [];
    for (let i = 0; i < (ROUNDS[n] ?? 10); i++) {
      const t = performance.now();
      await round();
      samples.push(performance.now() - t);
    }
    return stats(samples);
  } finally {
    for (const c of conns) c.close();
  }
}

export async function measureFanout(work: string, fleet1Dir: string, launcherBundle: string, home: string, ssh: SshFixture): Promise<FanoutRow[]> {
  const rows: FanoutRow[] = [];

  // N = 10, real agents.
  const fleet10 = join(work, "fleet10");
  log("fan-out: starting 10 real hosts (hostward local up --hosts 10)");
  await localUp(fleet10, 10);
  try {
    const mcp = await mcpRounds(fleet10, home, 10);
    const ssh2 = await ssh2Rounds(ssh, 10);
    rows.push({ ...mcp, simulated: "no: 10 hosts × (reader + operator) agent processes", ssh2 });
    log(`fan-out 10: round p50 ${mcp.round.p50} ms (ssh2 ${ssh2.p50} ms), broker peak RSS ${mcp.brokerPeakRssMiB} MiB`);
  } finally {
    await localDown(fleet10);
  }

  for (const [n, processes] of [
    [100, 2],
    [1000, 4],
  ] as const) {
    log(`fan-out: starting ${n} simulated hosts in ${processes} launcher processes`);
    const launchers: Launcher[] = [];
    try {
      for (let i = 0; i < processes; i++) launchers.push(await startLauncher(launcherBundle, fleet1Dir, join(work, `sim${n}`), i, n / processes));
      const hosts: BrokerHost[] = launchers.flatMap((l, li) => l.ports.map((port, pi) => ({ name: `sim${li}-${pi}`, readerPort: port, certName: "local1" })));
      const cfg = join(work, `broker-${n}`);
      writeBrokerConfig(cfg, fleet1Dir, hosts);
      const mcp = await mcpRounds(cfg, home, n);
      const ssh2 = n <= 100 ? await ssh2Rounds(ssh, n) : undefined;
      rows.push({ ...mcp, simulated: `yes: ${processes} processes × ${n / processes} reader servers (agent/src/server code)`, ...(ssh2 && { ssh2 }) });
      log(`fan-out ${n}: cold ${mcp.coldRoundMs} ms, round p50 ${mcp.round.p50} ms${ssh2 ? ` (ssh2 ${ssh2.p50} ms)` : ""}, broker peak RSS ${mcp.brokerPeakRssMiB} MiB`);
    } finally {
      await Promise.all(launchers.map((l) => l.stop()));
    }
  }
  return rows;
}
