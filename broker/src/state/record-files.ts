// Records as files: one JSON file per record in a directory, written atomically (temporary file,
// fsync, rename, fsync of the directory: a crash leaves the old or the new version, never half a
// file), each change made under the record's kernel lock (file-lock.ts) as a read-check-write, so
// several hostward processes (`serve`, `approve`, a second broker) never interleave one. Used by
// the roll-out store; the action store (actions/store.ts) uses its write helpers.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { z } from "zod";
import { LockBusyError, withFileLock } from "../file-lock";
import { describeIssues } from "../../../shared/zod-issues";

class RecordStoreError extends Error {
  override name = "RecordStoreError";
}

/**
 * fsync of a directory (makes a create or a rename in it durable). Windows cannot open a directory
 * (EISDIR/EPERM) and some file systems refuse fsync on one (EINVAL): nothing more can be done
 * there. Any other failure (EIO) is the caller's: the change may not survive a crash.
 */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EISDIR" && code !== "EPERM" && code !== "EINVAL" && code !== "EACCES") throw err;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Writes `data` to a new file (refused if it exists), fsync'd with its directory. */
export function createFileDurably(file: string, dir: string, data: string): void {
  const fd = openSync(file, "wx", 0o600);
  try {
    writeFileSync(fd, data); // loops over short writes (writeSync alone may write part of it)
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  fsyncDir(dir);
}

/** Replaces `file` with `data` atomically and durably (temporary file, fsync, rename, fsync of the directory). */
export function replaceFileDurably(file: string, dir: string, data: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    fsyncDir(dir);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // Nothing was created.
    }
    throw new RecordStoreError(`cannot write ${file}: ${(err as Error).message}`);
  }
}

export interface RecordFilesOptions<S extends z.ZodType<{ id: string }>> {
  dir: string;
  /** What a record is called in messages ("roll-out"). */
  noun: string;
  id: RegExp;
  schema: S;
  maxFileBytes: number;
  lockWaitMs: number;
}

export class RecordFiles<S extends z.ZodType<{ id: string }>> {
  constructor(readonly options: RecordFilesOptions<S>) {}

  get dir(): string {
    return this.options.dir;
  }

  #file(id: string): string {
    if (!this.options.id.test(id)) throw new RecordStoreError(`not a ${this.options.noun} id: ${JSON.stringify(id.slice(0, 40))}`);
    return join(this.dir, `${id}.json`);
  }

  #ensureDir(): void {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new RecordStoreError(`cannot create ${this.dir}: ${(err as Error).message}`);
    }
  }

  #read(id: string): z.output<S> | undefined {
    const file = this.#file(id);
    let text: string;
    try {
      const buf = readFileSync(file);
      if (buf.length > this.options.maxFileBytes) throw new RecordStoreError(`${file} is larger than ${this.options.maxFileBytes} bytes`);
      text = buf.toString("utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      if (err instanceof RecordStoreError) throw err;
      throw new RecordStoreError(`cannot read ${file}: ${(err as Error).message}`);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new RecordStoreError(`${file} is not valid JSON: ${(err as Error).message}`);
    }
    const parsed = this.options.schema.safeParse(value);
    if (!parsed.success) throw new RecordStoreError(`${file} is not a valid ${this.options.noun}: ${describeIssues(parsed.error, { max: 1 })}`);
    if (parsed.data.id !== id) throw new RecordStoreError(`${file} holds ${this.options.noun} ${parsed.data.id}, not ${id}`);
    return parsed.data;
  }

  #serialise(record: z.output<S>): string {
    const text = `${JSON.stringify(record)}\n`;
    if (Buffer.byteLength(text, "utf8") > this.options.maxFileBytes) throw new RecordStoreError(`${this.options.noun} ${record.id} would be larger than ${this.options.maxFileBytes} bytes; not written`);
    return text;
  }

  async #locked<T>(id: string, fn: () => T | Promise<T>): Promise<T> {
    try {
      // Lock files are never removed (removing one another process may be waiting on would let two in).
      return await withFileLock(join(this.dir, "locks", `${id}.json.lock`), fn, this.options.lockWaitMs);
    } catch (err) {
      if (err instanceof LockBusyError) throw new RecordStoreError(`${this.options.noun} ${id} is busy in another hostward process: ${err.message}`);
      throw err;
    }
  }

  /** Persists a new record (refused if one with its id exists). */
  async create(record: z.input<S>): Promise<z.output<S>> {
    const parsed = this.options.schema.parse(record);
    this.#ensureDir();
    const text = this.#serialise(parsed);
    await this.#locked(parsed.id, () => createFileDurably(this.#file(parsed.id), this.dir, text));
    return parsed;
  }

  async get(id: string): Promise<z.output<S> | undefined> {
    return this.#read(id);
  }

  /**
   * Under the record's lock: `change` sees the current record and returns the next one (validated
   * before it is written) or a refusal; `before(next)` runs after that and before the write — if it
   * throws (the audit record cannot be written), nothing changes.
   */
  async update(
    id: string,
    change: (current: z.output<S>) => { next: z.input<S> } | { refuse: string },
    before?: (next: z.output<S>, current: z.output<S>) => void | Promise<void>,
  ): Promise<{ ok: true; record: z.output<S> } | { ok: false; reason: string; record?: z.output<S> }> {
    this.#ensureDir();
    return this.#locked(id, async () => {
      const current = this.#read(id);
      if (!current) return { ok: false as const, reason: `no ${this.options.noun} ${id}` };
      const decided = change(current);
      if ("refuse" in decided) return { ok: false as const, reason: decided.refuse, record: current };
      const next = this.options.schema.parse(decided.next);
      const text = this.#serialise(next);
      await before?.(next, current);
      replaceFileDurably(this.#file(id), this.dir, text);
      return { ok: true as const, record: next };
    });
  }

  /**
   * A token that changes whenever the record is written (every write is a rename: a new inode), so
   * a poller re-reads only after a change. undefined: no such record.
   */
  version(id: string): string | undefined {
    try {
      const st = statSync(this.#file(id), { bigint: true });
      return `${st.ino}:${st.mtimeNs}:${st.size}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new RecordStoreError(`cannot read ${this.#file(id)}: ${(err as Error).message}`);
    }
  }

  /** Ids of the stored records (at most `max`), unordered. */
  ids(max = 10_000): string[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw new RecordStoreError(`cannot list ${this.dir}: ${(err as Error).message}`);
    }
    return names
      .filter((n) => n.endsWith(".json"))
      .map((n) => n.slice(0, -".json".length))
      .filter((id) => this.options.id.test(id))
      .slice(0, max);
  }
}
