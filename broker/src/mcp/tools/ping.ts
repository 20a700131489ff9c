// ping_hosts: is each host's reader agent up, how fast does it answer, and does it run the same
// catalog as this broker? One gRPC health check plus get_agent_info per host, over the same
// (reused) reader channel the diagnostics use. Subject to policy like any host tool; answers for a
// fleet like the diagnostics (fleet-view.ts: view, page), with the broker's own part added.
import { z } from "zod";
import { getAgentInfo } from "../../../../proto/catalog/diagnostics/health";
import { expiryWarning } from "../../agents/client-cert";
import { callDiagnostic } from "../../agents/diagnostic-call";
import { HostCallError } from "../../agents/errors";
import { deserializeHealthCheckResponse, HEALTH_CHECK_PATH, serializeHealthCheckRequest } from "../../agents/health";
import type { Broker } from "../../broker";
import type { AnswerStore } from "../answers";
import { runFleetTool } from "../fleet-view";
import { fleetResultsSchema } from "../host-results";
import type { ToolRegistry } from "../registry";
import { fleetArguments } from "./diagnostics";

/** The service the reader agent reports SERVING while it accepts diagnostics. */
const READER_SERVICE = "hostward.v1.DiagnosticsService";

const pingInput = z.strictObject(fleetArguments);

const pingData = z.object({
  serving: z.enum(["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"]),
  latencyMs: z.number().describe("round trip of the health check, milliseconds"),
  version: z.string(),
  role: z.string(),
  catalogHash: z.string(),
  catalogMatch: z.boolean().describe("the agent serves the same catalog as this broker"),
  uptimeSeconds: z.number(),
});

const pingOutput = z.object({
  ...fleetResultsSchema(pingData).shape,
  broker: z.object({
    version: z.string(),
    catalogHash: z.string(),
    clientCertificate: z
      .object({
        notAfter: z.string().describe("when the broker's reader client certificate expires (ISO 8601)"),
        warning: z.string().optional().describe("present when it expires soon, has expired or is not valid yet: what to do"),
      })
      .nullable()
      .describe("the broker's own reader client certificate (null: unreadable)"),
  }),
});

export function registerPingTool(registry: ToolRegistry, broker: Broker, answers: AnswerStore): void {
  registry.add({
    name: "ping_hosts",
    title: "Ping hosts",
    description:
      'Checks each selected host\'s reader agent: gRPC health status, round-trip latency, agent version, and whether its catalog hash matches this broker\'s. `target`: a host, "tag:NAME", a comma list, or "*".',
    input: pingInput,
    output: pingOutput,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async handler(rawArgs, call) {
      const answer = await runFleetTool({
        broker,
        answers,
        tool: { name: "ping_hosts", group: "health" },
        def: { name: "ping_hosts", output: pingData },
        schema: pingInput,
        rawArgs,
        caller: call.caller,
        isValidData: (data) => pingData.safeParse(data).success,
        work: async (host, _args, ctx) => {
          const started = performance.now();
          const health = await broker.pool.unary(
            host,
            "reader",
            { path: HEALTH_CHECK_PATH, requestSerialize: serializeHealthCheckRequest, responseDeserialize: deserializeHealthCheckResponse },
            { service: READER_SERVICE },
            ctx.timeoutMs,
          );
          const latencyMs = Math.round((performance.now() - started) * 10) / 10;
          if (health.status !== "SERVING") throw new HostCallError("UNAVAILABLE", `${host.name}: the reader agent reports ${health.status}`);
          const remaining = Math.max(100, ctx.timeoutMs - (performance.now() - started));
          const info = (await callDiagnostic({ pool: broker.pool, host, def: getAgentInfo, input: {}, timeoutMs: remaining, callId: ctx.callId })) as z.output<
            typeof getAgentInfo.output
          >;
          return {
            serving: health.status,
            latencyMs,
            version: info.version,
            role: info.role,
            catalogHash: info.catalogHash,
            catalogMatch: info.catalogHash === broker.catalogHash,
            uptimeSeconds: info.uptimeSeconds,
          };
        },
      });
      if ("error" in answer) return answer;
      const cert = broker.pool.clientCertificate("reader");
      const warning = expiryWarning(cert);
      const clientCertificate = cert ? { notAfter: cert.notAfter.toISOString(), ...(warning && { warning }) } : null;
      return { structured: { ...answer.structured, broker: { version: broker.version, catalogHash: broker.catalogHash, clientCertificate } } };
    },
  });
}
