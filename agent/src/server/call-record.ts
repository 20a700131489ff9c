// What the interceptor learns about a call from the handler it wraps (argument digest, processes
// spawned, internal error detail) for the one log line per RPC. The interceptor runs the handler
// inside callRecord.run(), so handlers reach their record through AsyncLocalStorage.
import { AsyncLocalStorage } from "node:async_hooks";

export interface CallRecord {
  /** The caller's certificate fingerprint (per-client limits count by it); null without one. */
  client: string | null;
  argDigest: string | null;
  spawns: number;
  /** Detail for the log only (an INTERNAL error's cause, a refusal's reason). */
  error?: string;
}

export const callRecord = new AsyncLocalStorage<CallRecord>();
