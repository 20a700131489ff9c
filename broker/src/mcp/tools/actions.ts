// The approval workflow's MCP tools: propose_action, get_action, list_actions, cancel_action,
// execute_action, and approve_in_app. No tool the model is offered approves anything: approval
// comes from a human, through `hostward approve` in a terminal, the client's own elicitation
// dialog, or the buttons of the MCP Apps approval view (approve_in_app, marked app-only) — the last
// two only when policy allows that impact level and broker.yaml names an elicitationKey, which
// signs; the host's helper verifies the signature again.
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { canonicalJson, impactRank } from "../../../../proto/catalog/approval";
import { actions, findAction } from "../../../../proto/catalog/actions/index";
import { expectedCertName } from "../../agents/channels";
import { fetchHostPreview } from "../../actions/preview";
import type { ActionPreview } from "../../../../proto/catalog/define-action";
import { operatorKey } from "../../agents/host-key";
import { toHostError } from "../../agents/errors";
import { approvalSummary, requestView, shownDigest } from "../../actions/describe";
import { executeOnHost } from "../../actions/executor";
import { ACTION_ID, ACTION_STATES, actionId, printable, type ActionRequest } from "../../actions/request";
import { reconcileAll, reconcileWithHost } from "../../actions/reconcile";
import { UNCERTAIN_CODES } from "../../actions/request";
import { truncateText } from "../../../../shared/printable";
import { ActionService } from "../../actions/service";
import { fileSigner } from "../../approval/signer";
import type { CallerIdentity } from "../../audit/records";
import type { Broker } from "../../broker";
import { decide, principalOf } from "../../policy";
import { hostLabel } from "../../config/schema";
import { auditArgs, parseArgs } from "../arguments";
import { tryAudit, validateOrRefuse } from "../host-call";
import { runLocalTool } from "../local-call";
import { givenParams, proposeInput } from "./propose-input";
import { APPROVAL_VIEW_URI } from "../apps";
import type { ToolRegistry } from "../registry";
import type { AskOutcome, CallContext, ElicitAnswer, ElicitForm, ToolOutcome } from "../sdk";

/** How long the elicitation dialog waits for the human. */
const ELICITATION_TIMEOUT_MS = 5 * 60_000;

const viewSchema = z.object({
  id: z.string(),
  state: z.enum(ACTION_STATES),
  host: z.string(),
  action: z.string(),
  params: z.record(z.string(), z.unknown()),
  impact: z.string(),
  requester: z.string(),
  createdAt: z.string(),
  expiresAt: z.string(),
  reason: z.string().optional(),
  preview: z.array(z.string()).optional().describe("what the action would touch: rendered from the facts the host reported before approval"),
  runs: z.array(z.string()).optional(),
  approval: z.unknown().optional(),
  approvalsRequired: z.number().int().optional().describe("distinct approver keys the host requires for this impact; execute_action waits for that many signatures"),
  rejection: z.unknown().optional(),
  cancellation: z.unknown().optional(),
  execution: z.unknown().optional(),
  history: z.unknown().optional(),
});

const proposeOutput = viewSchema.extend({
  elicitation: z.enum(["approved", "rejected", "dismissed", "not-offered"]).describe("what happened in the client's approval dialog"),
  howToApprove: z.string(),
  appApproval: z
    .object({ offered: z.boolean(), why: z.string().optional(), shown: z.string() })
    .describe("for the approval view (MCP Apps): whether its buttons may decide this request, and the digest they send back"),
});

const idInput = z.strictObject({ id: actionId.describe("the action id returned by propose_action") });
const cancelInput = z.strictObject({ id: actionId, reason: z.string().min(1).max(500).default("cancelled by the requester") });
const listInput = z.strictObject({
  state: z.enum(ACTION_STATES).optional().describe("only requests in this state"),
  host: hostLabel.optional().describe("only requests for this host"),
  limit: z.number().int().min(1).max(200).default(50).describe("at most this many, newest first (default 50)"),
});
const inAppInput = z.strictObject({
  id: actionId,
  approve: z.boolean().describe("true approves, false rejects"),
  shown: z.string().max(100).describe("appApproval.shown of the request the view showed"),
  reason: z.string().min(1).max(500).optional().describe("why it is rejected"),
});
const inAppOutput = z.object({ id: z.string(), state: z.enum(ACTION_STATES), outcome: z.enum(["approved", "rejected"]) });

