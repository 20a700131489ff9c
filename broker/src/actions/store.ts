// Persisted action requests: one JSON file per request in <stateDir>/actions/<id>.json, written
// atomically (temporary file, fsync, rename, fsync of the directory) so a crash leaves either the
// old or the new version, never half a file; a broker restart loses nothing. Every change is a
// checked state transition made under the request's kernel lock (file-lock.ts: never broken while its
// holder lives, however long it pauses), so `hostward approve` in a terminal and `hostward serve`
// processes cannot interleave a read-check-write.
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { createFileDurably, replaceFileDurably } from "../state/record-files";
import { basename, join } from "node:path";
import { LockBusyError, withFileLock } from "../file-lock";
import { describeIssues } from "../../../shared/zod-issues";
import type { ActionStateStore, TransitionOptions, TransitionResult } from "../state/store";
import { ACTION_ID, ActionRequestSchema, canTransition, type ActionRequest, type ActionState } from "./request";

const ACTIONS_DIR = "actions";
/** Largest request file read back (a request is a few KiB). */
const MAX_FILE_BYTES = 256 * 1024;
/** How long a state change waits for a request another process is changing. */
const LOCK_WAIT_MS = 5_000;
/** list() reads at most this many files. */
const MAX_LISTED_FILES = 10_000;

class StoreError extends Error {
  override name = "StoreError";
}

export type { TransitionResult } from "../state/store";

/**
 * The checks of a transition and the request it leads to (every store makes the same decision):
 * `current` must be in one of `from` and allowed to move to `to`, and pass `guard`.
 */
export function decideTransition(current: ActionRequest, to: ActionState, options: TransitionOptions): TransitionResult {
  if (!options.from.includes(current.state) || !canTransition(current.state, to, options.reconcile)) {
    return { ok: false, reason: `action ${current.id} is ${current.state}, not ${options.from.join(" or ")}`, request: current };
  }
  const refused = options.guard?.(current);
  if (refused !== undefined) return { ok: false, reason: refused, request: current };
  const at = (options.now ?? new Date()).toISOString();
  const next = ActionRequestSchema.parse({
    ...current,
    ...options.patch?.(current),
    state: to,
    updatedAt: at,
    history: [...current.history, { state: to, at, by: options.by }].slice(-32),
  });
  return { ok: true, request: next };
}

export class ActionStore implements ActionStateStore {
  readonly dir: string;

  get location(): string {
    return this.dir;
  }

  constructor(stateDir: string) {
    this.dir = join(stateDir, ACTIONS_DIR);
  }

  #file(id: string): string {
    if (!ACTION_ID.test(id)) throw new StoreError(`not an action id: ${JSON.stringify(id.slice(0, 40))}`);
    return join(this.dir, `${id}.json`);
  }

  #ensureDir(): void {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new StoreError(`cannot create ${this.dir}: ${(err as Error).message}`);
    }
  }

  #write(request: ActionRequest, exclusive: boolean): void {
    const file = this.#file(request.id);
    const data = `${JSON.stringify(request, null, 2)}\n`;
    // A new request never replaces an existing one (ids are random; a clash is refused, not merged).
    if (exclusive) createFileDurably(file, this.dir, data);
    else {
      try {
        replaceFileDurably(file, this.dir, data);
      } catch (err) {
        throw new StoreError((err as Error).message);
      }
    }
  }

  #read(id: string): ActionRequest | undefined {
    const file = this.#file(id);
    let text: string;
    try {
      const buf = readFileSync(file);
      if (buf.length > MAX_FILE_BYTES) throw new StoreError(`${file} is larger than ${MAX_FILE_BYTES} bytes`);
      text = buf.toString("utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      if (err instanceof StoreError) throw err;
      throw new StoreError(`cannot read ${file}: ${(err as Error).message}`);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new StoreError(`${file} is not valid JSON: ${(err as Error).message}`);
    }
    const parsed = ActionRequestSchema.safeParse(value);
    if (!parsed.success) throw new StoreError(`${file} is not a valid action request: ${describeIssues(parsed.error, { max: 1 })}`);
    if (parsed.data.id !== id) throw new StoreError(`${file} holds request ${parsed.data.id}, not ${id}`);
    return parsed.data;
  }

  /** Persists a new request (it must not exist yet). */
  async create(request: ActionRequest): Promise<ActionRequest> {
    const parsed = ActionRequestSchema.parse(request);
    this.#ensureDir();
    await this.#locked(parsed.id, () => this.#write(parsed, true));
    return parsed;
  }

  async #locked<T>(id: string, fn: () => T | Promise<T>): Promise<T> {
    try {
      // Lock files are never removed (removing one another process may be waiting on would let two in).
      return await withFileLock(join(this.dir, "locks", `${basename(this.#file(id))}.lock`), fn, LOCK_WAIT_MS);
    } catch (err) {
      if (err instanceof LockBusyError) throw new StoreError(`action request ${id} is busy in another hostward process: ${err.message}`);
      throw err;
    }
  }

  async get(id: string): Promise<ActionRequest | undefined> {
    return this.#read(id);
  }

  /**
   * Moves a request from one of `from` to `to` and applies `patch`, all under its lock. `before`
   * runs under the lock after the checks and before the write: if it throws (e.g. the audit record
   * of the change cannot be written) nothing changes.
   */
  async transition(
    id: string,
    to: ActionState,
    options: TransitionOptions,
  ): Promise<TransitionResult> {
    this.#ensureDir();
    return this.#locked(id, async (): Promise<TransitionResult> => {
      const current = this.#read(id);
      if (!current) return { ok: false, reason: `no action request ${id}` };
      const decided = decideTransition(current, to, options);
      if (!decided.ok) return decided;
      await options.before?.(decided.request);
      this.#write(decided.request, false);
      return decided;
    });
  }

  /** Requests, newest first; unreadable files are reported, not fatal. */
  async list(): Promise<{ requests: ActionRequest[]; problems: string[] }> {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return { requests: [], problems: [] };
      throw new StoreError(`cannot list ${this.dir}: ${(err as Error).message}`);
    }
    const ids = names
      .filter((n) => n.endsWith(".json"))
      .map((n) => n.slice(0, -".json".length))
      .filter((id) => ACTION_ID.test(id))
      .slice(0, MAX_LISTED_FILES);
    const requests: ActionRequest[] = [];
    const problems: string[] = [];
    for (const id of ids) {
      try {
        const r = this.#read(id);
        if (r) requests.push(r);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    requests.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.id.localeCompare(b.id)));
    return { requests, problems };
  }
}
