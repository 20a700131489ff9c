// The roll-out tools (issue 14): propose_rollout, execute_rollout, get_rollout, cancel_rollout.
// One proposal, one human approval (`hostward approve ro-…` signs one statement binding the plan's
// Merkle root), many hosts: each host's helper checks its own entry of the signed plan. NO tool
// approves. execute_rollout starts the run in this broker process and returns; get_rollout shows
// every host's state as it goes. A broker that stops mid-roll-out leaves it RUNNING; the next one
// resumes it at start (or halts it, saying why), settling the interrupted hosts from their own
// records — never running a host twice.
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { actions, findAction } from "../../../../proto/catalog/actions/index";
import { diagnostics } from "../../../../proto/catalog/diagnostics/index";
import { impactRank } from "../../../../proto/catalog/approval";
import { MAX_ROLLOUT_HOSTS } from "../../../../proto/catalog/rollout-plan";
import { expectedCertName } from "../../agents/channels";
import { operatorKey } from "../../agents/host-key";
import { fetchHostPreview } from "../../actions/preview";
import type { Broker } from "../../broker";
import { fanout } from "../../fanout";
import { decide, principalOf, requesterPrincipal, type Principal } from "../../policy";
import { rolloutSummary, rolloutView } from "../../rollouts/describe";
import { MIN_APPROVAL_LEFT_S, runRollout } from "../../rollouts/engine";
import { rolloutId, type RolloutRecord } from "../../rollouts/record";
import { RolloutService, type RolloutHostInput } from "../../rollouts/service";
import { checkGates, planBatches, rolloutStrategy } from "../../rollouts/strategy";
import { brokerWorld } from "../../rollouts/world";
import { resolveTargets, targetArgument } from "../../targets";
import { auditArgs, parseArgs } from "../arguments";
import { tryAudit, validateOrRefuse } from "../host-call";
import { runLocalTool } from "../local-call";
import type { ToolRegistry } from "../registry";
import type { CallContext, ToolOutcome } from "../sdk";
import { requesterOf } from "./actions";

const proposeInput = z.strictObject({
  target: targetArgument,
  action: z.enum(actions.map((a) => a.name) as [string, ...string[]]).describe("the action; its parameters are those of propose_action's request for it"),
  params: z.record(z.string(), z.unknown()).default({}).describe('the action\'s own parameters, e.g. {"unit":"nginx"}'),
  strategy: rolloutStrategy.describe(
    'canaries: hosts alone first (default 1); batchSize: count or "25%"; pauseSeconds; maxFailures: failed hosts tolerated, count or "10%" (default 0); gates: [{diagnostic, input, when:[{field, op, value}]}] on each host after its action, e.g. {"diagnostic":"check_http","input":{"url":"http://127.0.0.1/"},"when":[{"field":"status","op":"==","value":200}]}; rollback: true to undo a host whose gate failed with the action\'s inverse (stop/start, enable/disable), then gate it again',
  ),
  reason: z.string().min(1).max(500).describe("why, shown to the human approver"),
});

const idInput = z.strictObject({ id: rolloutId });
const getInput = z.strictObject({ id: rolloutId.optional().describe("omit to list recent roll-outs"), hosts: z.boolean().default(false).describe("every host's state and result, not only those that need attention") });
const cancelInput = z.strictObject({ id: rolloutId, reason: z.string().min(1).max(500).default("cancelled by the requester") });
const viewOutput = z.object({ id: z.string(), state: z.string() }).passthrough();

const MAX_BATCHES = 1000;

/** Roll-outs running in this process (so a second execute_rollout does not start another run). */
const running = new Map<string, Promise<unknown>>();

function howToApprove(broker: Broker, id: string): string {
  return `A human approves it in a terminal: hostward approve ${id} --config ${broker.config.current.dir} (or rejects it: hostward reject ${id}); then call execute_rollout {"id":"${id}"} and follow it with get_rollout.`;
}

