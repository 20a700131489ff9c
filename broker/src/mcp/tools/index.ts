// Every MCP tool the broker serves, in the order tools/list shows them.
import type { Broker } from "../../broker";
import { ToolRegistry } from "../registry";
import type { ToolSpec } from "../sdk";
import { registerActionTools } from "./actions";
import { registerDiagnosticTools } from "./diagnostics";
import { registerHostTools } from "./hosts";
import { registerPingTool } from "./ping";
import { registerPlanTool } from "./plan";
import { registerReloadTool } from "./reload";
import { registerRolloutTools } from "./rollouts";

export function allTools(broker: Broker): ToolSpec[] {
  const registry = new ToolRegistry();
  registerHostTools(registry, broker);
  registerPingTool(registry, broker);
  registerPlanTool(registry, broker);
  registerDiagnosticTools(registry, broker);
  registerActionTools(registry, broker);
  registerRolloutTools(registry, broker);
  registerReloadTool(registry, broker);
  return registry.tools;
}
