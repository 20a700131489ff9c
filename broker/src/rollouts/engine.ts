// Runs an approved roll-out, batch after batch (issue 14). A batch's hosts are recorded RUNNING
// (audited, stored) before any is contacted; each runs its part of the signed plan, then the
// strategy's gates (catalog diagnostics, conditions on their typed output); the batch's outcome is
// stored; then a failed canary, or more failed hosts than the error budget, stops the roll-out
// before the next batch and every host not reached is UNTOUCHED. cancel_rollout is read between
// batches (and during the pause). A broker that dies mid-batch leaves hosts RUNNING: the next
// broker settles each from the host's own record (its helper's ledger, by the request id
// `<rollout>-<index>`) — never by running it again (the host's nonce store would refuse that
// anyway) — and goes on, or halts saying which host's outcome it cannot know.
import type { ActionResult } from "../../../proto/catalog/define-action";
import { rolloutRequestId, rolloutUndoRequestId } from "../../../proto/catalog/rollout-plan";
import type { Approval } from "../../../proto/gen/hostward/v1/actions";
import { toHostError } from "../agents/errors";
import type { HostRecord } from "../actions/host-record";
import { UNCERTAIN_CODES } from "../actions/request";
import { batchCount, type GateOutcome, type PlanHost, type RolloutRecord } from "./record";
import type { RolloutService } from "./service";
import { conditionText, failureBudget, holds, type Gate } from "./strategy";

/** What the engine needs of the world; the broker's (runner.ts) calls real agents. */
export interface RolloutWorld {
  /** Runs one host's part (its Approval) of the plan on its operator agent; throws a HostCallError. */
  execute(host: PlanHost, approval: Approval, onOutput: (line: string) => void): Promise<ActionResult>;
  /** One gate's diagnostic on one host's reader agent: its validated output; throws a HostCallError. */
  diagnose(host: PlanHost, gate: Gate): Promise<unknown>;
  /** The host's helper's record of one request (a ledger query: an unknown id is voided for good). */
  hostRecord(host: PlanHost, requestId: string): Promise<HostRecord>;
  sleep(ms: number): Promise<void>;
  /** One line of progress (the MCP tool relays it; the CLI prints it). */
  progress(line: string): void;
  /** Hosts of one batch run at most this many at a time (broker.yaml fanout.concurrency). */
  concurrency: number;
}

const FAILED_STATES = new Set(["FAILED", "GATE_FAILED", "ROLLED_BACK", "UNKNOWN"]);
const seconds = () => Math.floor(Date.now() / 1000);
/** A batch does not start with less than this left on the approval (the hosts judge expiry with their own skew). */
export const MIN_APPROVAL_LEFT_S = 150;
const PAUSE_SLICE_MS = 500;

/** Runs `work` on every item, at most `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

type HostOutcome = Pick<PlanHost, "state" | "run" | "gates" | "rollback">;

/** At most 10 hosts named (a halt reason is bounded), the rest counted. */
function someHosts(hosts: readonly PlanHost[], what: (h: PlanHost) => string = (h) => h.host): string {
  const shown = hosts.slice(0, 10).map(what).join(", ");
  return hosts.length > 10 ? `${shown} and ${hosts.length - 10} more` : shown;
}

async function gatesOn(world: RolloutWorld, host: PlanHost, gates: readonly Gate[]): Promise<GateOutcome[]> {
  const out: GateOutcome[] = [];
  for (const g of gates) {
    try {
      const output = await world.diagnose(host, g);
      const conditions = g.when.map((c) => ({ text: conditionText(c), ...holds(c, output) }));
      out.push({ diagnostic: g.diagnostic, ok: conditions.every((c) => c.ok), conditions });
    } catch (err) {
      const e = toHostError(err);
      out.push({ diagnostic: g.diagnostic, ok: false, conditions: [], error: { code: e.code.slice(0, 64), message: e.message.slice(0, 4000) } });
    }
  }
  return out;
}

function outcomeOf(run: NonNullable<PlanHost["run"]>, gates: GateOutcome[] | undefined): HostOutcome {
  if (run.verdict !== "SUCCEEDED") return { state: run.verdict === "FAILED" ? "FAILED" : "UNKNOWN", run };
  if (gates && gates.some((g) => !g.ok)) return { state: "GATE_FAILED", run, gates };
  return { state: "SUCCEEDED", run, ...(gates && gates.length > 0 && { gates }) };
}

