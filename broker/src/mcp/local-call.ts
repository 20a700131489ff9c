// The path of a broker-local tool (it reads the broker's own configuration and state; get_action
// and list_actions may also ask a host for its record of an action): arguments validated (refusal
// audited), the call audited with its outcome, then answered.
import { randomUUID } from "node:crypto";
import type { z } from "zod";
import type { Broker } from "../broker";
import type { CallerIdentity } from "../audit/records";
import { auditArgs } from "./arguments";
import { RESULT_LOCK_WAIT_MS } from "../audit/log";
import { auditCode, validateOrRefuse } from "./host-call";
import type { ToolOutcome } from "./sdk";

export async function runLocalTool<A>(
  broker: Broker,
  tool: string,
  schema: z.ZodType<A>,
  rawArgs: unknown,
  caller: CallerIdentity,
  answer: (args: A) => ToolOutcome | Promise<ToolOutcome>,
  /** More fields for the call's audit record, read once the answer is computed. */
  auditFields?: () => Record<string, unknown>,
): Promise<ToolOutcome> {
  const callId = randomUUID();
  const valid = await validateOrRefuse(broker, tool, schema, rawArgs, caller, callId);
  if (!valid.ok) return valid.outcome;
  const outcome = await answer(valid.args);
  try {
    await broker.audit.appendWaiting(RESULT_LOCK_WAIT_MS, {
      event: "tool.call",
      callId,
      caller,
      tool,
      local: true,
      ...auditArgs(valid.args),
      outcome: "error" in outcome ? "ERROR" : "OK",
      ...("error" in outcome ? { message: outcome.error } : {}),
      ...auditFields?.(),
    });
  } catch (err) {
    // The answer was computed (get_action may have asked a host for its record): say so.
    broker.logger.error({ err: (err as Error).message }, "audit write failed");
    return { error: `(${auditCode(err)}) the call's audit record could not be written, so its answer is withheld: ${(err as Error).message}` };
  }
  return outcome;
}