const listOutput = z.object({ actions: z.array(viewSchema), total: z.number().int(), problems: z.array(z.string()) });
const executeOutput = z.object({
  request: viewSchema,
  verdict: z.enum(["SUCCEEDED", "FAILED"]),
  result: z.unknown().optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  durationMs: z.number(),
  outputLines: z.number().int(),
  auditWarning: z.string().optional(),
});

export function requesterOf(caller: CallerIdentity): string {
  const client = caller.client ? `${caller.client.name}${caller.client.version ? `/${caller.client.version}` : ""}` : "unknown-client";
  // ASCII only (an identifier, signed into the approval), cut on a code-point boundary.
  // The last ":" part is the person (what the helper's four-eyes check compares an approver's
  // identity with): over HTTP the user whose token authenticated the call, over stdio the OS user
  // running the broker; the shared HTTP token's label when no person is known.
  const who = caller.user ?? caller.token;
  return truncateText(printable(`mcp:${caller.transport}:${client}${who ? `:${who}` : ""}`, { ascii: true }), 256);
}

function howToApprove(broker: Broker, id: string): string {
  return `A human approves it in a terminal: hostward approve ${id} --config ${broker.config.current.dir} (or rejects it: hostward reject ${id}); then call execute_action {"id":"${id}"}.`;
}

/**
 * Proposal budgets (broker.yaml budgets): per MCP session, counted in memory, and per requester per
 * hour, counted from the stored requests (so neither a restart nor a new session resets it).
 * Returns the refusal naming the limit, or null.
 */
function proposalBudget(
  settings: { proposalsPerSession: number; proposalsPerHour: number },
  used: { session: number; lastHour: number },
): string | null {
  if (used.session >= settings.proposalsPerSession) {
    return `budget exceeded: this session has made ${used.session} proposals, the limit per session (budgets.proposalsPerSession in broker.yaml) is ${settings.proposalsPerSession}; start a new session, or ask the operator to raise it`;
  }
  if (used.lastHour >= settings.proposalsPerHour) {
    return `budget exceeded: ${used.lastHour} proposals by this requester in the last hour, the limit per hour (budgets.proposalsPerHour in broker.yaml) is ${settings.proposalsPerHour}; wait, or ask the operator to raise it`;
  }
  return null;
}