/** Starts (or resumes) a roll-out in the background of this broker process. */
/** `who`: whom each host's part is decided for as its batch runs (execute_rollout's caller; on a resume, the requester). */
function start(broker: Broker, service: RolloutService, r: Pick<RolloutRecord, "id" | "action">, callId: string, who: Principal, progress: (line: string) => void): Promise<{ ok: boolean; reason?: string }> {
  const begun = new Promise<{ ok: boolean; reason?: string }>((resolve) => {
    const world = brokerWorld(broker, r, callId, who, progress);
    let answered = false;
    // The first line (batch 1 starting) answers the tool call; the later ones go to the log, as
    // the call they would be progress of has returned.
    const progressOrLog = (line: string) => {
      if (!answered) {
        world.progress(line);
        answered = true;
        resolve({ ok: true });
      } else broker.logger.info({ rolloutId: r.id }, line);
    };
    const run = runRollout(service, { ...world, progress: progressOrLog }, r.id, callId)
      .then((out) => {
        if (!out.ok && !answered) resolve({ ok: false, reason: out.reason });
        else if (!answered) resolve({ ok: true });
        broker.logger.info({ rolloutId: r.id, state: out.ok ? out.record.state : "refused", reason: out.ok ? undefined : out.reason }, "roll-out ended");
      })
      .catch(async (err: unknown) => {
        broker.logger.error({ rolloutId: r.id, err: (err as Error).message }, "roll-out stopped by an error");
        // Halted, so that it does not stay RUNNING under this live process (best effort: if the
        // store itself failed, it stays RUNNING and the next broker resumes or halts it).
        await service.end(r.id, "HALTED", `the broker stopped it on an error: ${(err as Error).message}`, callId).catch(() => undefined);
        if (!answered) resolve({ ok: false, reason: (err as Error).message });
      })
      .finally(() => running.delete(r.id));
    running.set(r.id, run);
  });
  return begun;
}

