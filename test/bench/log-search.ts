// Item 4: search_logs over a generated 1 GiB log file against `grep -F` and `rg -F` on the same
// file, page cache warm for all of them. The agent is a fresh hostward-reader whose log root is
// the generated file's directory (logs.maxScanBytes: its 1 GiB default); it is called over gRPC
// directly (the broker adds a constant few milliseconds to a multi-second call). Its VmHWM after
// the searches is its peak RSS while searching. The file is deleted afterwards.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { callDiagnostic, clientFor, fleetTls } from "./grpc";
import { NEEDLE, writeLogFile } from "./log-file";
import { AGENT_BUNDLE, log, procMemory, run, stopChild, timeRuns, track, waitForFile, type ProcMemory, type Stats } from "./util";

export const LOG_BYTES = 1024 ** 3;
const RUNS = 5;

export interface SearchRow {
  tool: string;
  command: string;
  time: Stats;
  /** Megabytes (10^6 bytes) per second at the p50 time. */
  mbPerSecond: number;
}

export interface LogSearchResult {
  fileBytes: number;
  lines: number;
  matches: number;
  rows: SearchRow[];
  agentBefore: ProcMemory;
  agentAfter: ProcMemory;
}

const mbps = (bytes: number, ms: number) => Math.round(bytes / 1e6 / (ms / 1000));

export async function measureLogSearch(fleetDir: string, work: string): Promise<LogSearchResult> {
  const dir = mkdtempSync("/tmp/hwbench-logs-");
  const file = join(dir, "big.log");
  try {
    log("log search: generating 1 GiB of log lines");
    const gen = writeLogFile(file, LOG_BYTES);
    // Warm the page cache (24 GiB of RAM here): every tool then reads from memory.
    await run("grep", ["-c", "-F", "--", NEEDLE, file]);

    const tls = fleetTls(fleetDir);
    mkdirSync(work, { recursive: true });
    const config = join(work, "search-agent.yaml");
    writeFileSync(config, JSON.stringify({ listen: { host: "127.0.0.1", port: 0 }, tls: { ca: tls.ca, cert: tls.agentCert, key: tls.agentKey }, logs: { roots: [dir] } }));
    const ready = join(work, "search-agent.ready.json");
    rmSync(ready, { force: true });
    const agent = track(spawn(process.execPath, [AGENT_BUNDLE("reader"), "--config", config, "--ready-file", ready], { stdio: ["ignore", "ignore", "inherit"] }));
    await waitForFile(ready, 15_000, agent);
    const client = clientFor(tls, (JSON.parse(readFileSync(ready, "utf8")) as { port: number }).port);
    try {
      const agentBefore = procMemory(agent.pid!);
      const expect = (what: string, got: number) => {
        if (got !== gen.needles) throw new Error(`${what} found ${got} matches, expected ${gen.needles}`);
      };
      const rows: SearchRow[] = [];
      const shell = async (tool: string, args: string[]) => {
        const time = await timeRuns(RUNS, 1, async () => {
          const { stdout } = await run(tool === "grep -F" || tool === "grep -nF" ? "grep" : "rg", args);
          expect(tool, stdout.split("\n").filter(Boolean).length);
        });
        rows.push({ tool, command: `${tool.split(" ")[0]} ${args.join(" ")}`, time, mbPerSecond: mbps(gen.bytes, time.p50) });
      };
      await shell("grep -F", ["-F", "--", NEEDLE, file]);
      await shell("grep -nF", ["-n", "-F", "--", NEEDLE, file]);
      await shell("rg -F", ["--no-config", "-F", "--", NEEDLE, file]);
      await shell("rg -nF", ["--no-config", "-n", "-F", "--", NEEDLE, file]);
      const time = await timeRuns(RUNS, 1, async () => {
        const r = (await callDiagnostic(client, "searchLogs", { path: file, pattern: NEEDLE, mode: "literal", maxMatches: 100 }, 300_000)) as {
          matches: unknown[];
          bytesScanned: number;
          truncated: boolean;
        };
        expect("search_logs", r.matches.length);
        if (r.bytesScanned !== gen.bytes || r.truncated) throw new Error(`search_logs scanned ${r.bytesScanned} of ${gen.bytes} bytes (truncated ${r.truncated})`);
      });
      rows.push({ tool: "search_logs", command: "hostward-reader DiagnosticsService/SearchLogs, literal, over gRPC+mTLS", time, mbPerSecond: mbps(gen.bytes, time.p50) });
      const agentAfter = procMemory(agent.pid!);
      for (const r of rows) log(`log search ${r.tool}: p50 ${r.time.p50} ms, ${r.mbPerSecond} MB/s`);
      log(`log search: agent RSS ${agentBefore.rss} MiB before, peak ${agentAfter.hwm} MiB`);
      return { fileBytes: gen.bytes, lines: gen.lines, matches: gen.needles, rows, agentBefore, agentAfter };
    } finally {
      client.close();
      await stopChild(agent);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
