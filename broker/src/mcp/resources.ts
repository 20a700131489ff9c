// The fleet as MCP resources (read-only, bounded, audited). URIs:
//   hostward://inventory          hosts (name, address, ports, tags) and tags, the caller's visible ones
//   hostward://catalog            diagnostics, actions (impact, parameters, inverse) and runbooks
//   hostward://hosts/{name}       one host: inventory entry, what policy allows there, live facts
//   hostward://actions/pending    action requests not yet settled (PENDING, APPROVED, RUNNING)
//   hostward://actions/{id}       one action request (subscribe to hear when it is approved, run…)
//   hostward://rollouts/pending   roll-outs not yet settled
//   hostward://audit/tail         the audit chain's last records, each checked against its hash
// Every read is audited (event resource.read, with its outcome); an answer whose record cannot be
// written is withheld. Every answer is JSON of at most MAX_RESOURCE_BYTES: lists are cut to fit,
// and say so (`truncated`, `total`), pointing at the tool that pages through the rest.
import { randomUUID } from "node:crypto";
import { actions } from "../../../proto/catalog/actions/index";
import { diagnostics } from "../../../proto/catalog/diagnostics/index";
import { runbooks } from "../../../proto/catalog/runbooks/index";
import { ACTION_ID, isTerminal } from "../actions/request";
import { ActionService } from "../actions/service";
import { requestView } from "../actions/describe";
import { RESULT_LOCK_WAIT_MS } from "../audit/log";
import type { CallerIdentity } from "../audit/records";
import type { Broker } from "../broker";
import { hostLabel, type HostEntry } from "../config/schema";
import { decide, principalOf } from "../policy";
import { policyTools } from "../policy-tools";
import { rolloutView } from "../rollouts/describe";
import { RolloutService } from "../rollouts/service";
import { auditCode } from "./host-call";
import { diagnoseOneHost } from "./one-host";
import { APPROVAL_VIEW_URI, approvalViewHtml } from "./apps";
import type { ReadOutcome, RequestContext, ResourceSpec, ResourceTemplateSpec, UiResourceSpec } from "./sdk";
import { hostRefusal, visibleHosts, visibleTags } from "./visibility";

export const MAX_RESOURCE_BYTES = 256 * 1024;
const AUDIT_TAIL_RECORDS = 50;
const JSON_TYPE = "application/json";

export const RESOURCE_URIS = {
  inventory: "hostward://inventory",
  catalog: "hostward://catalog",
  pendingActions: "hostward://actions/pending",
  pendingRollouts: "hostward://rollouts/pending",
  auditTail: "hostward://audit/tail",
  host: (name: string) => `hostward://hosts/${name}`,
  action: (id: string) => `hostward://actions/${id}`,
} as const;

/**
 * `value` as JSON of at most `max` bytes: while it is larger, the list at `value[key]` loses its
 * last element; `truncated` and `total` say so. The rest of the object must fit on its own.
 */
export function boundedJson(value: Record<string, unknown>, key: string, max = MAX_RESOURCE_BYTES): string {
  const list = value[key] as unknown[];
  let text = JSON.stringify({ ...value, total: list.length, truncated: false });
  if (Buffer.byteLength(text) <= max) return text;
  // Halve down to a size that fits, then grow back one by one: O(log n) serialisations of the whole.
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const t = JSON.stringify({ ...value, [key]: list.slice(0, mid), total: list.length, truncated: true });
    if (Buffer.byteLength(t) <= max) lo = mid;
    else hi = mid - 1;
  }
  text = JSON.stringify({ ...value, [key]: list.slice(0, lo), total: list.length, truncated: true });
  return text;
}

function hostView(h: HostEntry) {
  return { name: h.name, address: h.address, ports: h.ports, tags: [...h.tags] };
}

/** Runs a read and audits it; the answer is withheld when its record cannot be written. */
async function audited(broker: Broker, uri: string, caller: CallerIdentity, read: (callId: string) => Promise<ReadOutcome>): Promise<ReadOutcome> {
  const callId = randomUUID();
  let outcome: ReadOutcome;
  try {
    outcome = await read(callId);
  } catch (err) {
    outcome = { error: `cannot read ${uri}: ${(err as Error).message}` };
  }
  const result = "text" in outcome ? "OK" : outcome.notFound ? "NOT_FOUND" : "REFUSED";
  try {
    await broker.audit.appendWaiting(RESULT_LOCK_WAIT_MS, {
      event: "resource.read",
      callId,
      caller,
      uri,
      outcome: result,
      ...("text" in outcome ? { bytes: Buffer.byteLength(outcome.text) } : { message: outcome.error }),
    });
  } catch (err) {
    broker.logger.error({ err: (err as Error).message }, "audit write failed");
    return { error: `(${auditCode(err)}) the read's audit record could not be written, so its answer is withheld: ${(err as Error).message}` };
  }
  return outcome;
}

