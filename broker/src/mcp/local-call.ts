// The path of a broker-local tool (it reads only the broker's own configuration): arguments
// validated (refusal audited), the call audited with its outcome, then answered.
import { randomUUID } from "node:crypto";
import type { z } from "zod";
import type { Broker } from "../broker";
import type { CallerIdentity } from "../audit/records";
import { auditArgs } from "./arguments";
import { tryAudit, validateOrRefuse } from "./host-call";
import type { ToolOutcome } from "./sdk";

export async function runLocalTool<A>(
  broker: Broker,
  tool: string,
  schema: z.ZodType<A>,
  rawArgs: unknown,
  caller: CallerIdentity,
  answer: (args: A) => ToolOutcome | Promise<ToolOutcome>,
): Promise<ToolOutcome> {
  const callId = randomUUID();
  const valid = await validateOrRefuse(broker, tool, schema, rawArgs, caller, callId);
  if (!valid.ok) return valid.outcome;
  const outcome = await answer(valid.args);
  const failed = await tryAudit(broker, {
    event: "tool.call",
    callId,
    caller,
    tool,
    local: true,
    ...auditArgs(valid.args),
    outcome: "error" in outcome ? "ERROR" : "OK",
    ...("error" in outcome ? { message: outcome.error } : {}),
  });
  return failed ?? outcome;
}
