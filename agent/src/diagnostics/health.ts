// Host health diagnostics: time synchronisation, pending reboot, the agent itself.
import { healthDiagnostics } from "../../../proto/catalog/diagnostics/health";
import { agentCounters } from "../server/counters";
import type { HandlerMap } from "./context";
import { readRebootRequired } from "./proc/reboot-required";
import { readTimeSync } from "./proc/time-sync";

export const healthHandlers: HandlerMap<typeof healthDiagnostics> = {
  async get_time_sync(_input, ctx) {
    return readTimeSync(ctx.signal);
  },

  async get_reboot_required() {
    return readRebootRequired();
  },

  async get_agent_info(_input, ctx) {
    return {
      version: ctx.agent.version,
      role: ctx.agent.role,
      catalogHash: ctx.agent.catalogHash,
      uptimeSeconds: Math.round((Date.now() - ctx.agent.startedAt) / 1000),
      nodeVersion: process.version,
      pid: process.pid,
    };
  },

  async get_agent_metrics(_input, ctx) {
    const calls = agentCounters.calls();
    return {
      role: ctx.agent.role,
      uptimeSeconds: Math.round((Date.now() - ctx.agent.startedAt) / 1000),
      callsTotal: calls.reduce((n, c) => n + c.count, 0),
      calls,
      refusals: agentCounters.refusals,
      spawns: agentCounters.spawns,
    };
  },
};
