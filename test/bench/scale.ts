// issue 14 part 4: `get_load` on target "*" across 10,000 simulated hosts, through the real broker
// (`hostward serve`, MCP over stdio, the SDK Client), as a summary (`view: "summary"`). The hosts:
// P multi-agent processes (multi-agent.ts: the agent's own reader server code) of N/P reader
// servers each, every server on its own loopback port and its own inventory entry, so the broker
// opens one gRPC channel per host over mutual TLS (all presenting local1's certificate: the
// inventory's certName). The first 1000 hosts also carry tag k1: the same call on `tag:k1` is a
// 1000-host round through the same broker.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startLauncher, writeBrokerConfig, type BrokerHost, type Launcher } from "./fleet";
import { connectBroker, cpuMs, log, procMemory, run, stats, type McpSession, type Stats, type ToolResult } from "./util";

export interface ScaleResult {
  hosts: number;
  processes: number;
  simulated: string;
  /** The broker's fan-out settings in this run. */
  concurrency: number;
  /** Starting the launchers (servers bound), s. */
  launchSeconds: number;
  /** `hostward serve` spawned → MCP initialize answered, with the N-host inventory, ms. */
  brokerStartMs: number;
  /** The first round: the broker opens N channels (N TLS handshakes). */
  coldRoundMs: number;
  coldBrokerCpuMs: number;
  round: Stats;
  /** The broker's CPU time (user + system) per round, and the simulated hosts' processes' together. */
  brokerCpuMs: Stats;
  agentsCpuMs: Stats;
  brokerPeakRssMiB: number;
  brokerRssAfterMiB: number;
  /** JSON bytes of the summary's structured content at N hosts. */
  summaryBytes: number;
  /** The same call on the first 1000 hosts (tag:k1), same broker. */
  at1000: { round: Stats; summaryBytes: number };
  /** The transport's floor on the same hosts (channel-floor.ts): bare grpc-js, no broker. */
  floor?: { coldRoundMs: number; round: Stats; hwmMiB: number; liveHeapMiB: number; externalMiB: number; afterGcRssMiB: number };
}

async function summaryCall(session: McpSession, target: string, n: number): Promise<number> {
  // The first round at 10,000 hosts opens 10,000 channels: past the SDK's default 60 s request timeout.
  const r = (await session.client.callTool({ name: "get_load", arguments: { target, view: "summary" } }, { timeout: 900_000 })) as ToolResult;
  const s = r.structuredContent as { summary?: { ok: number }; fleet?: unknown } | undefined;
  if (r.isError || s?.summary?.ok !== n || s.fleet === undefined) throw new Error(`summary of ${n}: ${JSON.stringify(s ?? r.content).slice(0, 600)}`);
  return Buffer.byteLength(JSON.stringify(r.structuredContent));
}

async function channelFloor(bundle: string, work: string, fleet1Dir: string, ports: number[], rounds: number): Promise<NonNullable<ScaleResult["floor"]>> {
  const spec = join(work, "channel-floor.json");
  const out = join(work, "channel-floor.out.json");
  writeFileSync(spec, JSON.stringify({ ca: join(fleet1Dir, "tls", "ca.crt"), cert: join(fleet1Dir, "tls", "reader.crt"), key: join(fleet1Dir, "tls", "reader.key"), certName: "local1", ports, rounds, concurrency: 32 }));
  await run(process.execPath, ["--expose-gc", bundle, "--spec", spec, "--out", out]);
  const r = JSON.parse(readFileSync(out, "utf8")) as { coldRoundMs: number; rounds: number[]; hwmMiB: number; liveHeapMiB: number; externalMiB: number; afterGcRssMiB: number };
  return { coldRoundMs: r.coldRoundMs, round: stats(r.rounds), hwmMiB: r.hwmMiB, liveHeapMiB: r.liveHeapMiB, externalMiB: r.externalMiB, afterGcRssMiB: r.afterGcRssMiB };
}