function catalogDocument(): Record<string, unknown> {
  return {
    diagnostics: diagnostics.map((d) => ({ name: d.name, group: d.group, title: d.title, summary: d.summary, parameters: Object.keys(d.input.shape), limits: d.limits })),
    actions: actions.map((a) => ({
      name: a.name,
      title: a.title,
      impact: a.impact,
      summary: a.summary,
      parameters: Object.keys(a.params.shape),
      needsSystemd: a.needsSystemd,
      ...(a.inverse !== undefined && { inverse: a.inverse }),
    })),
    runbooks: runbooks.map((r) => ({ name: r.name, title: r.title, description: r.description, arguments: r.arguments.map((a) => a.name) })),
    how: "Diagnostics are MCP tools of the same name (each takes `target`). Actions are proposed with propose_action (one host) or propose_rollout (many) and run only after a human approves. Runbooks are MCP prompts.",
  };
}

export interface ResourceSurface {
  resources: ResourceSpec[];
  templates: ResourceTemplateSpec[];
  /** MCP Apps views (ui://), read by the host that renders them; audited like every read. */
  uiResources: UiResourceSpec[];
}

export function brokerResources(broker: Broker): ResourceSurface {
  let actionService: ActionService | undefined;
  let rolloutService: RolloutService | undefined;
  const ttl = () => broker.config.current.settings.approvalTtlSeconds;
  const actionsOf = () => (actionService ??= new ActionService(broker.actions, broker.audit, ttl));
  const rolloutsOf = () => (rolloutService ??= new RolloutService(broker.rollouts, broker.audit, ttl, { warn: (m) => broker.logger.warn(m) }));
  const mayShow = (host: string, call: RequestContext) => hostRefusal(broker.config.current, host, call.caller) === undefined;

  const fixed = (uri: string, name: string, title: string, description: string, read: (call: RequestContext, callId: string) => Promise<ReadOutcome>): ResourceSpec => ({
    uri,
    name,
    title,
    description,
    mimeType: JSON_TYPE,
    read: (call) => audited(broker, uri, call.caller, (callId) => read(call, callId)),
  });

  const resources: ResourceSpec[] = [
    fixed(RESOURCE_URIS.inventory, "inventory", "Inventory", "The hosts you may diagnose (name, address, ports, tags) and their tags. Changes on a configuration reload.", async (call) => {
      const config = broker.config.current;
      return { text: boundedJson({ tags: visibleTags(config, call.caller), hosts: visibleHosts(config, call.caller).map(hostView), more: "list_hosts filters by tag" }, "hosts") };
    }),
    fixed(RESOURCE_URIS.catalog, "catalog", "Catalog", "Every diagnostic (parameters, limits), action (impact, parameters, inverse) and runbook the broker serves.", async () => ({
      text: JSON.stringify(catalogDocument()),
    })),
    fixed(RESOURCE_URIS.pendingActions, "pending-actions", "Pending actions", "Action requests not yet settled (PENDING, APPROVED, RUNNING), newest first. Subscribe to hear of proposals, approvals and executions.", async (call) => {
      const listed = await actionsOf().list();
      const open = listed.requests.filter((r) => !isTerminal(r.state) && mayShow(r.host, call)).map((r) => requestView(r, false));
      return { text: boundedJson({ actions: open, problems: listed.problems.slice(0, 20), more: "get_action ID for one in full" }, "actions") };
    }),
    fixed(RESOURCE_URIS.pendingRollouts, "pending-rollouts", "Pending roll-outs", "Roll-outs not yet settled (PENDING, APPROVED, RUNNING), newest first.", async () => {
      const listed = await rolloutsOf().list();
      const open = listed.rollouts
        .filter((r) => r.state === "PENDING" || r.state === "APPROVED" || r.state === "RUNNING")
        .map((r) => {
          const v = rolloutView(r);
          return { id: v.id, state: v.state, action: v.action, params: v.params, impact: v.impact, target: v.target, requester: v.requester, createdAt: v.createdAt, expiresAt: v.expiresAt, counts: v.counts, hosts: r.hosts.length };
        });
      return { text: boundedJson({ rollouts: open, problems: listed.problems.slice(0, 20), more: "get_rollout ID for one in full" }, "rollouts") };
    }),
    fixed(RESOURCE_URIS.auditTail, "audit-tail", "Audit tail", `The audit chain's last ${AUDIT_TAIL_RECORDS} records, oldest first, each checked against its own hash (records about hosts you may not diagnose are left out).`, async (call) => {
      const { records, problems } = await broker.audit.tail(AUDIT_TAIL_RECORDS, MAX_RESOURCE_BYTES);
      const shown = records.filter((r) => {
        const hosts = [r.host, ...(Array.isArray(r.hosts) ? r.hosts : [])].filter((h): h is string => typeof h === "string");
        return hosts.every((h) => mayShow(h, call));
      });
      return { text: boundedJson({ location: broker.audit.location, records: shown, problems, more: "hostward audit tail -n N, on the broker's machine" }, "records") };
    }),
  ];

  const templates: ResourceTemplateSpec[] = [
    {
      uriTemplate: "hostward://hosts/{name}",
      name: "host",
      title: "One host",
      description: "A host's inventory entry, the tools policy allows and refuses there, and its live facts (get_system_info: OS, kernel, hardware, uptime) — or why they could not be read.",
      mimeType: JSON_TYPE,
      list: async (call) => visibleHosts(broker.config.current, call.caller).map((h) => ({ uri: RESOURCE_URIS.host(h.name), name: `host ${h.name}`, title: h.name, description: `${h.address}${h.tags.length ? ` (${h.tags.join(", ")})` : ""}` })),
      read: (variables, uri, call) =>
        audited(broker, uri, call.caller, async () => {
          const name = variables.name ?? "";
          const valid = hostLabel.safeParse(name);
          if (!valid.success) return { error: `name: ${JSON.stringify(name.slice(0, 64))} is not a host name (letters, digits, ".", "-", "_"; see hostward://inventory)` };
          const config = broker.config.current;
          const refused = hostRefusal(config, name, call.caller);
          if (refused) return { error: refused, notFound: !config.hosts.some((h) => h.name === name) };
          const host = config.hosts.find((h) => h.name === name)!;
          const allowed: string[] = [];
          const denied: Array<{ tool: string; reason: string }> = [];
          const who = principalOf(config, call.caller);
          for (const tool of policyTools().values()) {
            const d = decide(config.policy, tool, host, who);
            if (d.allowed) allowed.push(tool.name);
            else denied.push({ tool: tool.name, reason: d.reason });
          }
          const facts = allowed.includes("get_system_info") ? await diagnoseOneHost(broker, "get_system_info", name, {}, call.caller) : { ok: false as const, code: "POLICY_DENIED", message: "get_system_info is not allowed on this host" };
          return {
            text: JSON.stringify({
              host: hostView(host),
              allowedTools: allowed,
              deniedTools: denied,
              facts: facts.ok ? facts.data : null,
              ...(!facts.ok && { factsError: { code: facts.code, message: facts.message } }),
            }),
          };
        }),
    },
    {
      uriTemplate: "hostward://actions/{id}",
      name: "action",
      title: "One action request",
      description: "One action request in full: state, parameters, the host's impact preview, approval, result. Subscribe to it to be told when it is approved, rejected or run.",
      mimeType: JSON_TYPE,
      list: async () => [],
      read: (variables, uri, call) =>
        audited(broker, uri, call.caller, async () => {
          const id = variables.id ?? "";
          if (!ACTION_ID.test(id)) return { error: `id: ${JSON.stringify(id.slice(0, 64))} is not an action id (act- and 12 hex digits; see hostward://actions/pending)` };
          const r = await actionsOf().get(id);
          if (!r) return { error: `no action request ${id}`, notFound: true };
          if (!mayShow(r.host, call)) return { error: hostRefusal(broker.config.current, r.host, call.caller)! };
          return { text: JSON.stringify(requestView(r)) };
        }),
    },
  ];
  const uiResources: UiResourceSpec[] = [
    {
      uri: APPROVAL_VIEW_URI,
      name: "approval-view",
      title: "Approval view",
      description: "An action request as a human reads it before approving (MCP Apps): host, action, parameters, impact, the plan, the host's preview, the expiry, and the model's reason marked as such.",
      read: (call) =>
        audited(broker, APPROVAL_VIEW_URI, call.caller, async () => {
          const html = approvalViewHtml();
          return html === undefined ? { error: "this broker was run from source, without its approval view (scripts/build.mjs bundles it)" } : { text: html };
        }),
    },
  ];
  return { resources, templates, uiResources };
}