export function registerActionTools(registry: ToolRegistry, broker: Broker): void {
  const service = new ActionService(broker.actions, broker.audit, () => broker.config.current.settings.approvalTtlSeconds);
  // Requests whose outcome an earlier broker lost are settled from their hosts' records, once the
  // broker is up (in the background: hosts may be slow or down).
  setTimeout(() => void reconcileAll(broker, service).catch((err: unknown) => broker.logger.warn({ err: (err as Error).message }, "reconciliation at start failed")), 500).unref();
  /** Proposals made per MCP session (CallContext.session). */
  const perSession = new Map<string, number>();

  registry.add({
    name: "propose_action",
    title: "Propose an action",
    description:
      "Proposes ONE action on ONE host and records it as PENDING; nothing runs until a human approves it (in their terminal, or in this client's approval dialog when offered) and execute_action is called. Returns the action id. `request` names the action and carries its own parameters (each action's are in the input schema, with its impact and what it does): " +
      actions.map((a) => a.name).join(", ") +
      ".",
    input: proposeInput,
    output: proposeOutput,
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    // Clients with MCP Apps show the result in the approval view (apps.ts).
    ui: { resourceUri: APPROVAL_VIEW_URI },
    handler: (raw, call) => propose(broker, service, raw, call, perSession),
  });

  registry.add({
    name: "approve_in_app",
    title: "Approve or reject in the approval view",
    description:
      "The approval view's buttons (MCP Apps, app-only): a human's click. Not for the model. Refused above policy's elicitation.maxImpact, without the broker's dialog key, for a request not PENDING, and from a client without MCP Apps.",
    input: inAppInput,
    output: inAppOutput,
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    ui: { resourceUri: APPROVAL_VIEW_URI, visibility: ["app"] },
    handler: (raw, call) => approveInApp(broker, service, raw, call),
  });

  registry.add({
    name: "get_action",
    title: "Get an action request",
    description: "One action request: its state (PENDING, APPROVED, REJECTED, EXPIRED, CANCELLED, RUNNING, SUCCEEDED, FAILED), what it runs, and its result once executed.",
    input: idInput,
    output: viewSchema,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    handler: async (raw, call) =>
      runLocalTool(broker, "get_action", idInput, raw, call.caller, async ({ id }) => {
        const found = await service.get(id);
        const r = found && (await reconcileWithHost(broker, service, found));
        return r ? { structured: requestView(r) } : { error: `no action request ${id} (see list_actions)` };
      }),
  });

  registry.add({
    name: "list_actions",
    title: "List action requests",
    description: "Action requests, newest first, optionally filtered by state or host.",
    input: listInput,
    output: listOutput,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    handler: async (raw, call) =>
      runLocalTool(broker, "list_actions", listInput, raw, call.caller, async ({ state, host, limit }) => {
        const listed = await service.list({ ...(state && { state }), ...(host && { host }) });
        const requests = await Promise.all(listed.requests.map((r, i) => (i < 10 ? reconcileWithHost(broker, service, r) : r)));
        const problems = listed.problems;
        return { structured: { actions: requests.slice(0, limit).map((r) => requestView(r, false)), total: requests.length, problems: problems.slice(0, 20) } };
      }),
  });

  registry.add({
    name: "cancel_action",
    title: "Cancel an action request",
    description: "Cancels a PENDING or APPROVED action request so it can never run.",
    input: cancelInput,
    output: viewSchema,
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    handler: async (raw, call) => {
      const callId = randomUUID();
      const valid = await validateOrRefuse(broker, "cancel_action", cancelInput, raw, call.caller, callId);
      if (!valid.ok) return valid.outcome;
      try {
        const r = await service.cancel(valid.args.id, valid.args.reason, { who: requesterOf(call.caller), caller: call.caller, callId });
        return r.ok ? { structured: requestView(r.request) } : { error: r.reason };
      } catch (err) {
        return { error: `not cancelled: ${(err as Error).message}` };
      }
    },
  });

  registry.add({
    name: "execute_action",
    title: "Execute an approved action",
    description:
      "Runs an APPROVED action request once on its host and returns {before, after, verdict, output}. The host verifies the human's signed approval again. Output lines arrive as progress notifications while it runs.",
    input: idInput,
    output: executeOutput,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    handler: (raw, call) => execute(broker, service, raw, call),
  });
}

