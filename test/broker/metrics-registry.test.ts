// broker/src/metrics.ts in process: the audit store's wrapper counts without changing what the
// store does, and the scrape-time gauges read the stores (and write nothing).
import { RolloutFiles } from "../../broker/src/state/rollout-files";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ChannelPool } from "../../broker/src/agents/channels";
import type { ActionRequest } from "../../broker/src/actions/request";
import { BrokerMetrics, countedAudit } from "../../broker/src/metrics";
import type { ActionStateStore, AuditStore, Written } from "../../broker/src/state/store";

const dir = mkdtempSync(join(tmpdir(), "hw-metrics-reg-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function line(text: string, name: string): string | undefined {
  return text.split("\n").find((l) => l.startsWith(name));
}

describe("countedAudit", () => {
  it("counts records appended, write failures and fsync failures; passes results and errors through", async () => {
    const metrics = new BrokerMetrics();
    const boom = new Error("disk full");
    let fail = false;
    const durableFail = Promise.reject(new Error("fsync failed"));
    durableFail.catch(() => undefined);
    const inner: AuditStore = {
      location: "/x/audit.jsonl",
      append: async () => {
        if (fail) throw boom;
      },
      appendWaiting: async () => undefined,
      appendDeferred: async (): Promise<Written> => ({ durable: Promise.resolve() }),
      appendLazy: async (): Promise<Written> => ({ durable: durableFail }),
      appendLazyWaiting: async (): Promise<Written> => ({ durable: Promise.resolve() }),
      close: async () => undefined,
      tail: async () => ({ records: [], problems: [] }),
    };
    const audit = countedAudit(inner, metrics);
    expect(audit.location).toBe("/x/audit.jsonl");
    await audit.append({ event: "a" } as never, { event: "b" } as never);
    await audit.appendWaiting(10, { event: "c" } as never);
    await audit.appendDeferred({ event: "d" } as never);
    const lazy = await audit.appendLazy({ event: "e" } as never);
    await expect(lazy.durable).rejects.toThrow("fsync failed"); // the caller still sees the store's own promise
    fail = true;
    await expect(audit.append({ event: "f" } as never)).rejects.toBe(boom);
    const text = (await metrics.render()).body;
    expect(line(text, "hostward_audit_appends_total ")).toBe("hostward_audit_appends_total 5");
    expect(line(text, 'hostward_audit_append_failures_total{stage="write"}')).toBe('hostward_audit_append_failures_total{stage="write"} 1');
    expect(line(text, 'hostward_audit_append_failures_total{stage="fsync"}')).toBe('hostward_audit_append_failures_total{stage="fsync"} 1');
  });
});

describe("scrape-time gauges", () => {
  it("pending approvals count PENDING and APPROVED requests that have not expired; a scrape writes nothing", async () => {
    const metrics = new BrokerMetrics();
    const now = Math.floor(Date.now() / 1000);
    const requests = [
      { state: "PENDING", expiresAt: now + 600 },
      { state: "PENDING", expiresAt: now + 600 },
      { state: "PENDING", expiresAt: now - 1 }, // expired, not yet moved: not pending
      { state: "APPROVED", expiresAt: now + 600 },
      { state: "SUCCEEDED", expiresAt: now + 600 },
    ] as unknown as ActionRequest[];
    const actions = { list: async () => ({ requests, problems: [] }) } as unknown as ActionStateStore;
    const stateDir = join(dir, "state");
    // The scrape is given no audit store at all: it has nothing it could write a record with.
    const pool = { clientCertificate: (role: string) => (role === "reader" ? { role, file: "r.crt", notBefore: new Date(), notAfter: new Date(Date.now() + 3_600_000) } : undefined) } as unknown as ChannelPool;
    metrics.attach({ actions, pool, rollouts: new RolloutFiles(stateDir) });
    metrics.hostResult("get_load", "web1", "OK", 12);
    metrics.hostResult("get_load", "web2", "POLICY_DENIED", undefined);
    const text = (await metrics.render()).body;
    expect(line(text, 'hostward_pending_approvals{kind="action",state="PENDING"}')).toBe('hostward_pending_approvals{kind="action",state="PENDING"} 2');
    expect(line(text, 'hostward_pending_approvals{kind="action",state="APPROVED"}')).toBe('hostward_pending_approvals{kind="action",state="APPROVED"} 1');
    expect(line(text, 'hostward_pending_approvals{kind="rollout",state="PENDING"}')).toBe('hostward_pending_approvals{kind="rollout",state="PENDING"} 0');
    expect(line(text, "hostward_rollout_hosts{")).toBeUndefined();
    const expiry = Number(line(text, 'hostward_client_certificate_expiry_seconds{role="reader"}')!.split(" ")[1]);
    expect(expiry).toBeGreaterThan(3500);
    expect(expiry).toBeLessThanOrEqual(3600);
    expect(line(text, 'hostward_client_certificate_expiry_seconds{role="operator"}')).toBeUndefined();
    expect(line(text, 'hostward_tool_calls_total{tool="get_load",host="web2",outcome="POLICY_DENIED"}')).toMatch(/ 1$/);
    expect(line(text, 'hostward_host_call_duration_seconds_count{tool="get_load",host="web1"}')).toMatch(/ 1$/);
    expect(line(text, 'hostward_host_call_duration_seconds_count{tool="get_load",host="web2"}')).toBeUndefined();
    expect(readdirSync(dir)).toEqual([]); // not even a roll-outs directory was created
  });
});
