// propose_action's arguments: {target, request: {action: NAME, ...that action's parameters}, reason}.
//
// `request` is a union discriminated on `action`, one strict branch per catalog action, so the
// advertised JSON Schema shows every action's own parameters (their types, bounds, patterns,
// defaults and an example) and arguments written from the schema alone validate. It is nested,
// not the tool's whole input: several MCP clients (Claude's API among them) refuse a tool whose
// input schema has oneOf/anyOf at the top level. Generic over the catalog: a new action is a new
// branch, and a new entry in tool-schemas.gen.ts once `npm run gen` has run.
import { z } from "zod";
import { actions } from "../../../../proto/catalog/actions/index";
import type { ActionDef } from "../../../../proto/catalog/define-action";
import { hostLabel } from "../../config/schema";

/** One action's branch; typed by its discriminator only (the parameters are re-parsed with def.params). */
type RequestBranch = z.ZodObject<{ action: z.ZodLiteral<string> }, z.core.$strict>;

function requestBranch(def: ActionDef): RequestBranch {
  if ("action" in def.params.shape) throw new Error(`action ${def.name} has a parameter named "action", the name propose_action's request gives the action itself`);
  const example = def.examples[0];
  return z
    .strictObject({ action: z.literal(def.name) })
    .extend(def.params.shape)
    .meta({ description: `${def.impact} impact. ${def.summary}`, ...(example && { examples: [{ action: def.name, ...example.params }] }) }) as unknown as RequestBranch;
}

const branches = (actions as readonly ActionDef[]).map(requestBranch);

const proposeRequest = z.discriminatedUnion("action", branches as [RequestBranch, ...RequestBranch[]]);

export const proposeInput = z.strictObject({
  target: hostLabel.describe("the ONE host to act on (an inventory name; no tags, lists or *)"),
  request: proposeRequest.describe('the action and its own parameters side by side: {"action": "restart_service", "unit": "nginx"}'),
  reason: z.string().min(1).max(500).describe("why this action is needed, shown to the human approver"),
});

/**
 * The parameters as the caller gave them, beside `action` in an already validated `request`:
 * propose_action parses them once more with the catalog's own schema, whose output (defaults
 * filled, names canonicalised) is what is approved, signed and run, and which may check across
 * fields where a branch built from its shape does not.
 */
export function givenParams(raw: unknown): Record<string, unknown> {
  const { action: _action, ...params } = (raw as { request: Record<string, unknown> }).request;
  return params;
}