export function registerRolloutTools(registry: ToolRegistry, broker: Broker): void {
  // Made at first use: tools/list (and the build's schema generation) needs no state directory.
  let made: RolloutService | undefined;
  const service = () => (made ??= new RolloutService(broker.rollouts, broker.audit, () => broker.config.current.settings.approvalTtlSeconds, { warn: (message) => broker.logger.warn(message) }));
  // A roll-out whose owner cannot be proved gone (another PID namespace, no /proc) is retried when
  // its lease lapses, so a restart resumes it without anyone calling execute_rollout.
  const recover = async (r: RolloutRecord, attempt: number): Promise<void> => {
    if (running.has(r.id)) return;
    const out = await start(broker, service(), r, randomUUID(), requesterPrincipal(broker.config.current, r.requester), (line) => broker.logger.info({ rolloutId: r.id }, line));
    if (out.ok || attempt >= 20) return;
    const now = await service().get(r.id);
    if (now?.state !== "RUNNING" || !now.execution) return;
    const wait = Math.max(1_000, now.execution.leaseUntil - Date.now() + 1_000);
    broker.logger.info({ rolloutId: r.id, retryInMs: wait }, `roll-out not resumed yet: ${out.reason ?? ""}`);
    setTimeout(() => void recover(now, attempt + 1).catch(() => undefined), wait).unref();
  };
  // Roll-outs an earlier broker left RUNNING are resumed (or halted) once this one is up.
  // (Not for a broker without a state directory: the build's schema generation and tests that only
  // list the tools make one; it would throw from this timer.)
  if (typeof broker.stateDir === "string") {
    setTimeout(() => {
      Promise.resolve()
        .then(() => service().list())
        .then(({ rollouts }) => {
          for (const r of rollouts.filter((x) => x.state === "RUNNING" && !running.has(x.id))) void recover(r, 0);
        })
        .catch((err: unknown) => broker.logger.warn({ err: (err as Error).message }, "roll-out recovery at start failed"));
    }, 500).unref();
  }

  registry.add({
    name: "propose_rollout",
    title: "Propose a roll-out",
    description:
      "Proposes ONE action on MANY hosts (a target: list, tag:…, *) with a strategy: canaries first, then batches, a pause, an error budget and health gates (catalog diagnostics with conditions on their output, run on each host after its action). Every host previews the action; the human approves the whole plan once (hostward approve). Returns the roll-out id and its batches. Nothing runs before approval and execute_rollout.",
    input: proposeInput,
    output: viewOutput,
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    handler: (raw, call) => propose(broker, service(), raw, call),
  });

  registry.add({
    name: "execute_rollout",
    title: "Execute an approved roll-out",
    description: "Starts an APPROVED roll-out in the broker and returns; it runs batch by batch and stops before the next batch when a canary fails, the error budget is spent or cancel_rollout is called. Follow it with get_rollout.",
    input: idInput,
    output: viewOutput,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    handler: (raw, call) => execute(broker, service(), raw, call),
  });

  registry.add({
    name: "get_rollout",
    title: "Get a roll-out",
    description: "One roll-out: its state (PENDING, APPROVED, RUNNING, SUCCEEDED, HALTED, CANCELLED, …), its batches, the hosts per state and those that failed, with their gates; the hosts left untouched. Without id: the recent roll-outs.",
    input: getInput,
    output: viewOutput,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    handler: (raw, call) =>
      runLocalTool(broker, "get_rollout", getInput, raw, call.caller, async ({ id, hosts }) => {
        if (!id) {
          const { rollouts, problems } = await service().list();
          return { structured: { id: "", state: "LIST", rollouts: rollouts.slice(0, 50).map((r) => ({ id: r.id, state: r.state, action: r.action, hosts: r.hosts.length, createdAt: r.createdAt })), problems } };
        }
        const r = await service().get(id);
        if (!r) return { error: `no roll-out ${id} (see get_rollout without id)` };
        const results = hosts ? await service().results(r, r.hosts.slice(0, 200).filter((h) => h.run?.hasResult).map((h) => h.index)) : undefined;
        return { structured: { ...rolloutView(r, hosts, results), running: running.has(r.id) } };
      }),
  });

  registry.add({
    name: "cancel_rollout",
    title: "Cancel a roll-out",
    description: "Cancels a PENDING or APPROVED roll-out, or stops a RUNNING one before its next batch (the batch running finishes; hosts not reached stay untouched).",
    input: cancelInput,
    output: viewOutput,
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    handler: async (raw, call) => {
      const callId = randomUUID();
      const valid = await validateOrRefuse(broker, "cancel_rollout", cancelInput, raw, call.caller, callId);
      if (!valid.ok) return valid.outcome;
      try {
        const r = await service().cancel(valid.args.id, valid.args.reason, { who: requesterOf(call.caller), caller: call.caller, callId });
        return r.ok ? { structured: rolloutView(r.record) } : { error: r.reason };
      } catch (err) {
        return { error: `not cancelled: ${(err as Error).message}` };
      }
    },
  });
}

