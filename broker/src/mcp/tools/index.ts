// Every MCP tool the broker serves, in the order tools/list shows them.
import type { Broker } from "../../broker";
import { AnswerStore } from "../answers";
import { ToolRegistry } from "../registry";
import { brokerChangeFeed } from "../changes";
import { brokerCompletion } from "../completion";
import { runbookPrompts } from "../prompts";
import { brokerResources } from "../resources";
import type { McpSurface, ToolSpec } from "../sdk";
import { registerActionTools } from "./actions";
import { registerCompareTool } from "./compare";
import { registerDiagnosticTools } from "./diagnostics";
import { registerHostTools } from "./hosts";
import { registerPingTool } from "./ping";
import { registerPlanTool } from "./plan";
import { registerReloadTool } from "./reload";
import { registerRolloutTools } from "./rollouts";

export function allTools(broker: Broker): ToolSpec[] {
  const registry = new ToolRegistry();
  // The per-host results behind summary answers, for their page cursors: one store per process.
  const answers = new AnswerStore();
  registerHostTools(registry, broker);
  registerPingTool(registry, broker, answers);
  registerPlanTool(registry, broker);
  registerDiagnosticTools(registry, broker, answers);
  registerCompareTool(registry, broker);
  registerActionTools(registry, broker);
  registerRolloutTools(registry, broker);
  registerReloadTool(registry, broker);
  return registry.tools.map((spec) => counted(spec, broker));
}

/** Every call of the tool counted by outcome (metrics.ts: hostward_tool_invocations_total). */
function counted(spec: ToolSpec, broker: Broker): ToolSpec {
  const handler = spec.handler.bind(spec);
  return {
    ...spec,
    handler: async (rawArgs, call) => {
      try {
        const outcome = await handler(rawArgs, call);
        broker.metrics.toolCalls.inc({ tool: spec.name, outcome: "ask" in outcome ? "ask" : "error" in outcome ? "error" : "ok" });
        return outcome;
      } catch (err) {
        broker.metrics.toolCalls.inc({ tool: spec.name, outcome: "error" });
        throw err;
      }
    },
  };
}

/** Everything the broker serves over MCP: its tools, the runbooks as prompts, the fleet as resources. */
export function brokerSurface(broker: Broker): McpSurface {
  const { resources, templates, uiResources } = brokerResources(broker);
  return { tools: allTools(broker), prompts: runbookPrompts(broker), resources, templates, uiResources, complete: brokerCompletion(broker), changes: brokerChangeFeed(broker) };
}