export async function measureScale(
  work: string,
  fleet1Dir: string,
  launcherBundle: string,
  home: string,
  opts: { hosts: number; processes: number; rounds: number; brokerNodeArgs?: string[]; channelFloor?: string },
): Promise<ScaleResult> {
  const { hosts: n, processes } = opts;
  const per = Math.ceil(n / processes);
  log(`scale: starting ${n} simulated hosts in ${processes} launcher processes`);
  const launchers: Launcher[] = [];
  try {
    let t = performance.now();
    // Started one after another: each binds its servers on its own; in parallel they only share the 2 cores.
    for (let i = 0; i < processes; i++) launchers.push(await startLauncher(launcherBundle, fleet1Dir, join(work, `scale${n}`), i, Math.min(per, n - i * per)));
    const launchSeconds = Math.round((performance.now() - t) / 100) / 10;
    let k = 0;
    const hosts: BrokerHost[] = launchers.flatMap((l, li) => l.ports.map((port, pi) => ({ name: `sim${li}-${pi}`, readerPort: port, certName: "local1", ...(k++ < 1000 && { tags: ["k1"] }) })));
    const cfg = join(work, `broker-scale-${n}`);
    writeBrokerConfig(cfg, fleet1Dir, hosts);
    const concurrency = 32;
    t = performance.now();
    const session = await connectBroker(cfg, home, opts.brokerNodeArgs);
    let open = true;
    const close = async () => {
      if (open) await session.close();
      open = false;
    };
    const brokerStartMs = Math.round(performance.now() - t);
    log(`scale ${n}: launchers up in ${launchSeconds} s, broker answering in ${brokerStartMs} ms; first round (opens ${n} channels)`);
    try {
      const agentsCpu = () => launchers.reduce((sum, l) => sum + cpuMs(l.pid), 0);
      let c0 = cpuMs(session.pid);
      t = performance.now();
      let summaryBytes = await summaryCall(session, "*", n);
      const coldRoundMs = Math.round(performance.now() - t);
      const coldBrokerCpuMs = cpuMs(session.pid) - c0;
      log(`scale ${n}: first round ${coldRoundMs} ms (broker CPU ${coldBrokerCpuMs} ms), ${summaryBytes} bytes; ${opts.rounds} rounds`);
      await summaryCall(session, "*", n);
      const samples: number[] = [];
      const brokerCpu: number[] = [];
      const agentCpu: number[] = [];
      for (let i = 0; i < opts.rounds; i++) {
        c0 = cpuMs(session.pid);
        const a0 = agentsCpu();
        t = performance.now();
        summaryBytes = await summaryCall(session, "*", n);
        samples.push(performance.now() - t);
        brokerCpu.push(cpuMs(session.pid) - c0);
        agentCpu.push(agentsCpu() - a0);
      }
      const k1: number[] = [];
      let bytes1000 = 0;
      await summaryCall(session, "tag:k1", Math.min(1000, n));
      for (let i = 0; i < opts.rounds; i++) {
        t = performance.now();
        bytes1000 = await summaryCall(session, "tag:k1", Math.min(1000, n));
        k1.push(performance.now() - t);
      }
      const mem = procMemory(session.pid);
      const result: ScaleResult = {
        hosts: n,
        processes,
        simulated: `yes: ${processes} processes × ${per} reader servers (agent/src/server code), one loopback port and one inventory entry each`,
        concurrency,
        launchSeconds,
        brokerStartMs,
        coldRoundMs,
        coldBrokerCpuMs,
        round: stats(samples),
        brokerCpuMs: stats(brokerCpu),
        agentsCpuMs: stats(agentCpu),
        brokerPeakRssMiB: mem.hwm,
        brokerRssAfterMiB: mem.rss,
        summaryBytes,
        at1000: { round: stats(k1), summaryBytes: bytes1000 },
      };
      log(`scale ${n}: round p50 ${result.round.p50} ms (broker CPU p50 ${result.brokerCpuMs.p50} ms), broker peak RSS ${mem.hwm} MiB; 1000 hosts: p50 ${result.at1000.round.p50} ms`);
      await close();
      if (opts.channelFloor) {
        log(`scale ${n}: the transport's floor: a bare grpc-js client with ${n} channels (channel-floor.ts)`);
        result.floor = await channelFloor(opts.channelFloor, work, fleet1Dir, hosts.map((h) => h.readerPort), opts.rounds);
        log(`scale ${n}: floor: first round ${result.floor.coldRoundMs} ms, round p50 ${result.floor.round.p50} ms, peak RSS ${result.floor.hwmMiB} MiB (live heap ${result.floor.liveHeapMiB} MiB)`);
      }
      return result;
    } finally {
      await close();
    }
  } finally {
    await Promise.all(launchers.map((l) => l.stop()));
  }
}
