// issue 13 part 5: what tools/list costs. Its size (bytes of the result JSON, by part) and how long
// a FRESH broker takes to answer its first tools/list, over RUNS processes of `hostward serve` on
// the local fleet's configuration, driven with raw JSON-RPC lines on stdio (no client-side schema
// compilation in the figure). Baselines in the same run, on the same processes: the first `ping`
// request (the protocol floor of a fresh process) and a second, warm tools/list.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { BROKER_BUNDLE, stats, stopChild, track, type Stats } from "./util";

export const RUNS = 21;

export interface ToolListResult {
  tools: number;
  bytes: number;
  /** Bytes of each part of the result summed over the tools (JSON of the value plus its key). */
  parts: Record<string, number>;
  /** Spawn → the first tools/list answered (process start, config, tool registration included). */
  startToList: Stats;
  /** The first tools/list of each fresh process, from writing the request to reading the answer. */
  first: Stats;
  /** The first request of each fresh process, a `ping`: the floor of a request there. */
  firstPing: Stats;
  /** A second tools/list in the same process. */
  warm: Stats;
}

interface OneRun {
  startToList: number;
  first: number;
  firstPing: number;
  warm: number;
  result: { tools: Array<Record<string, unknown>> };
}

function once(configDir: string, home: string): Promise<OneRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = track(
      spawn(process.execPath, [BROKER_BUNDLE, "serve", "--config", configDir], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, XDG_STATE_HOME: join(home, "state"), XDG_CONFIG_HOME: join(home, "config") },
        stdio: ["pipe", "pipe", "pipe"],
      }),
    );
    let stderr = "";
    child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    const send = (m: unknown) => {
      sent = performance.now();
      child.stdin!.write(`${JSON.stringify(m)}\n`);
    };
    let sent = 0;
    let buf = "";
    const got: Partial<OneRun> = {};
    child.stdout!.on("data", (c: Buffer) => {
      buf += c.toString();
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const at = performance.now();
        const msg = JSON.parse(line) as { id?: number; result?: unknown; error?: unknown };
        if (msg.error) reject(new Error(`request ${msg.id} failed: ${JSON.stringify(msg.error)}`));
        if (msg.id === 1) {
          child.stdin!.write(`${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`);
          send({ jsonrpc: "2.0", id: 2, method: "ping" });
        } else if (msg.id === 2) {
          got.firstPing = at - sent;
          send({ jsonrpc: "2.0", id: 3, method: "tools/list" });
        } else if (msg.id === 3) {
          got.first = at - sent;
          got.startToList = at - t0;
          got.result = msg.result as OneRun["result"];
          send({ jsonrpc: "2.0", id: 4, method: "tools/list" });
        } else if (msg.id === 4) {
          got.warm = at - sent;
          void stopChild(child).then(() => resolve(got as OneRun));
        }
      }
    });
    child.on("exit", (code) => {
      if (got.warm === undefined) reject(new Error(`the broker exited (${code}) before answering: ${stderr.slice(-2000)}`));
    });
    send({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "hostward-bench", version: "0" } } });
  });
}

export async function measureToolList(configDir: string, home: string): Promise<ToolListResult> {
  const runs: OneRun[] = [];
  // One unmeasured process first: the page cache holds the bundle for every measured one alike.
  await once(configDir, home);
  for (let i = 0; i < RUNS; i++) runs.push(await once(configDir, home));
  const result = runs[0]!.result;
  const parts: Record<string, number> = {};
  for (const tool of result.tools) {
    for (const [key, value] of Object.entries(tool)) parts[key] = (parts[key] ?? 0) + Buffer.byteLength(JSON.stringify(value)) + key.length + 3;
  }
  return {
    tools: result.tools.length,
    bytes: Buffer.byteLength(JSON.stringify(result)),
    parts,
    startToList: stats(runs.map((r) => r.startToList)),
    first: stats(runs.map((r) => r.first)),
    firstPing: stats(runs.map((r) => r.firstPing)),
    warm: stats(runs.map((r) => r.warm)),
  };
}
