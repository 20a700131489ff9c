// The agent's log: pino JSON lines on stdout, collected by journald. No transports (they need
// worker files, and the agent ships as one bundle). One "rpc" line per call, refusals included;
// argument values are never logged, only their digest.
import { pino, type Logger } from "pino";
import { digestJson } from "../../proto/catalog/hash";

export type { Logger };
export type Role = "reader" | "operator";

/** Who called, as far as the verified certificate says (null parts when it could not say). */
export interface CallerLog {
  fingerprint: string | null;
  cn: string | null;
  role: string | null;
}

/** The fields of the one line logged per RPC (contract 1). */
export interface RpcLogLine {
  method: string;
  service: string;
  caller: CallerLog;
  argDigest: string | null;
  outcome: string;
  spawns: number;
  durationMs: number;
  /** The broker's call id (metadata x-hostward-call-id): matches this line to its audit records. */
  callId?: string;
  error?: string;
}

export function createLogger(opts: { role: Role; destination?: NodeJS.WritableStream }): Logger {
  return pino(
    {
      base: { role: opts.role, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Levels as words: a journal reader should not need pino's number table.
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

export function logRpc(logger: Logger, line: RpcLogLine): void {
  const level = line.outcome === "OK" ? "info" : line.outcome === "INTERNAL" || line.outcome === "UNKNOWN" ? "error" : "warn";
  logger[level](line, "rpc");
}

/** "sha256:…" of the canonical JSON of a request: lets an auditor match calls without the values. */
export function argDigest(request: unknown): string {
  return digestJson(request);
}
