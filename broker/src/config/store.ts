// Holds the live configuration and swaps it atomically on reload: a reload that fails validation
// leaves the previous configuration in place and reports why.
import type { BrokerConfig, HostEntry } from "./schema";
import { ConfigError, loadBrokerConfig } from "./load";

export interface ConfigChanges {
  added: string[];
  removed: string[];
  /** Hosts whose address, ports, tags or certName changed. */
  changed: string[];
  policyChanged: boolean;
  settingsChanged: boolean;
  /** users.jsonl: the names added and removed (a revoked user is removed). */
  usersAdded: string[];
  usersRemoved: string[];
}

export type ReloadOutcome = { ok: true; config: BrokerConfig; changes: ConfigChanges } | { ok: false; problems: string[] };

function diffConfigs(before: BrokerConfig, after: BrokerConfig): ConfigChanges {
  const old = new Map(before.hosts.map((h) => [h.name, h]));
  const next = new Map(after.hosts.map((h) => [h.name, h]));
  const same = (a: HostEntry, b: HostEntry) => JSON.stringify(a) === JSON.stringify(b);
  return {
    added: after.hosts.filter((h) => !old.has(h.name)).map((h) => h.name),
    removed: before.hosts.filter((h) => !next.has(h.name)).map((h) => h.name),
    changed: after.hosts.filter((h) => old.has(h.name) && !same(old.get(h.name)!, h)).map((h) => h.name),
    policyChanged: JSON.stringify(before.policy) !== JSON.stringify(after.policy),
    settingsChanged: JSON.stringify(before.settings) !== JSON.stringify(after.settings),
    usersAdded: after.users.filter((u) => !before.users.some((b) => b.name === u.name && b.sha256 === u.sha256)).map((u) => u.name),
    usersRemoved: before.users.filter((b) => !after.users.some((u) => u.name === b.name && u.sha256 === b.sha256)).map((u) => u.name),
  };
}

export class ConfigStore {
  #current: BrokerConfig;
  readonly #listeners = new Set<(config: BrokerConfig, changes: ConfigChanges) => void>();

  constructor(
    initial: BrokerConfig,
    private readonly load: (dir: string) => BrokerConfig = (dir) => loadBrokerConfig(dir),
  ) {
    this.#current = initial;
  }

  get current(): BrokerConfig {
    return this.#current;
  }

  /** Called after every successful reload (e.g. to close channels of changed hosts). */
  onChange(listener: (config: BrokerConfig, changes: ConfigChanges) => void): void {
    this.#listeners.add(listener);
  }

  /** Loads and validates the files without applying them. */
  prepare(): ReloadOutcome {
    let next: BrokerConfig;
    try {
      next = this.load(this.#current.dir);
    } catch (err) {
      if (err instanceof ConfigError) return { ok: false, problems: err.problems };
      return { ok: false, problems: [(err as Error).message] };
    }
    return { ok: true, config: next, changes: diffConfigs(this.#current, next) };
  }

  /** Swaps in a prepared configuration (one assignment: calls see the old or the new, never a mix). */
  commit(next: BrokerConfig): ConfigChanges {
    const changes = diffConfigs(this.#current, next);
    this.#current = next;
    for (const l of this.#listeners) l(next, changes);
    return changes;
  }

  reload(): ReloadOutcome {
    const prepared = this.prepare();
    if (prepared.ok) this.commit(prepared.config);
    return prepared;
  }
}