async function propose(broker: Broker, service: RolloutService, raw: unknown, call: CallContext): Promise<ToolOutcome> {
  const callId = randomUUID();
  const valid = await validateOrRefuse(broker, "propose_rollout", proposeInput, raw, call.caller, callId);
  if (!valid.ok) return valid.outcome;
  const { target, action, params: given, strategy, reason } = valid.args;
  const refuse = async (why: string, fields: Record<string, unknown> = {}): Promise<ToolOutcome> =>
    (await tryAudit(broker, { event: "tool.refused", callId, caller: call.caller, tool: "propose_rollout", reason: "INVALID_ARGUMENT", message: why, ...fields, ...auditArgs(valid.args) })) ?? { error: why };
  const def = findAction(action)!;
  const parsed = parseArgs("propose_rollout", z.strictObject({ params: def.params }), { params: given });
  if (!parsed.ok) return refuse(`${parsed.error} (parameters of ${action})`, { fields: parsed.fields });
  const params = parsed.data.params as Record<string, unknown>;
  const inverse = def.inverse ? findAction(def.inverse) : undefined;
  if (strategy.rollback && !inverse) return refuse(`invalid argument "strategy.rollback": ${action} has no inverse action to roll a host back with (the actions with one: ${actions.filter((a) => a.inverse).map((a) => a.name).join(", ")})`, { fields: ["strategy.rollback"] });
  if (strategy.rollback && strategy.gates.length === 0) return refuse(`invalid argument "strategy.rollback": a host is rolled back when a gate fails, and strategy.gates is empty`, { fields: ["strategy.rollback"] });
  const rollback = strategy.rollback ? inverse : undefined;
  // The plan's impact: the higher of the action's and, when it rolls back, its inverse's.
  const impact = rollback && impactRank(rollback.impact) > impactRank(def.impact) ? rollback.impact : def.impact;
  const gateProblems = checkGates(strategy.gates);
  if (gateProblems.length > 0) return refuse(`invalid argument "strategy": ${gateProblems.join("; ")}`, { fields: ["strategy.gates"] });

  const config = broker.config.current;
  const resolved = resolveTargets(target, config.hosts);
  if (!resolved.ok) return refuse(resolved.error, { reason: "BAD_TARGET" });
  if (resolved.hosts.length > MAX_ROLLOUT_HOSTS) return refuse(`target "${target}" selects ${resolved.hosts.length} hosts; a roll-out names at most ${MAX_ROLLOUT_HOSTS}`);
  // The pauses alone must fit in the approval's lifetime, or the roll-out would halt on expiry by design.
  // Each batch is recorded before and after it runs (the record rewritten whole): a plan of more
  // batches than this could not end within an approval at fleet size.
  const batchTotal = planBatches(resolved.hosts, strategy).length;
  if (batchTotal > MAX_BATCHES) return refuse(`invalid argument "strategy.batchSize": ${resolved.hosts.length} hosts make ${batchTotal} batches; a roll-out has at most ${MAX_BATCHES} (use a larger batchSize or a percentage)`, { fields: ["strategy.batchSize"] });
  const pauses = (batchTotal - 1) * strategy.pauseSeconds;
  const ttl = config.settings.approvalTtlSeconds;
  if (pauses + MIN_APPROVAL_LEFT_S > ttl) {
    return refuse(`invalid argument "strategy.pauseSeconds": ${batchTotal} batches with ${strategy.pauseSeconds} s between them pause ${pauses} s, and an approval lasts ${ttl} s (broker.yaml settings.approvalTtlSeconds) with ${MIN_APPROVAL_LEFT_S} s kept for the last batch: use fewer or larger batches, a shorter pause, or a longer approval`, { fields: ["strategy.pauseSeconds"] });
  }
  // Policy: every host must allow the action, and every gate's diagnostic; else nothing is proposed.
  const denied: string[] = [];
  const who = principalOf(config, call.caller);
  for (const h of resolved.hosts) {
    for (const name of [action, ...(rollback ? [rollback.name] : []), ...strategy.gates.map((g) => g.diagnostic)]) {
      const d = decide(config.policy, { name, group: name === action || name === rollback?.name ? "actions" : (findDiagnosticGroup(name) ?? "unknown") }, h, who);
      if (!d.allowed) denied.push(`${h.name}: ${name}: ${d.reason}`);
    }
  }
  const failed = await tryAudit(
    broker,
    { event: "tool.call", callId, caller: call.caller, tool: "propose_rollout", target, hosts: resolved.hosts.map((h) => h.name), ...auditArgs(valid.args) },
    { event: "policy.decision", callId, tool: action, hosts: resolved.hosts.length, decision: denied.length === 0 ? "allow" : "deny", denied: denied.slice(0, 50) },
  );
  if (failed) return failed;
  if (denied.length > 0) return { error: `refused by policy on ${denied.length} host/tool pair(s), so nothing was proposed (narrow the target): ${denied.slice(0, 10).join("; ")}${denied.length > 10 ? "; …" : ""}` };

  // Each host's key (the plan binds it) and its preview (shown and signed), concurrently, bounded.
  const { concurrency, hostTimeoutMs } = config.settings.fanout;
  const outcomes = await fanout(
    resolved.hosts,
    async (host): Promise<RolloutHostInput> => {
      const hostKey = await operatorKey(broker.pool, host, hostTimeoutMs);
      const { preview, approvalsRequired } = await fetchHostPreview(broker.pool, host, def, params);
      return { host: host.name, hostIdentity: expectedCertName(host), hostKey, preview, ...(approvalsRequired !== undefined && { approvalsRequired }) };
    },
    { concurrency, timeoutMs: Math.max(hostTimeoutMs, 30_000) },
  );
  const problems = outcomes.flatMap((o, i) => (o.ok ? [] : [`${resolved.hosts[i]!.name}: ${o.error.code}: ${o.error.message.slice(0, 300)}`]));
  if (problems.length > 0) {
    const why = `not proposed: ${problems.length} of ${resolved.hosts.length} host(s) could not prove their key or preview ${action} (every host of a plan must): ${problems.slice(0, 10).join("; ")}${problems.length > 10 ? "; …" : ""}`;
    return { error: (await service.refuse({ op: "propose", callId, caller: call.caller, action }, why)).reason };
  }
  let record: RolloutRecord;
  try {
    record = await service.propose({ target, hosts: outcomes.map((o) => (o as { ok: true; value: RolloutHostInput }).value), action, params, impact, strategy, reason, requester: requesterOf(call.caller), caller: call.caller, callId });
  } catch (err) {
    broker.logger.error({ err: (err as Error).message, callId }, "roll-out not recorded");
    return { error: `not proposed: the roll-out could not be recorded (${(err as Error).message})` };
  }
  broker.notifier.proposed({ id: record.id, action: record.action, impact: record.impact, where: `${record.hosts.length} hosts (${record.target})`, expiresAt: record.expiresAt });
  return { structured: { ...rolloutView(record), approvalText: rolloutSummary(record, (await service.plan(record)).previews), howToApprove: howToApprove(broker, record.id) } };
}

