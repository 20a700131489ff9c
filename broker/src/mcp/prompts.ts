// Runbooks (proto/catalog/runbooks) as MCP prompts: prompts/list shows each with its arguments;
// prompts/get validates the arguments (the runbook's own grammar, then that every host or target
// named is one the caller may diagnose), audits the get (event prompt.get, with its outcome) and
// returns the runbook's text for those arguments. A prompt runs nothing: it tells the model which
// tools to call and which typed repairs to propose.
import { parseRunbookArgs, renderRunbook, type RunbookDef } from "../../../proto/catalog/runbooks/define";
import { runbooks } from "../../../proto/catalog/runbooks/index";
import { RESULT_LOCK_WAIT_MS } from "../audit/log";
import type { Broker } from "../broker";
import type { CallerIdentity } from "../audit/records";
import { resolveTargets } from "../targets";
import { auditArgs } from "./arguments";
import { auditCode } from "./host-call";
import type { PromptSpec, RequestContext } from "./sdk";
import { hostRefusal, visibleHosts } from "./visibility";
import { randomUUID } from "node:crypto";

type Got = { description: string; text: string } | { error: string };

function stringArgs(raw: unknown): Record<string, string> | string {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== "object" || Array.isArray(raw)) return "arguments: must be an object of strings";
  for (const [k, v] of Object.entries(raw)) if (typeof v !== "string") return `${k}: must be a string`;
  return raw as Record<string, string>;
}

/** Why a host or target argument names something the caller may not see, or undefined. */
function visibilityProblem(broker: Broker, def: RunbookDef, args: Record<string, string>, caller: CallerIdentity): string | undefined {
  const config = broker.config.current;
  for (const arg of def.arguments) {
    const value = args[arg.name];
    if (value === undefined) continue;
    if (arg.kind === "host") {
      const refused = hostRefusal(config, value, caller);
      if (refused) return `${arg.name}: ${refused}`;
    } else if (arg.kind === "target") {
      const resolved = resolveTargets(value, visibleHosts(config, caller));
      if (!resolved.ok) return `${arg.name}: ${resolved.error}`;
    }
  }
  return undefined;
}

export function runbookPrompts(broker: Broker): PromptSpec[] {
  const get = async (def: RunbookDef, raw: unknown, call: RequestContext): Promise<Got> => {
    const callId = randomUUID();
    let got: Got;
    const given = stringArgs(raw);
    if (typeof given === "string") got = { error: given };
    else {
      const parsed = parseRunbookArgs(def, given);
      if (!parsed.ok) got = { error: `prompt ${def.name}: ${parsed.problems.join("; ")}` };
      else {
        const hidden = visibilityProblem(broker, def, parsed.args, call.caller);
        got = hidden ? { error: `prompt ${def.name}: ${hidden}` } : { description: `${def.title}: ${def.description}`, text: renderRunbook(def, parsed.args) };
      }
    }
    try {
      await broker.audit.appendWaiting(RESULT_LOCK_WAIT_MS, {
        event: "prompt.get",
        callId,
        caller: call.caller,
        prompt: def.name,
        ...auditArgs(typeof given === "string" ? raw : given),
        outcome: "error" in got ? "REFUSED" : "OK",
        ...("error" in got && { message: got.error }),
      });
    } catch (err) {
      broker.logger.error({ err: (err as Error).message }, "audit write failed");
      return { error: `(${auditCode(err)}) the prompt's audit record could not be written, so it is withheld: ${(err as Error).message}` };
    }
    return got;
  };
  return runbooks.map((def) => ({
    name: def.name,
    title: def.title,
    description: def.description,
    arguments: def.arguments.map((a) => ({ name: a.name, description: a.description, required: a.required })),
    get: (raw, call) => get(def, raw, call),
  }));
}
