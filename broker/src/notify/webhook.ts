// Tells a human that a proposal waits (broker.yaml notify.webhook): one POST per proposal, after it
// is recorded, in the background (a slow or failing receiver never holds the tool call), bounded by
// a deadline, redirects not followed, the outcome audited (notify.sent / notify.failed). What it
// says is built from the request's typed fields only — the host, the action, the impact, the id, the
// expiry and the command that approves it in a terminal — never the model's reason, never a token:
// a notice cannot approve anything, and cannot be made to look like it comes from anyone but the broker.
import { printable } from "../../../shared/printable";
import type { AuditStore } from "../state/store";
import type { BrokerConfig } from "../config/schema";

export interface WaitingProposal {
  /** act-… or ro-… */
  id: string;
  action: string;
  impact: string;
  /** One host, or "N hosts (target)" for a roll-out. */
  where: string;
  expiresAt: number;
}

type Webhook = NonNullable<BrokerConfig["settings"]["notify"]["webhook"]>;

function noticeText(p: WaitingProposal): string {
  const until = new Date(p.expiresAt * 1000).toISOString();
  return printable(`hostward: ${p.action} on ${p.where} (${p.impact} impact) waits for approval: ${p.id}. Review and approve it in a terminal with "hostward approve ${p.id}" (or in hostward approvals); it expires at ${until}.`);
}

/** The request a webhook receives for `p`, in the configured format. */
function webhookRequest(hook: Webhook, p: WaitingProposal): { headers: Record<string, string>; body: string } {
  const text = noticeText(p);
  const extra = hook.headers;
  switch (hook.format) {
    case "slack":
      return { headers: { "content-type": "application/json", ...extra }, body: JSON.stringify({ text }) };
    case "ntfy":
      return { headers: { "content-type": "text/plain; charset=utf-8", title: `hostward: ${p.action} waits for approval`, tags: "warning", ...extra }, body: text };
    default:
      return {
        headers: { "content-type": "application/json", ...extra },
        body: JSON.stringify({ text, id: p.id, host: p.where, action: p.action, impact: p.impact, expiresAt: new Date(p.expiresAt * 1000).toISOString(), howToApprove: `hostward approve ${p.id}` }),
      };
  }
}

export class Notifier {
  readonly #pending = new Set<Promise<void>>();

  constructor(
    private readonly config: () => BrokerConfig,
    private readonly audit: AuditStore,
    private readonly warn: (message: string) => void,
  ) {}

  /** Sends the notice in the background; never throws. */
  proposed(p: WaitingProposal): void {
    const hook = this.config().settings.notify.webhook;
    if (!hook) return;
    const sent = this.#send(hook, p).finally(() => this.#pending.delete(sent));
    this.#pending.add(sent);
  }

  /** Resolves once every notice in flight has been sent or has failed (for a clean stop, and tests). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
  }

  async #send(hook: Webhook, p: WaitingProposal): Promise<void> {
    const { headers, body } = webhookRequest(hook, p);
    const target = new URL(hook.url);
    const where = `${target.protocol}//${target.host}${target.pathname}`; // never the query (it may hold a token)
    const started = Date.now();
    let outcome: { ok: true; status: number } | { ok: false; why: string };
    try {
      const res = await fetch(hook.url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(hook.timeoutMs) });
      await res.body?.cancel().catch(() => undefined);
      outcome = res.status >= 200 && res.status < 300 ? { ok: true, status: res.status } : { ok: false, why: `the receiver answered HTTP ${res.status}` };
    } catch (err) {
      const e = err as Error;
      outcome = { ok: false, why: e.name === "TimeoutError" ? `no answer within ${hook.timeoutMs} ms` : e.message };
    }
    const durationMs = Date.now() - started;
    if (!outcome.ok) this.warn(`notice for ${p.id} to ${where} failed: ${outcome.why}`);
    try {
      await this.audit.append(
        outcome.ok
          ? { event: "notify.sent", id: p.id, to: where, format: hook.format, status: outcome.status, durationMs }
          : { event: "notify.failed", id: p.id, to: where, format: hook.format, why: outcome.why.slice(0, 500), durationMs },
      );
    } catch (err) {
      this.warn(`the notice's audit record could not be written: ${(err as Error).message}`);
    }
  }
}