async function propose(broker: Broker, service: ActionService, raw: unknown, call: CallContext, perSession: Map<string, number>): Promise<ToolOutcome | AskOutcome> {
  const callId = randomUUID();
  const valid = await validateOrRefuse(broker, "propose_action", proposeInput, raw, call.caller, callId);
  if (!valid.ok) return valid.outcome;
  if (call.resumed) return resumeApproval(broker, service, valid.args, raw, { ...call, resumed: call.resumed }, callId);
  const { target, request: given, reason } = valid.args;
  const action = given.action;
  const def = findAction(action)!;
  const refuse = async (why: string, fields: Record<string, unknown> = {}): Promise<ToolOutcome> =>
    (await tryAudit(broker, { event: "tool.refused", callId, caller: call.caller, tool: "propose_action", reason: "INVALID_ARGUMENT", message: why, ...fields, ...auditArgs(valid.args) })) ?? {
      error: why,
    };

  // Nested under "request" so every message names the field as the caller wrote it (request.unit).
  const parsed = parseArgs("propose_action", z.strictObject({ request: def.params }), { request: givenParams(raw) });
  if (!parsed.ok) return refuse(`${parsed.error} (parameters of ${action})`, { fields: parsed.fields });
  const params = { data: parsed.data.request };
  const config = broker.config.current;
  const host = config.hosts.find((h) => h.name === target);
  if (!host) return refuse(`unknown host "${target}" (not in the inventory; see list_hosts)`, { reason: "BAD_TARGET" });

  const decision = decide(config.policy, { name: action, group: "actions" }, host, principalOf(config, call.caller));
  const failed = await tryAudit(
    broker,
    { event: "tool.call", callId, caller: call.caller, tool: "propose_action", target, hosts: [host.name], ...auditArgs(valid.args) },
    { event: "policy.decision", callId, tool: action, host: host.name, decision: decision.allowed ? "allow" : "deny", rule: decision.rule, reason: decision.reason },
  );
  if (failed) return failed;
  if (!decision.allowed) return { error: `refused by policy: ${decision.reason}` };

  // Budgets, before anything else is done for the proposal (no host is contacted past them).
  const requester = requesterOf(call.caller);
  const hourAgo = Date.now() - 3_600_000;
  const lastHour = (await service.store.list()).requests.filter((r) => r.requester === requester && Date.parse(r.createdAt) > hourAgo).length;
  const overBudget = proposalBudget(config.settings.budgets, { session: perSession.get(call.session) ?? 0, lastHour });
  if (overBudget) {
    return (await tryAudit(broker, { event: "tool.refused", callId, caller: call.caller, tool: "propose_action", reason: "BUDGET", message: overBudget, ...auditArgs(valid.args) })) ?? { error: `refused: ${overBudget}` };
  }
  perSession.set(call.session, (perSession.get(call.session) ?? 0) + 1);

  // The operator agent's key, proved in a TLS handshake now: the approval will bind it.
  let hostKey: string;
  try {
    hostKey = await operatorKey(broker.pool, host, config.settings.fanout.hostTimeoutMs);
  } catch (err) {
    const e = toHostError(err);
    const why = `not proposed: the identity of ${host.name}'s operator agent (the key its certificate holds, which the approval binds) could not be checked: ${e.code}: ${e.message}`;
    return { error: (await service.refuse({ op: "propose", callId, caller: call.caller, host: host.name, action }, why)).reason };
  }

  // What it would touch, from the host itself: shown to the approver and signed (its hash).
  let preview: ActionPreview;
  let approvalsRequired: number | undefined;
  try {
    ({ preview, approvalsRequired } = await fetchHostPreview(broker.pool, host, def, params.data as Record<string, unknown>));
  } catch (err) {
    const e = toHostError(err);
    const why = `not proposed: ${host.name} could not preview ${action} (what it would touch, which the approver must see): ${e.code}: ${e.message}`;
    return { error: (await service.refuse({ op: "propose", callId, caller: call.caller, host: host.name, action }, why)).reason };
  }

  let request: ActionRequest;
  try {
    request = await service.propose({
      host: host.name,
      hostIdentity: expectedCertName(host),
      hostKey,
      preview,
      action,
      params: params.data as Record<string, unknown>,
      impact: def.impact,
      reason,
      requester,
      caller: call.caller,
      callId,
      ...(approvalsRequired !== undefined && { approvalsRequired }),
    });
  } catch (err) {
    broker.logger.error({ err: (err as Error).message, callId }, "proposal not recorded");
    return { error: `not proposed: the request could not be recorded (${(err as Error).message})` };
  }
  broker.notifier.proposed({ id: request.id, action: request.action, impact: request.impact, where: request.host, expiresAt: request.expiresAt });

  let elicitation: DialogOutcome;
  if (call.era === "modern") {
    // 2026-07-28 has no server-initiated requests: the form goes back to the client as an
    // input_required result, and the client calls again with the user's answer (resumeApproval).
    if (dialogAllowed(broker, request) && call.canAsk) {
      void tryAudit(broker, { event: "action.elicitation", callId, caller: call.caller, actionId: request.id, host: request.host, action: request.action, outcome: "asked", era: call.era });
      return { ask: { form: approvalForm(request), state: { actionId: request.id, callId } } };
    }
    if (dialogAllowed(broker, request)) void tryAudit(broker, { event: "action.elicitation", callId, caller: call.caller, actionId: request.id, host: request.host, action: request.action, outcome: "not-offered", era: call.era, why: "the client did not declare form elicitation" });
    elicitation = "not-offered";
  } else elicitation = await offerElicitation(broker, service, request, call, callId);
  const current = (await service.get(request.id)) ?? request;
  return { structured: proposalView(broker, current, elicitation, call) };
}

