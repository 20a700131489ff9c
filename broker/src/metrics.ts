// The broker's Prometheus metrics (prom-client), one registry per broker process, served at GET
// /metrics by `serve --http` (mcp/http.ts). Updated from the existing seams only: the host-call
// path (mcp/host-call.ts: each host's outcome and duration), the tools' handlers (mcp/tools/index.ts),
// and the audit store, wrapped here (counts appends and failures; the records, their order and
// their errors are the store's own). Gauges of state (pending approvals, running roll-outs,
// certificate expiry) are computed when scraped, by reading the stores: a scrape writes nothing
// (no audit record, no expiry transition).
//
// Label cardinality is bounded: `tool` is one of the broker's tools; `host` is only ever a host of
// the inventory (the host-call path labels the hosts it resolved from hosts.yaml, never a name a
// caller typed); `outcome` is "OK" or a host-call error code; `rollout` only names RUNNING
// roll-outs; `role` is reader or operator.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { ChannelPool } from "./agents/channels";
import type { ClientRole } from "./agents/client-cert";
import type { AuditRecordInput } from "./audit/records";
import type { RolloutRecordStore } from "./state/store";
import type { ActionStateStore, AuditStore, Written } from "./state/store";

/** Host-call durations: a reader answers in ms; the fan-out deadline is 10 s by default. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface MetricsSources {
  actions: ActionStateStore;
  /** Read-only use: its record files (`files.ids`/`files.get`), never `get`, which expires records. */
  rollouts: RolloutRecordStore;
  pool: ChannelPool;
}

export class BrokerMetrics {
  readonly registry = new Registry();
  readonly hostCalls: Counter<"tool" | "host" | "outcome">;
  readonly hostCallDuration: Histogram<"tool" | "host">;
  readonly toolCalls: Counter<"tool" | "outcome">;
  readonly auditAppends: Counter;
  readonly auditFailures: Counter<"stage">;
  #sources: MetricsSources | undefined;

