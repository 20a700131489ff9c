// Change notices from PostgreSQL: a trigger on the actions and roll-outs tables sends
// pg_notify('hostward_state', {kind, id}) when a row is written (migrations.ts), by any broker or
// `hostward approve`; one connection per broker LISTENs while someone watches. A notice says only
// "look again": a malformed one is dropped, and after a lost connection the watch reconnects
// (notices sent meanwhile are lost — an update is delayed, never made wrong).
import type pg from "pg";
import { ACTION_ID } from "../../actions/request";
import { ROLLOUT_RECORD_ID } from "../../rollouts/record";
import type { StateChange, StateWatch } from "../store";

const RECONNECT_MS = 1_000;

export class PgStateWatch implements StateWatch {
  #listeners = new Set<(change: StateChange) => void>();
  #client: pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    private readonly connect: () => pg.Client,
    private readonly warn?: (message: string) => void,
  ) {}

  watch(listener: (change: StateChange) => void): () => void {
    this.#listeners.add(listener);
    this.#stopped = false;
    if (this.#listeners.size === 1) this.#start();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.stop();
    };
  }

  #start(): void {
    if (this.#client || this.#stopped) return;
    const client = this.connect();
    this.#client = client;
    const retry = (err: unknown) => {
      if (this.#client !== client) return;
      this.#client = undefined;
      client.end().catch(() => undefined);
      if (this.#stopped || this.#listeners.size === 0) return;
      this.warn?.(`change notices from the state database stopped (${(err as Error).message}); reconnecting`);
      this.#timer = setTimeout(() => this.#start(), RECONNECT_MS);
      this.#timer.unref();
    };
    client.on("error", retry);
    client.on("end", () => retry(new Error("connection ended")));
    client.on("notification", (n) => {
      if (n.channel !== "hostward_state" || n.payload === undefined || n.payload.length > 512) return;
      let change: unknown;
      try {
        change = JSON.parse(n.payload);
      } catch {
        return;
      }
      const c = change as { kind?: unknown; id?: unknown };
      if (typeof c.id !== "string") return;
      const ok = (c.kind === "action" && ACTION_ID.test(c.id)) || (c.kind === "rollout" && ROLLOUT_RECORD_ID.test(c.id));
      if (!ok) return;
      for (const l of this.#listeners) l({ kind: c.kind as "action" | "rollout", id: c.id });
    });
    client
      .connect()
      .then(() => client.query("LISTEN hostward_state"))
      .catch(retry);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    client?.end().catch(() => undefined);
  }
}