/** propose_action's answer: the request, what the dialog did, how a human approves it otherwise, and what the approval view may do. */
function proposalView(broker: Broker, request: ActionRequest, elicitation: DialogOutcome, call: CallContext): Record<string, unknown> {
  const why = request.state !== "PENDING" ? `it is ${request.state}` : (appViewRefusal(broker, request) ?? (call.apps ? undefined : "this client did not declare MCP Apps"));
  return {
    ...requestView(request),
    elicitation,
    howToApprove: howToApprove(broker, request.id),
    appApproval: { offered: why === undefined, ...(why !== undefined && { why }), shown: shownDigest(request) },
  };
}

type DialogOutcome = "approved" | "rejected" | "dismissed" | "not-offered";

/**
 * Why the client's approval dialog (and the approval view, the same gate) may not decide this
 * request, or null when it may: policy's ceiling (elicitation.maxImpact) and the broker's dialog key.
 */
function dialogRefusal(broker: Broker, request: ActionRequest): string | null {
  const { policy, settings } = broker.config.current;
  const max = policy.elicitation?.maxImpact;
  if (max === undefined) return "policy.yaml has no elicitation section, so no action is approved in the client";
  if (impactRank(request.impact) > impactRank(max)) return `its impact ${request.impact} is above policy.yaml's elicitation.maxImpact (${max})`;
  if (settings.elicitationKey === undefined) return "broker.yaml names no elicitationKey (the dialog key that signs approvals given in the client)";
  return null;
}

/**
 * Why the approval view's buttons (approve_in_app) may not decide this request, or null. On top of
 * the dialog's gate, its own opt-in (policy.yaml elicitation.appView: true, off by default): the
 * broker cannot tell the view's call from the model's, so with it on, a client that lets the model
 * call app-only tools lets the model approve, alone, what is within the ceiling. A dialog needs the
 * client to ask its user; this needs nothing the model cannot send.
 */
function appViewRefusal(broker: Broker, request: ActionRequest): string | null {
  const dialog = dialogRefusal(broker, request);
  if (dialog) return dialog;
  if (broker.config.current.policy.elicitation?.appView !== true) {
    return "policy.yaml's elicitation.appView is not true: the approval view's buttons are off (a server cannot tell them from the model; turn them on only for clients that keep app-only tools from the model)";
  }
  return null;
}

/** Whether the client's approval dialog may approve this request: policy's ceiling and the broker's dialog key. */
function dialogAllowed(broker: Broker, request: ActionRequest): boolean {
  return dialogRefusal(broker, request) === null;
}

/**
 * approve_in_app: the approval view's Approve / Reject (MCP Apps). The same gate as the dialog —
 * policy's ceiling and the dialog key, a PENDING request — then the same signed path
 * (service.approve with the dialog key, via "app"). MCP Apps gives a server no way to tell a call
 * the view made from one the model made (ARCHITECTURE.md, boundary 4): the tool is marked app-only
 * for hosts, refused to a client that did not declare MCP Apps, and bound to the request the view
 * showed (its digest); within the ceiling a host that let the model call it would let the model
 * approve what the dialog's human could.
 */