  constructor() {
    const registers = [this.registry];
    this.hostCalls = new Counter({
      name: "hostward_tool_calls_total",
      help: "Per-host results of host-touching tool calls, by tool, inventory host and outcome (OK, POLICY_DENIED or the host's error code).",
      labelNames: ["tool", "host", "outcome"],
      registers,
    });
    this.hostCallDuration = new Histogram({
      name: "hostward_host_call_duration_seconds",
      help: "Time one host took to answer a tool call (hosts that were called; denied hosts are not).",
      labelNames: ["tool", "host"],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.toolCalls = new Counter({
      name: "hostward_tool_invocations_total",
      help: "MCP tool calls, by tool and outcome (ok, error, ask: an approval form was asked for).",
      labelNames: ["tool", "outcome"],
      registers,
    });
    this.auditAppends = new Counter({ name: "hostward_audit_appends_total", help: "Audit records written by this broker process.", registers });
    this.auditFailures = new Counter({
      name: "hostward_audit_append_failures_total",
      help: "Audit appends that failed (stage write: nothing was written; stage fsync: written, not made durable).",
      labelNames: ["stage"],
      registers,
    });
    const pending: Gauge<"kind" | "state"> = new Gauge({
      name: "hostward_pending_approvals",
      help: "Action requests and roll-outs waiting for a human (PENDING) or for execution (APPROVED), not expired.",
      labelNames: ["kind", "state"],
      registers,
      collect: () => this.#collectPending(pending),
    });
    const rollouts: Gauge<"rollout" | "state"> = new Gauge({
      name: "hostward_rollout_hosts",
      help: "Hosts of each RUNNING roll-out, by host state.",
      labelNames: ["rollout", "state"],
      registers,
      collect: () => this.#collectRollouts(rollouts),
    });
    const certificates: Gauge<"role"> = new Gauge({
      name: "hostward_client_certificate_expiry_seconds",
      help: "Seconds until the broker's client certificate for the role expires (negative: expired).",
      labelNames: ["role"],
      registers,
      collect: () => this.#collectCertificates(certificates),
    });
  }

  /** The stores the scrape-time gauges read (set once the broker's parts exist). */
  attach(sources: MetricsSources): void {
    this.#sources = sources;
  }

  /** One host's result of a host-touching call (mcp/host-call.ts). */
  hostResult(tool: string, host: string, outcome: string, durationMs: number | undefined): void {
    this.hostCalls.inc({ tool, host, outcome });
    if (durationMs !== undefined) this.hostCallDuration.observe({ tool, host }, durationMs / 1000);
  }

  /** The Prometheus text exposition. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  async #collectPending(gauge: Gauge<"kind" | "state">): Promise<void> {
    gauge.reset();
    const sources = this.#sources;
    if (!sources) return;
    const now = Math.floor(Date.now() / 1000);
    const counts = { action: { PENDING: 0, APPROVED: 0 }, rollout: { PENDING: 0, APPROVED: 0 } };
    const { requests } = await sources.actions.list().catch(() => ({ requests: [] }));
    for (const r of requests) if ((r.state === "PENDING" || r.state === "APPROVED") && r.expiresAt > now) counts.action[r.state] += 1;
    for (const r of await this.#rollouts()) if ((r.state === "PENDING" || r.state === "APPROVED") && r.expiresAt > now) counts.rollout[r.state] += 1;
    for (const kind of ["action", "rollout"] as const) for (const state of ["PENDING", "APPROVED"] as const) gauge.set({ kind, state }, counts[kind][state]);
  }

  async #collectRollouts(gauge: Gauge<"rollout" | "state">): Promise<void> {
    gauge.reset();
    for (const r of await this.#rollouts()) {
      if (r.state !== "RUNNING") continue;
      const byState = new Map<string, number>();
      for (const h of r.hosts) byState.set(h.state, (byState.get(h.state) ?? 0) + 1);
      for (const [state, n] of byState) gauge.set({ rollout: r.id, state }, n);
    }
  }

  /** Roll-out records read from their files as they are (no expiry written). */
  async #rollouts(): Promise<{ id: string; state: string; expiresAt: number; hosts: { state: string }[] }[]> {
    const sources = this.#sources;
    if (!sources) return [];
    const out = [];
    try {
      const files = sources.rollouts;
      for (const id of await files.ids()) {
        try {
          const r = await files.get(id);
          if (r) out.push(r);
        } catch {
          // An unreadable record is get_rollout's to report.
        }
      }
    } catch {
      // No roll-outs directory yet.
    }
    return out;
  }

  #collectCertificates(gauge: Gauge<"role">): void {
    gauge.reset();
    const pool = this.#sources?.pool;
    if (!pool) return;
    for (const role of ["reader", "operator"] as ClientRole[]) {
      const v = pool.clientCertificate(role);
      if (v) gauge.set({ role }, Math.round((v.notAfter.getTime() - Date.now()) / 1000));
    }
  }
}

/**
 * The audit store, counted: every record written is an append, every throw a write failure, every
 * rejected `durable` an fsync failure. Results and errors pass through unchanged.
 */
export function countedAudit(inner: AuditStore, metrics: BrokerMetrics): AuditStore {
  const written = async (records: AuditRecordInput[], write: () => Promise<void>): Promise<void> => {
    try {
      await write();
    } catch (err) {
      metrics.auditFailures.inc({ stage: "write" });
      throw err;
    }
    metrics.auditAppends.inc(records.length);
  };
  const deferred = async (records: AuditRecordInput[], write: () => Promise<Written>): Promise<Written> => {
    let w: Written;
    try {
      w = await write();
    } catch (err) {
      metrics.auditFailures.inc({ stage: "write" });
      throw err;
    }
    metrics.auditAppends.inc(records.length);
    // Observed on the side; the caller still gets (and handles) the store's own promise.
    w.durable.catch(() => metrics.auditFailures.inc({ stage: "fsync" }));
    return w;
  };
  return {
    get location() {
      return inner.location;
    },
    append: (...records) => written(records, () => inner.append(...records)),
    appendWaiting: (waitMs, ...records) => written(records, () => inner.appendWaiting(waitMs, ...records)),
    appendDeferred: (...records) => deferred(records, () => inner.appendDeferred(...records)),
    appendLazy: (...records) => deferred(records, () => inner.appendLazy(...records)),
    appendLazyWaiting: (waitMs, ...records) => deferred(records, () => inner.appendLazyWaiting(waitMs, ...records)),
    close: () => inner.close(),
    tail: (n, maxBytes) => inner.tail(n, maxBytes),
  };
}
