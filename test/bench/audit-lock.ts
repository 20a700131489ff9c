// The audit log under contention: N writer processes on one state directory, each appending a
// call's records the way the broker does (call + decision deferred, result lazy, ~1 ms of "host
// work" between), for a fixed time. Measured per append: the time until it was written — the wait
// for the kernel lock included (broker/src/audit/log.ts); counted: appends refused AUDIT_BUSY; then
// the chain is verified (a fork or a shared seq fails it). The baseline is N = 1 in the same run.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AuditBusyError, AuditLog } from "../../broker/src/audit/log";
import { verifyAuditFile } from "../../broker/src/audit/verify";
import { log, stats, type Stats } from "./util";

export const WRITER_FLAG = "--audit-writer";
const DURATION_MS = 8_000;
const WRITERS = [1, 8, 20] as const;

export interface AuditLockRow {
  writers: number;
  appends: number;
  /** Time to written (lock wait + write), ms. */
  written: Stats;
  busy: number;
  records: number;
  chainOk: boolean;
  sharedSeq: number;
}
export interface AuditLockResult {
  durationMs: number;
  rows: AuditLockRow[];
}

/** One writer process: appends for `durationMs`, prints {lat (ms), busy} as JSON. */
export async function auditWriter(file: string, durationMs: number): Promise<void> {
  const audit = new AuditLog(file).open();
  const lat: number[] = [];
  let busy = 0;
  const until = Date.now() + durationMs;
  let n = 0;
  while (Date.now() < until) {
    n += 1;
    const callId = `${process.pid}-${n}`;
    try {
      let t0 = performance.now();
      const call = await audit.appendDeferred({ event: "tool.call", callId, tool: "get_load", target: "web1" }, { event: "policy.decision", callId, host: "web1", decision: "allow" });
      lat.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 1));
      t0 = performance.now();
      const result = await audit.appendLazy({ event: "tool.result", callId, summary: { hosts: 1, ok: 1 } });
      lat.push(performance.now() - t0);
      await Promise.all([call.durable, result.durable]);
    } catch (err) {
      if (err instanceof AuditBusyError) busy += 1;
      else throw err;
    }
  }
  await audit.close();
  process.stdout.write(JSON.stringify({ lat, busy }));
}

function runWriter(self: string, file: string): Promise<{ lat: number[]; busy: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [self, WRITER_FLAG, file, String(DURATION_MS)], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out) as { lat: number[]; busy: number }) : reject(new Error(`audit writer exited ${code}`))));
  });
}

export async function measureAuditLock(dir: string): Promise<AuditLockResult> {
  const self = process.argv[1]!;
  const rows: AuditLockRow[] = [];
  for (const writers of WRITERS) {
    const file = join(dir, `w${writers}`, "audit.jsonl");
    mkdirSync(join(dir, `w${writers}`), { recursive: true });
    log(`audit lock: ${writers} writer process(es) for ${DURATION_MS / 1000} s`);
    const outs = await Promise.all(Array.from({ length: writers }, () => runWriter(self, file)));
    const lat = outs.flatMap((o) => o.lat);
    const verdict = verifyAuditFile(file);
    const seqs = readFileSync(file, "utf8").trimEnd().split("\n").map((l) => (JSON.parse(l) as { seq: number }).seq);
    rows.push({
      writers,
      appends: lat.length,
      written: stats(lat),
      busy: outs.reduce((s, o) => s + o.busy, 0),
      records: verdict.records,
      chainOk: verdict.ok,
      sharedSeq: seqs.length - new Set(seqs).size,
    });
  }
  return { durationMs: DURATION_MS, rows };
}