/** The host's record, turned into a run: ENDED gives the verdict; anything else leaves it unknown. */
function runFromRecord(startedAt: string, rec: HostRecord): NonNullable<PlanHost["run"]> {
  const e = rec.entry;
  if (e && e.state === "ENDED" && e.verdict) {
    return { startedAt, endedAt: e.endedAt ?? new Date().toISOString(), verdict: e.verdict, reconciled: "ENDED", ...(e.verdict === "FAILED" && { error: { code: "ACTION_FAILED", message: (e.reason ?? "the action failed on the host").slice(0, 4000) } }) };
  }
  if (e && e.state === "VOIDED") {
    return { startedAt, endedAt: new Date().toISOString(), verdict: "FAILED", reconciled: "NOT_STARTED", error: { code: "NOT_STARTED", message: "the host's helper never started it, and now never will (its record of the request is void)" } };
  }
  const why = rec.unreadable ? `its record cannot be read: ${rec.unreadable}` : e?.state === "STARTED" ? `it started at ${e.startedAt} and ${rec.running ? "is still running" : "never finished (interrupted)"}` : "the host has no record of it";
  return { startedAt, reconciled: "INTERRUPTED", error: { code: "OUTCOME_UNKNOWN", message: `the outcome is unknown: ${why}` } };
}

type Run = NonNullable<PlanHost["run"]>;

/**
 * Runs one part of the plan on a host: its action (`undo` false) or its rollback. A lost connection
 * is settled from the host's own record of that request. An undo that is refused (it already ran:
 * a resumed roll-out) is settled from its record too.
 */
async function runPart(service: RolloutService, world: RolloutWorld, r: RolloutRecord, host: PlanHost, undo: boolean, startedAt: string): Promise<Run> {
  const requestId = undo ? rolloutUndoRequestId(r.id, host.index) : rolloutRequestId(r.id, host.index);
  const label = undo ? `${host.host} (rollback)` : host.host;
  let part: Approval;
  try {
    part = await service.partFor(r, host.index, undo);
  } catch (err) {
    // This broker's own failure, before anything was sent: nothing to ask the host (a ledger query would void the id).
    return { startedAt, endedAt: new Date().toISOString(), verdict: "FAILED", error: { code: "BROKER_ERROR", message: `the host's part could not be made: ${(err as Error).message.slice(0, 3000)}; nothing was sent` } };
  }
  try {
    const result = await world.execute(host, part, (line) => world.progress(`${label}: ${line}`));
    let hasResult = false;
    if (!undo) {
      try {
        hasResult = await service.saveResult(r, host.index, result);
      } catch (err) {
        world.progress(`${label}: its result could not be stored (${(err as Error).message.slice(0, 200)}); its verdict is kept in the record`);
      }
    }
    return { startedAt, endedAt: new Date().toISOString(), verdict: result.verdict, ...(hasResult && { hasResult }), ...(result.verdict === "FAILED" && { error: { code: "ACTION_FAILED", message: (result.reason ?? "the action failed").slice(0, 4000) } }) };
  } catch (err) {
    const e = toHostError(err);
    const failed: Run = { startedAt, endedAt: new Date().toISOString(), verdict: "FAILED", error: { code: e.code.slice(0, 64), message: e.message.slice(0, 4000) } };
    if (!UNCERTAIN_CODES.has(e.code) && !undo) return failed;
    // Lost the host mid-action (it may have run), or an undo refused (it may have run already): its own record says.
    try {
      const settled = runFromRecord(startedAt, await world.hostRecord(host, requestId));
      return undo && settled.reconciled === "NOT_STARTED" ? failed : settled;
    } catch (again) {
      return { startedAt, reconciled: "INTERRUPTED", error: { code: "OUTCOME_UNKNOWN", message: `the connection was lost while it ran (${e.code}: ${e.message.slice(0, 300)}) and the host's record could not be read (${toHostError(again).message.slice(0, 300)})` } };
    }
  }
}

function gatesText(gates: readonly GateOutcome[]): string {
  return gates.map((g) => `${g.diagnostic} ${g.ok ? "held" : `failed${g.error ? ` (${g.error.code})` : `: ${g.conditions.filter((c) => !c.ok).map((c) => `${c.text}, saw ${JSON.stringify(c.seen)}`).join("; ")}`}`}`).join(", ");
}