async function execute(broker: Broker, service: RolloutService, raw: unknown, call: CallContext): Promise<ToolOutcome> {
  const callId = randomUUID();
  const valid = await validateOrRefuse(broker, "execute_rollout", idInput, raw, call.caller, callId);
  if (!valid.ok) return valid.outcome;
  const { id } = valid.args;
  const failed = await tryAudit(broker, { event: "tool.call", callId, caller: call.caller, tool: "execute_rollout", rolloutId: id });
  if (failed) return failed;
  const r = await service.get(id);
  if (!r) return { error: `refused: no roll-out ${id}` };
  if (running.has(id)) return { error: `refused: roll-out ${id} is already running in this broker (see get_rollout)` };
  if (r.state !== "APPROVED" && r.state !== "RUNNING") {
    const next = r.state === "PENDING" ? ` It waits for a human: ${howToApprove(broker, id)}` : " It can never run again; propose a new roll-out if it is still needed.";
    return { error: `refused: ${(await service.refuse({ op: "execute", callId, caller: call.caller }, `roll-out ${id} is ${r.state}, not APPROVED.${next}`, r)).reason}` };
  }
  const signatures = 1 + (r.approval?.cosignatures?.length ?? 0);
  if (r.state === "APPROVED" && r.approvalsRequired !== undefined && signatures < r.approvalsRequired) {
    const why = `roll-out ${id} has ${signatures} approver signature(s); its hosts require ${r.approvalsRequired} distinct approver keys for ${r.impact} actions (the most any of them asks, actions.yaml approvals.required): another approver adds one with "hostward approve ${id}", then call execute_rollout again (nothing ran)`;
    return { error: `refused: ${(await service.refuse({ op: "execute", callId, caller: call.caller }, why, r)).reason}` };
  }
  try {
    broker.pool.credentials("operator");
  } catch (err) {
    return { error: `refused: ${(err as Error).message} (create it with "hostward pki issue-client --role operator")` };
  }
  let line = 0;
  const begun = await start(broker, service, r, callId, principalOf(broker.config.current, call.caller), (text) => call.progress(++line, text));
  if (!begun.ok) return { error: `refused: ${begun.reason}` };
  const now = await service.get(id);
  return { structured: { ...rolloutView(now ?? r), running: running.has(id) } };
}

/** A catalog diagnostic's policy group, by name. */
function findDiagnosticGroup(name: string): string | undefined {
  return diagnostics.find((d) => d.name === name)?.group;
}
