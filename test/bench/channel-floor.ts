// Bench only: the transport's floor at N hosts — a bare grpc-js client process (no MCP, policy,
// audit, reply validation or summary) that opens one channel per host with the broker's channel
// options and mutual TLS (the broker's reader client certificate), and calls
// DiagnosticsService/GetLoad on every host, `concurrency` at a time as the broker's fan-out does.
// Reports the first round (opening the channels), later rounds, and its memory: what N grpc-js
// channels cost in this process before hostward adds anything.
//
//   node --expose-gc channel-floor.cjs --spec FILE --out FILE
//   spec: {"ca","cert","key","certName","ports":[…],"rounds","concurrency"}
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { setFlagsFromString } from "node:v8";
import * as grpc from "@grpc/grpc-js";
import { DiagnosticsServiceService } from "../../proto/gen/hostward/v1/diagnostics";

interface Spec {
  ca: string;
  cert: string;
  key: string;
  certName: string;
  ports: number[];
  rounds: number;
  concurrency: number;
}

const mib = (b: number) => Math.round((b / 1024 / 1024) * 10) / 10;

function status(): { rss: number; hwm: number } {
  const text = readFileSync("/proc/self/status", "utf8");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN) / 1024;
  return { rss: Math.round(kb("VmRSS") * 10) / 10, hwm: Math.round(kb("VmHWM") * 10) / 10 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { spec: { type: "string" }, out: { type: "string" } }, strict: true });
  const spec = JSON.parse(readFileSync(values.spec!, "utf8")) as Spec;
  // The broker's own heap setting (broker/src/commands/serve.ts), for a like-for-like heap.
  setFlagsFromString("--heap-growing-percent=50");
  const method = (DiagnosticsServiceService as unknown as Record<string, grpc.MethodDefinition<Record<string, unknown>, { json: string }>>).getLoad!;
  const request = method.requestDeserialize(Buffer.alloc(0));
  const creds = grpc.credentials.createSsl(readFileSync(spec.ca), readFileSync(spec.key), readFileSync(spec.cert));
  const clients = spec.ports.map(
    (port) =>
      new grpc.Client(`127.0.0.1:${port}`, creds, {
        "grpc.ssl_target_name_override": spec.certName,
        "grpc.default_authority": spec.certName,
        "grpc.keepalive_time_ms": 30_000,
        "grpc.keepalive_timeout_ms": 10_000,
        "grpc.keepalive_permit_without_calls": 0,
        "grpc.initial_reconnect_backoff_ms": 500,
        "grpc.max_reconnect_backoff_ms": 5_000,
        "grpc.enable_retries": 0,
        "grpc.enable_channelz": 0,
      }),
  );
  const call = (c: grpc.Client) =>
    new Promise<void>((resolve, reject) =>
      c.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err, reply) => {
        if (err) reject(err);
        else {
          JSON.parse(reply!.json);
          resolve();
        }
      }),
    );
  const round = async () => {
    let next = 0;
    let failed = 0;
    const runner = async () => {
      while (next < clients.length) {
        const c = clients[next++]!;
        await call(c).catch(() => failed++);
      }
    };
    await Promise.all(Array.from({ length: spec.concurrency }, runner));
    if (failed > 0) throw new Error(`${failed} of ${clients.length} calls failed`);
  };
  let t = performance.now();
  await round();
  const coldRoundMs = Math.round(performance.now() - t);
  await round();
  const rounds: number[] = [];
  for (let i = 0; i < spec.rounds; i++) {
    t = performance.now();
    await round();
    rounds.push(Math.round(performance.now() - t));
  }
  const peak = status();
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  writeFileSync(values.out!, JSON.stringify({ coldRoundMs, rounds, hwmMiB: peak.hwm, rssMiB: peak.rss, liveHeapMiB: mib(m.heapUsed), externalMiB: mib(m.external), afterGcRssMiB: status().rss }));
  for (const c of clients) c.close();
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`channel-floor: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