/** A host whose gate failed, rolled back with the plan's inverse and gated again (the plan asked for it). */
async function rollBack(service: RolloutService, world: RolloutWorld, r: RolloutRecord, host: PlanHost, failed: HostOutcome): Promise<HostOutcome> {
  world.progress(`${host.host}: a gate failed; rolling back with ${r.approval!.statement.rollback}`);
  const run = await runPart(service, world, r, host, true, new Date().toISOString());
  if (run.verdict !== "SUCCEEDED") return { ...failed, state: run.verdict === "FAILED" ? "GATE_FAILED" : "UNKNOWN", rollback: { run } };
  const gates = r.strategy.gates.length > 0 ? await gatesOn(world, host, r.strategy.gates) : [];
  world.progress(`${host.host}: rolled back; gates again: ${gatesText(gates) || "(none)"}`);
  return { ...failed, state: gates.every((g) => g.ok) ? "ROLLED_BACK" : "GATE_FAILED", rollback: { run, ...(gates.length > 0 && { gates }) } };
}

async function runHost(service: RolloutService, world: RolloutWorld, r: RolloutRecord, host: PlanHost): Promise<HostOutcome> {
  const run = await runPart(service, world, r, host, false, host.run?.startedAt ?? new Date().toISOString());
  const gates = run.verdict === "SUCCEEDED" && r.strategy.gates.length > 0 ? await gatesOn(world, host, r.strategy.gates) : undefined;
  let outcome = outcomeOf(run, gates);
  world.progress(`${host.host}: ${outcome.state}${outcome.run?.error ? ` (${outcome.run.error.code}: ${outcome.run.error.message.slice(0, 200)})` : ""}${gates ? `; gates: ${gatesText(gates)}` : ""}`);
  if (outcome.state === "GATE_FAILED" && r.approval?.statement.rollback) outcome = await rollBack(service, world, r, host, outcome);
  return outcome;
}

/** Settles the hosts a dead broker left RUNNING from their hosts' records (never by running them again). */
async function settleInterrupted(service: RolloutService, world: RolloutWorld, r: RolloutRecord, callId: string): Promise<RolloutRecord | null> {
  const left = r.hosts.filter((h) => h.state === "RUNNING");
  if (left.length === 0) return r;
  const results = new Map<number, HostOutcome>();
  await eachLimited(left, world.concurrency, async (h) => {
    {
      let run: NonNullable<PlanHost["run"]>;
      try {
        run = runFromRecord(h.run?.startedAt ?? new Date().toISOString(), await world.hostRecord(h, rolloutRequestId(r.id, h.index)));
      } catch (err) {
        run = { startedAt: h.run?.startedAt ?? new Date().toISOString(), reconciled: "INTERRUPTED", error: { code: "OUTCOME_UNKNOWN", message: `the host's record could not be read: ${toHostError(err).message.slice(0, 300)}` } };
      }
      const gates = run.verdict === "SUCCEEDED" && r.strategy.gates.length > 0 ? await gatesOn(world, h, r.strategy.gates) : undefined;
      let outcome = outcomeOf(run, gates);
      if (r.approval?.statement.rollback && run.verdict === "SUCCEEDED") {
        if (outcome.state === "GATE_FAILED") {
          // Roll it back now; if the previous broker already did, the host refuses the undo and its record says how it ended.
          outcome = await rollBack(service, world, r, h, outcome);
        } else {
          // The gates hold: was that after a rollback the previous broker ran? (A missing undo is voided: no longer needed.)
          try {
            const undone = runFromRecord(new Date().toISOString(), await world.hostRecord(h, rolloutUndoRequestId(r.id, h.index)));
            if (undone.reconciled !== "NOT_STARTED") outcome = { ...outcome, state: undone.verdict === "SUCCEEDED" ? "ROLLED_BACK" : undone.verdict === "FAILED" ? "GATE_FAILED" : "UNKNOWN", rollback: { run: undone, ...(gates && { gates }) } };
          } catch (err) {
            outcome = { ...outcome, state: "UNKNOWN", rollback: { run: { startedAt: new Date().toISOString(), reconciled: "INTERRUPTED", error: { code: "OUTCOME_UNKNOWN", message: `whether it was rolled back cannot be read from the host: ${toHostError(err).message.slice(0, 300)}` } } } };
          }
        }
      }
      results.set(h.index, outcome);
      world.progress(`${h.host}: settled from the host's record: ${outcome.state}`);
    }
  });
  const failures = r.hosts.filter((h) => (results.get(h.index)?.state ?? h.state) !== "RUNNING" && FAILED_STATES.has(results.get(h.index)?.state ?? h.state)).length;
  return service.endBatch(r.id, r.execution!.batch, results, failures, callId);
}

