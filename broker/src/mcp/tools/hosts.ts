// Inventory tools: list_hosts and describe_host. They read the broker's configuration only.
import { z } from "zod";
import type { Broker } from "../../broker";
import { hostLabel, tagLabel, type HostEntry } from "../../config/schema";
import { decide, principalOf } from "../../policy";
import { policyTools } from "../../policy-tools";
import { runLocalTool } from "../local-call";
import type { ToolRegistry } from "../registry";

const READ_ONLY_LOCAL = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };

const hostSchema = z.object({
  name: z.string(),
  address: z.string(),
  ports: z.object({ reader: z.number().int(), operator: z.number().int() }),
  tags: z.array(z.string()),
  certName: z.string().describe("the name the agent's certificate must carry"),
});

function hostView(h: HostEntry): z.output<typeof hostSchema> {
  return { name: h.name, address: h.address, ports: h.ports, tags: [...h.tags], certName: h.certName ?? h.name };
}

const listInput = z.strictObject({ tag: tagLabel.optional().describe("only hosts carrying this tag") });
const listOutput = z.object({ hosts: z.array(hostSchema), count: z.number().int() });

const describeInput = z.strictObject({ name: hostLabel.describe("the host's inventory name (see list_hosts)") });
const describeOutput = z.object({
  host: hostSchema,
  allowedTools: z.array(z.string()).describe("tools policy allows on this host"),
  deniedTools: z.array(z.object({ tool: z.string(), reason: z.string() })).describe("tools policy refuses on this host, and why"),
});

export function registerHostTools(registry: ToolRegistry, broker: Broker): void {
  registry.add({
    name: "list_hosts",
    title: "List hosts",
    description: "The hosts in the broker's inventory (name, address, ports, tags), optionally only those with a tag. Use it to find what `target` can name.",
    input: listInput,
    output: listOutput,
    annotations: READ_ONLY_LOCAL,
    handler: async (raw, call) =>
      runLocalTool(broker, "list_hosts", listInput, raw, call.caller, ({ tag }) => {
        const hosts = broker.config.current.hosts.filter((h) => tag === undefined || h.tags.includes(tag)).map(hostView);
        return { structured: { hosts, count: hosts.length } };
      }),
  });

  registry.add({
    name: "describe_host",
    title: "Describe a host",
    description: "One host's inventory entry and which tools policy allows or refuses on it (with the deciding rule). Nothing is sent to the host.",
    input: describeInput,
    output: describeOutput,
    annotations: READ_ONLY_LOCAL,
    handler: async (raw, call) =>
      runLocalTool(broker, "describe_host", describeInput, raw, call.caller, ({ name }) => {
        const config = broker.config.current;
        const host = config.hosts.find((h) => h.name === name);
        if (!host) return { error: `unknown host "${name}" (not in the inventory; see list_hosts)` };
        const allowedTools: string[] = [];
        const deniedTools: { tool: string; reason: string }[] = [];
        const who = principalOf(config, call.caller);
        for (const tool of policyTools().values()) {
          const d = decide(config.policy, tool, host, who);
          if (d.allowed) allowedTools.push(tool.name);
          else deniedTools.push({ tool: tool.name, reason: d.reason });
        }
        return { structured: { host: hostView(host), allowedTools, deniedTools } };
      }),
  });
}