async function approveInApp(broker: Broker, service: ActionService, raw: unknown, call: CallContext): Promise<ToolOutcome> {
  const callId = randomUUID();
  const valid = await validateOrRefuse(broker, "approve_in_app", inAppInput, raw, call.caller, callId);
  if (!valid.ok) return valid.outcome;
  const { id, approve, shown, reason } = valid.args;
  const failed = await tryAudit(broker, { event: "tool.call", callId, caller: call.caller, tool: "approve_in_app", actionId: id, approve, apps: call.apps });
  if (failed) return failed;
  const op = approve ? "approve" : "reject";
  const refuse = async (why: string, request?: ActionRequest): Promise<ToolOutcome> => ({
    error: `refused: ${(await service.refuse({ op, via: "app", callId, caller: call.caller }, why, request)).reason}`,
  });
  const terminal = `approve it in a terminal: hostward approve ${id}`;
  if (!call.apps) return refuse(`approve_in_app is the approval view's button, and this client did not declare MCP Apps (the io.modelcontextprotocol/ui extension); ${terminal}`);
  const request = await service.get(id);
  if (!request) return refuse(`no action request ${id} (see list_actions)`);
  const ceiling = appViewRefusal(broker, request);
  if (ceiling) return refuse(`action ${id} cannot be decided in the approval view: ${ceiling}; ${terminal}`, request);
  if (request.state !== "PENDING") return refuse(`action ${id} is ${request.state}; only a PENDING request can be approved or rejected`, request);
  if (shownDigest(request) !== shown) return refuse(`action ${id} is not the request the view showed (shown: its digest differs); nothing was signed: open it again`, request);
  const who = `the user of ${requesterOf(call.caller)} (approval view)`;
  try {
    if (approve) {
      const approved = await service.approve(id, fileSigner(broker.config.current.settings.elicitationKey!), { via: "app", approver: who, ...(call.caller.user !== undefined && { identity: call.caller.user }), callId }, request);
      if (!approved.ok) return { error: `not approved: ${approved.reason}` };
      return { structured: { id, state: approved.request.state, outcome: "approved" } };
    }
    const rejected = await service.reject(id, reason ?? "rejected in the approval view", { via: "app", who, callId });
    if (!rejected.ok) return { error: `not rejected: ${rejected.reason}` };
    return { structured: { id, state: rejected.request.state, outcome: "rejected" } };
  } catch (err) {
    broker.logger.error({ err: (err as Error).message, callId }, "approval view decision failed");
    return { error: `not ${approve ? "approved" : "rejected"}: ${(err as Error).message}` };
  }
}

/** The approval form: the terminal's text, one boolean that defaults to not approving. */
function approvalForm(request: ActionRequest): Omit<ElicitForm, "timeoutMs"> {
  return {
    message: `${approvalSummary(request).join("\n")}\n\nApprove this action? It runs only when execute_action is called, once, before the expiry.`,
    requestedSchema: {
      type: "object",
      properties: { approve: { type: "boolean", title: "Approve", description: `Approve ${request.action} on ${request.host}`, default: false } },
      required: ["approve"],
    },
  };
}

/** The user's answer applied: approve=true (exactly) signs with the dialog key; anything else rejects or leaves it PENDING. */
async function applyAnswer(broker: Broker, service: ActionService, request: ActionRequest, answer: ElicitAnswer, call: CallContext, callId: string): Promise<DialogOutcome> {
  const { settings } = broker.config.current;
  const record = (outcome: string, extra: Record<string, unknown> = {}) =>
    void tryAudit(broker, { event: "action.elicitation", callId, caller: call.caller, actionId: request.id, host: request.host, action: request.action, outcome, era: call.era, ...extra });
  const who = `the user of ${requesterOf(call.caller)}`;
  if (answer.action === "unsupported") {
    record("not-offered", { why: answer.reason });
    return "not-offered";
  }
  if (answer.action === "cancel") {
    record("dismissed");
    return "dismissed";
  }
  if (answer.action === "accept" && answer.content.approve === true) {
    try {
      const approved = await service.approve(request.id, fileSigner(settings.elicitationKey!), { via: "elicitation", approver: who, ...(call.caller.user !== undefined && { identity: call.caller.user }), callId }, request);
      if (approved.ok) return "approved";
      record("approval-failed", { why: approved.reason });
    } catch (err) {
      broker.logger.error({ err: (err as Error).message, callId }, "elicitation approval failed");
      record("approval-failed", { why: (err as Error).message });
    }
    return "not-offered";
  }
  try {
    await service.reject(request.id, "declined in the client's approval dialog", { via: "elicitation", who, callId });
    return "rejected";
  } catch (err) {
    record("rejection-failed", { why: (err as Error).message });
    return "dismissed";
  }
}