/**
 * Runs (or resumes) roll-out `id` to its end. Refused (ok: false) when it is not APPROVED, or is
 * RUNNING in a live broker process. Never throws for a host's failure: that is the host's state.
 */
export async function runRollout(service: RolloutService, world: RolloutWorld, id: string, callId: string): Promise<{ ok: true; record: RolloutRecord } | { ok: false; reason: string; record?: RolloutRecord }> {
  const begun = await service.begin(id, callId);
  if (!begun.ok) return begun;
  // The lease: renewed while this process runs it; a renewal refused means another broker took it
  // over (this one was frozen past the lease, or the clock jumped): nothing more is started here.
  let lost = false;
  let renewing: Promise<void> = Promise.resolve();
  const lease = setInterval(() => {
    renewing = service.renew(id).then(
      (ok) => {
        if (!ok) lost = true;
      },
      () => undefined, // busy or unwritable now: the next renewal tries again, well within the lease
    );
  }, service.renewMs);
  lease.unref();
  try {
    return await runOwned(service, world, id, callId, begun, () => lost);
  } finally {
    clearInterval(lease);
    await renewing;
  }
}

async function runOwned(
  service: RolloutService,
  world: RolloutWorld,
  id: string,
  callId: string,
  begun: { record: RolloutRecord; resumed?: boolean },
  lost: () => boolean,
): Promise<{ ok: true; record: RolloutRecord } | { ok: false; reason: string; record?: RolloutRecord }> {
  let r = begun.record;
  const takenOver = (): { ok: false; reason: string } => ({ ok: false, reason: `roll-out ${id} was taken over by another broker (this one held it past its lease); this broker starts nothing more` });
  const budget = failureBudget(r.strategy, r.hosts.length);
  const batches = batchCount(r);
  const canaryBatch = r.strategy.canaries > 0 ? 0 : -1;
  const halted = (reason: string) => service.end(id, "HALTED", reason, callId);
  // The plan's previews are read (and checked against their entries) before any host is contacted:
  // a missing or changed previews file halts it here, naming the file, with no request id spent.
  try {
    await service.plan(r);
  } catch (err) {
    return { ok: true, record: await halted(`its plan cannot be read: ${(err as Error).message}; nothing more was sent to any host`) };
  }

  if (begun.resumed) {
    world.progress(`resuming ${id} at batch ${r.execution!.batch + 1} of ${batches}: hosts the previous broker left running are settled from their own records`);
    const settled = await settleInterrupted(service, world, r, callId);
    if (!settled) return takenOver();
    r = settled;
    const unknown = r.hosts.filter((h) => h.state === "UNKNOWN");
    if (unknown.length > 0) return { ok: true, record: await halted(`resumed after the broker stopped: the outcome on ${someHosts(unknown)} cannot be known from the host's record; stopped before the next batch — check those hosts`) };
  }

  // A resumed roll-out still waits out the pause after the batch the previous broker ended.
  let lastEnded = r.execution?.lastBatchEndedAt ? Date.parse(r.execution.lastBatchEndedAt) : undefined;
  for (let b = r.execution!.batch; b < batches; b++) {
    if (lost()) return takenOver();
    const fresh = await service.files.get(id);
    if (!fresh) throw new Error(`roll-out ${id} disappeared`);
    r = fresh;
    const failures = r.hosts.filter((h) => FAILED_STATES.has(h.state)).length;
    if (b === canaryBatch + 1 && canaryBatch === 0 && r.hosts.some((h) => h.batch === 0 && h.state !== "SUCCEEDED")) {
      return { ok: true, record: await halted(`the canary batch failed (${someHosts(r.hosts.filter((h) => h.batch === 0 && h.state !== "SUCCEEDED"), (h) => `${h.host}: ${h.state}`)}); stopped before batch ${b + 1}`) };
    }
    // A host whose outcome is unknown may still be running: nothing more starts, whatever the budget.
    const unknownNow = r.hosts.filter((h) => h.state === "UNKNOWN");
    if (unknownNow.length > 0) return { ok: true, record: await halted(`the outcome on ${someHosts(unknownNow)} is unknown (the connection was lost and the host's record did not settle it); stopped before batch ${b + 1} — check those hosts`) };
    if (failures > budget) return { ok: true, record: await halted(`${failures} host(s) failed, more than the error budget of ${budget} (maxFailures ${JSON.stringify(r.strategy.maxFailures)}); stopped before batch ${b + 1}`) };
    if (r.execution?.cancelRequested) return { ok: true, record: await service.end(id, "CANCELLED", `cancelled by ${r.execution.cancelRequested.by}: ${r.execution.cancelRequested.reason}; stopped before batch ${b + 1}`, callId) };
    const hosts = r.hosts.filter((h) => h.batch === b && h.state === "PENDING");
    if (hosts.length === 0) continue;
    // The pause is between batches: after the previous batch's gates held (counted from its end,
    // also across a broker restart).
    if (lastEnded !== undefined && r.strategy.pauseSeconds > 0) {
      const until = lastEnded + r.strategy.pauseSeconds * 1000;
      if (until > Date.now()) world.progress(`pausing ${Math.ceil((until - Date.now()) / 1000)} s before batch ${b + 1}`);
      // In slices, so that cancel_rollout during the pause ends it within a second; the record is
      // read again only when it was written (a new version), not on every slice.
      let seen = await service.files.version(id);
      for (;;) {
        if (lost()) return takenOver();
        const version = await service.files.version(id);
        if (version !== seen) {
          seen = version;
          const after = await service.files.get(id);
          if (after?.execution?.cancelRequested) return { ok: true, record: await service.end(id, "CANCELLED", `cancelled by ${after.execution.cancelRequested.by}: ${after.execution.cancelRequested.reason}; stopped before batch ${b + 1}`, callId) };
        }
        const left = until - Date.now();
        if (left <= 0) break;
        await world.sleep(Math.min(left, PAUSE_SLICE_MS));
      }
      const after = await service.files.get(id);
      if (after?.execution?.cancelRequested) return { ok: true, record: await service.end(id, "CANCELLED", `cancelled by ${after.execution.cancelRequested.by}: ${after.execution.cancelRequested.reason}; stopped before batch ${b + 1}`, callId) };
    }
    // After the pause: the approval must still hold for the whole batch.
    if (seconds() + MIN_APPROVAL_LEFT_S > (r.approval?.statement.notAfter ?? 0)) {
      return { ok: true, record: await halted(`the approval expires at ${new Date((r.approval?.statement.notAfter ?? 0) * 1000).toISOString()}, too soon for batch ${b + 1} to run; propose a roll-out for the hosts left`) };
    }
    world.progress(`batch ${b + 1} of ${batches}${b === canaryBatch ? " (canary)" : ""}: ${someHosts(hosts)}`);
    if (lost()) return takenOver();
    const batchStarted = await service.startBatch(id, b, callId);
    if (batchStarted === "lost") return takenOver();
    if (batchStarted === "cancelled") return { ok: true, record: await service.end(id, "CANCELLED", `cancelled; stopped before batch ${b + 1}`, callId) };
    r = batchStarted;
    const results = new Map<number, HostOutcome>();
    const started = r;
    await eachLimited(hosts, world.concurrency, async (h) => {
      // Taken over while this batch runs (a batch larger than the concurrency): the rest of it is not sent.
      if (lost()) return;
      results.set(h.index, await runHost(service, world, started, h));
    });
    if (lost()) return takenOver();
    const failed = r.hosts.filter((h) => FAILED_STATES.has(results.get(h.index)?.state ?? h.state)).length;
    const ended = await service.endBatch(id, b, results, failed, callId);
    if (!ended) return takenOver();
    r = ended;
    lastEnded = Date.now();
  }
  const failures = r.hosts.filter((h) => FAILED_STATES.has(h.state)).length;
  const unknownAtEnd = r.hosts.filter((h) => h.state === "UNKNOWN");
  if (unknownAtEnd.length > 0) return { ok: true, record: await halted(`the outcome on ${someHosts(unknownAtEnd)} is unknown (the connection was lost and the host's record did not settle it) — check those hosts`) };
  if (canaryBatch === 0 && batches === 1 && r.hosts.some((h) => h.state !== "SUCCEEDED")) return { ok: true, record: await halted("the canary batch failed") };
  if (failures > budget) return { ok: true, record: await halted(`${failures} host(s) failed, more than the error budget of ${budget}`) };
  if (failures > 0) return { ok: true, record: await service.end(id, "SUCCEEDED", `${failures} host(s) failed, within the error budget of ${budget}`, callId) };
  return { ok: true, record: await service.end(id, "SUCCEEDED", undefined, callId) };
}
