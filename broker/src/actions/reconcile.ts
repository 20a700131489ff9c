// Reconciliation: the broker's state of an action meets the host's own record. A request whose
// outcome the broker lost — its broker killed while it ran (RUNNING → FAILED OUTCOME_UNKNOWN), or
// the connection to its agent lost mid-stream (FAILED UNAVAILABLE…) — is settled from its host's
// helper ledger the next time the broker can ask: at start, on get_action and list_actions, and
// right after an execution that lost its host.
import type { Broker } from "../broker";
import { fetchHostRecord } from "./host-record";
import { needsReconciliation, type ActionRequest } from "./request";
import type { ActionService } from "./service";

/** How long one question to a host may take (get_action waits for it). */
const ASK_TIMEOUT_MS = 5_000;

/** Settles `request` from its host's record if it needs it and the host answers; else returns it as is. */
export async function reconcileWithHost(broker: Broker, service: ActionService, request: ActionRequest): Promise<ActionRequest> {
  if (!needsReconciliation(request)) return request;
  const host = broker.config.current.hosts.find((h) => h.name === request.host);
  if (!host) return request;
  try {
    const record = await fetchHostRecord(broker.pool, host, request.id, ASK_TIMEOUT_MS);
    const settled = await service.reconcile(request.id, record);
    if (settled.changed) broker.logger.info({ actionId: request.id, host: request.host, state: settled.request?.state }, "action reconciled with the host's record");
    return settled.request ?? request;
  } catch (err) {
    // The host is still unreachable, or an older agent without a ledger: asked again next time.
    broker.logger.debug({ actionId: request.id, host: request.host, err: (err as Error).message }, "host record not available");
    return request;
  }
}

/** Reconciles every request that needs it (at most `limit`, concurrently). */
export async function reconcileAll(broker: Broker, service: ActionService, limit = 50): Promise<void> {
  const { requests } = await service.list();
  await Promise.all(requests.filter(needsReconciliation).slice(0, limit).map((r) => reconcileWithHost(broker, service, r)));
}