/** 2025-era: the client's approval dialog, pushed as an elicitation request while the call waits. */
async function offerElicitation(broker: Broker, service: ActionService, request: ActionRequest, call: CallContext, callId: string): Promise<DialogOutcome> {
  if (!dialogAllowed(broker, request)) return "not-offered";
  const answer = await call.elicit({ ...approvalForm(request), timeoutMs: ELICITATION_TIMEOUT_MS });
  return applyAnswer(broker, service, request, answer, call, callId);
}

/**
 * 2026-era: the retry of propose_action that carries the user's answer to the approval form (the
 * input_required round trip). Nothing is proposed again: the state names the request the form
 * showed (HMAC-verified by the SDK before this runs), and the retry's arguments must be that
 * request's — an answer cannot be moved to another proposal.
 */
async function resumeApproval(
  broker: Broker,
  service: ActionService,
  args: z.output<typeof proposeInput>,
  raw: unknown,
  call: CallContext & { resumed: NonNullable<CallContext["resumed"]> },
  callId: string,
): Promise<ToolOutcome> {
  const { state, answer } = call.resumed;
  const id = typeof state.actionId === "string" && ACTION_ID.test(state.actionId) ? state.actionId : undefined;
  const failed = await tryAudit(broker, { event: "tool.call", callId, caller: call.caller, tool: "propose_action", resumes: state.callId, actionId: id, ...auditArgs(args) });
  if (failed) return failed;
  const request = id === undefined ? undefined : await service.get(id);
  if (!request) return { error: "refused: the approval form's answer names no proposal of this broker (propose again)" };
  const def = findAction(args.request.action);
  const parsed = def ? parseArgs("propose_action", z.strictObject({ request: def.params }), { request: givenParams(raw) }) : undefined;
  const same = parsed?.ok === true && args.target === request.host && args.request.action === request.action && canonicalJson(parsed.data.request) === canonicalJson(request.params);
  if (!same) {
    const why = `the approval form's answer is for ${request.id} (${request.action} on ${request.host}), not for these arguments`;
    return { error: `refused: ${(await service.refuse({ op: "approve", callId, caller: call.caller }, why, request)).reason}` };
  }
  let elicitation: DialogOutcome;
  if (request.state !== "PENDING") elicitation = "dismissed";
  else if (!dialogAllowed(broker, request)) elicitation = "not-offered";
  else elicitation = await applyAnswer(broker, service, request, answer, call, callId);
  const current = (await service.get(request.id)) ?? request;
  return { structured: proposalView(broker, current, elicitation, call) };
}

