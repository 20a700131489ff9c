// The roll-out engine's world, for real: each host's part runs on its operator agent
// (ActionsService, mTLS), each gate is a catalog diagnostic on its reader agent, and a lost
// outcome is asked of the host's helper ledger (ActionRecordsService). The inventory and the
// policy are read again for each host as its batch runs: a host removed from the inventory, or
// one the policy no longer allows, fails without being contacted.
import type { z } from "zod";
import type { DiagnosticDef } from "../../../proto/catalog/define";
import { findAction } from "../../../proto/catalog/actions/index";
import { diagnostics } from "../../../proto/catalog/diagnostics/index";
import { callDiagnostic } from "../agents/diagnostic-call";
import { expectedCertName } from "../agents/channels";
import { HostCallError } from "../agents/errors";
import { executeOnHost } from "../actions/executor";
import { fetchHostRecord } from "../actions/host-record";
import type { Broker } from "../broker";
import { decide, type Principal } from "../policy";
import type { RolloutWorld } from "./engine";
import type { PlanHost, RolloutRecord } from "./record";

type AnyDiagnostic = DiagnosticDef<string, z.ZodObject, z.ZodType>;

export function brokerWorld(broker: Broker, r: Pick<RolloutRecord, "action">, callId: string, who: Principal, progress: (line: string) => void): RolloutWorld {
  const def = findAction(r.action);
  if (!def) throw new Error(`this broker's catalog has no action ${r.action}`);
  const hostOf = (h: PlanHost) => {
    const host = broker.config.current.hosts.find((x) => x.name === h.host);
    if (!host) throw new HostCallError("NOT_FOUND", `${h.host} is no longer in the inventory`);
    if (expectedCertName(host) !== h.hostIdentity) throw new HostCallError("PERMISSION_DENIED", `${h.host}'s certificate name changed since the proposal (${h.hostIdentity} → ${expectedCertName(host)})`);
    return host;
  };
  return {
    async execute(h, approval, onOutput) {
      const host = hostOf(h);
      // The part's own action: the plan's, or for an undo part the plan's signed rollback (its inverse).
      const part = approval.action === def.name ? def : approval.action === def.inverse ? findAction(def.inverse) : undefined;
      if (!part) throw new HostCallError("INVALID_ARGUMENT", `the part of ${h.host} names ${approval.action}, neither ${def.name} nor its inverse`);
      const decision = decide(broker.config.current.policy, { name: part.name, group: "actions" }, host, who);
      if (!decision.allowed) throw new HostCallError("POLICY_DENIED", `policy no longer allows ${part.name}: ${decision.reason}`);
      return executeOnHost({ pool: broker.pool, host, def: part, request: { id: approval.requestId, params: JSON.parse(approval.parametersJson) as Record<string, unknown>, approval }, callId, onOutput: (line) => onOutput(line) });
    },
    async diagnose(h, gate) {
      const host = hostOf(h);
      const d = (diagnostics as readonly AnyDiagnostic[]).find((x) => x.name === gate.diagnostic);
      if (!d) throw new HostCallError("NOT_FOUND", `no diagnostic ${gate.diagnostic}`);
      const input = d.input.parse(gate.input);
      return callDiagnostic({ pool: broker.pool, host, def: d, input, timeoutMs: broker.config.current.settings.fanout.hostTimeoutMs, callId });
    },
    hostRecord: (h, requestId) => fetchHostRecord(broker.pool, hostOf(h), requestId),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    progress,
    concurrency: broker.config.current.settings.fanout.concurrency,
  };
}
