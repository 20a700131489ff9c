// Host health diagnostics.
import { z } from "zod";
import { defineDiagnostic } from "../define";

export const getAgentInfo = defineDiagnostic({
  name: "get_agent_info",
  group: "health",
  title: "Agent information",
  summary:
    "The hostward agent's version, role, catalog hash and uptime on this host. Use it to check that a host runs the expected agent build.",
  input: z.strictObject({}),
  output: z.object({
    version: z.string(),
    role: z.enum(["reader", "operator"]),
    catalogHash: z.string().describe("SHA-256 of the catalog this agent serves; equal on broker and agent when they match"),
    uptimeSeconds: z.number(),
    nodeVersion: z.string(),
    pid: z.number().int(),
  }),
  limits: ["No arguments; constant-size reply."],
  examples: [{ description: "Which agent build is running", input: {} }],
});

// TODO(helper): get_time_sync, get_reboot_required
export const healthDiagnostics = [getAgentInfo] as const;
