// Runs one ActionsService call from inside a network namespace: action-client-main.ts is bundled
// once per scope with esbuild (the generated client and grpc-js in one file), then started as
// `ip netns exec NS node bundle.cjs` with the job on stdin.
import { join } from "node:path";
import { build } from "esbuild";
import { runOk } from "./run";

export interface ActionClientJob {
  address: string;
  port: number;
  certName: string;
  ca: string;
  cert: string;
  key: string;
  method: "restartService" | "reloadService" | "startService" | "flushDnsCache" | "rotateLogs";
  request: Record<string, unknown>;
  deadlineMs?: number;
}

export interface ActionClientEvent {
  /** Milliseconds since the call started, when the event arrived. */
  t: number;
  output?: string;
  result?: { before: unknown; after: unknown; verdict: string; output: string; reason?: string };
  error?: { code: string; details: string };
  end?: true;
}

export interface ActionClient {
  call(ns: string, job: ActionClientJob): Promise<ActionClientEvent[]>;
}

export async function createActionClient(dir: string): Promise<ActionClient> {
  const bundle = join(dir, "action-client.cjs");
  await build({
    entryPoints: [join(import.meta.dirname, "action-client-main.ts")],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    outfile: bundle,
    logLevel: "silent",
  });
  return {
    async call(ns, job) {
      const r = await runOk("ip", ["netns", "exec", ns, process.execPath, bundle], {
        input: JSON.stringify({ deadlineMs: 150_000, ...job }),
        timeoutMs: 180_000,
      });
      return r.stdout
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as ActionClientEvent);
    },
  };
}