async function execute(broker: Broker, service: ActionService, raw: unknown, call: CallContext): Promise<ToolOutcome> {
  const callId = randomUUID();
  const valid = await validateOrRefuse(broker, "execute_action", idInput, raw, call.caller, callId);
  if (!valid.ok) return valid.outcome;
  const { id } = valid.args;
  const failed = await tryAudit(broker, { event: "tool.call", callId, caller: call.caller, tool: "execute_action", actionId: id });
  if (failed) return failed;
  const refuse = async (reason: string, request?: ActionRequest): Promise<ToolOutcome> => ({ error: `refused: ${(await service.refuse({ op: "execute", callId, caller: call.caller }, reason, request)).reason}` });

  const request = await service.get(id);
  if (!request) return refuse(`no action request ${id} (see list_actions)`);
  if (request.state !== "APPROVED") {
    const next =
      request.state === "PENDING"
        ? ` It waits for a human: ${howToApprove(broker, id)}`
        : request.state === "RUNNING"
          ? " It is already running (see get_action)."
          : " It can never run; propose it again if it is still needed.";
    return refuse(`action ${id} is ${request.state}, not APPROVED.${next}`, request);
  }
  const config = broker.config.current;
  const host = config.hosts.find((h) => h.name === request.host);
  if (!host) return refuse(`host ${request.host} is no longer in the inventory`, request);
  if (expectedCertName(host) !== request.hostIdentity) return refuse(`host ${request.host}'s certificate name changed since the proposal (${request.hostIdentity} → ${expectedCertName(host)})`, request);
  const decision = decide(config.policy, { name: request.action, group: "actions" }, host, principalOf(config, call.caller));
  if (!decision.allowed) return refuse(`policy no longer allows it: ${decision.reason}`, request);
  const def = findAction(request.action);
  if (!def) return refuse(`this broker's catalog has no action ${request.action}`, request);
  const signatures = 1 + (request.approval?.cosignatures?.length ?? 0);
  if (request.approvalsRequired !== undefined && signatures < request.approvalsRequired) {
    return refuse(
      `action ${id} has ${signatures} approver signature(s); ${request.host} requires ${request.approvalsRequired} distinct approver keys for ${request.impact} actions (its actions.yaml approvals.required): another approver adds one with "hostward approve ${id}", then call execute_action again (nothing ran; the approval is still usable)`,
      request,
    );
  }

  try {
    // Before the request moves to RUNNING: a broker without its operator certificate refuses here
    // and the approval stays usable once the certificate is in place.
    broker.pool.credentials("operator");
  } catch (err) {
    return refuse(`${(err as Error).message} (create it with "hostward pki issue-client --role operator")`, request);
  }

  let started: ActionRequest;
  try {
    const t = await service.startExecution(id, callId, call.caller);
    if (!t.ok) return refuse(t.reason, t.request);
    started = t.request;
  } catch (err) {
    broker.logger.error({ err: (err as Error).message, callId }, "execution not started");
    return { error: `refused: the execution could not be recorded, so nothing was run (${(err as Error).message})` };
  }

  const t0 = Date.now();
  let lines = 0;
  // The host's stamp of each relayed line, kept in the request's execution record (get_action):
  // with the client's own clock at each notification it gives the stream's latency, host to client.
  const outputAt: number[] = [];
  let outcome: { verdict: "SUCCEEDED" | "FAILED"; result?: unknown; error?: { code: string; message: string } };
  try {
    // Not cancelled with the MCP request: an action stopped half-way is worse than one that
    // finishes and is recorded (its result stays available through get_action).
    const result = await executeOnHost({
      pool: broker.pool,
      host,
      def,
      request: started,
      callId,
      onOutput: (line, index, atUnixMicros) => {
        // The notification first: nothing else is done per line before it is sent.
        call.progress(index, line);
        lines = index;
        outputAt.push(atUnixMicros);
      },
    });
    outcome = { verdict: result.verdict, result };
  } catch (err) {
    outcome = { verdict: "FAILED", error: toHostError(err) };
  }
  const durationMs = Date.now() - t0;
  if (outcome.error && UNCERTAIN_CODES.has(outcome.error.code)) {
    outcome.error = { ...outcome.error, message: `${outcome.error.message} — the connection was lost while the action ran, so it may have started on the host: get_action asks the host's own record` };
  }
  const finished = await service.finishExecution(id, { ...outcome, durationMs, outputAtUnixMicros: outputAt });
  broker.logger.info({ callId, actionId: id, host: host.name, action: def.name, verdict: outcome.verdict, durationMs }, "action executed");
  // Lost its host mid-action: ask the host's record once now (the agent may be back already).
  const settled = finished.request && outcome.verdict === "FAILED" ? await reconcileWithHost(broker, service, finished.request) : finished.request;
  if (settled?.execution?.reconciliation) {
    outcome = { verdict: settled.state === "SUCCEEDED" ? "SUCCEEDED" : "FAILED", ...(settled.execution.result !== undefined && { result: settled.execution.result }), ...(settled.execution.error && { error: settled.execution.error }) };
  }
  const view = requestView(settled ?? finished.request ?? started);
  return {
    structured: {
      request: view,
      verdict: outcome.verdict,
      ...(outcome.result !== undefined && { result: outcome.result }),
      ...(outcome.error && { error: outcome.error }),
      durationMs,
      outputLines: lines,
      ...(finished.audited ? {} : { auditWarning: "the result could not be written to the audit log" }),
    },
  };
}
