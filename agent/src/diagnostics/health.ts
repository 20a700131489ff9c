// Host health diagnostics.
import { healthDiagnostics } from "../../../proto/catalog/diagnostics/health";
import type { HandlerMap } from "./context";

export const healthHandlers: HandlerMap<typeof healthDiagnostics> = {
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
};
