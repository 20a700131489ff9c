// Roll-out records as files under <stateDir>/rollouts/: the record (<id>.json, atomic replace under
// the record's kernel lock: record-files.ts), the plan's previews written once beside it
// (<id>.previews.jsonl, one canonical JSON line per host) and each host's result once, when it ends
// (<id>.results/<index>.json), so a batch rewrites only the small record.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROLLOUT_RECORD_ID, RolloutRecordSchema, type RolloutRecord } from "../rollouts/record";
import { createFileDurably, RecordFiles } from "./record-files";
import type { RecordUpdate, RolloutRecordStore } from "./store";

/** A record is ~400 bytes a host: 32 MiB holds far more than the largest fleet a roll-out plans. */
const MAX_ROLLOUT_BYTES = 32 * 1024 * 1024;

export class RolloutFiles implements RolloutRecordStore {
  readonly records: RecordFiles<typeof RolloutRecordSchema>;

  constructor(stateDir: string) {
    this.records = new RecordFiles({ dir: join(stateDir, "rollouts"), noun: "roll-out", id: ROLLOUT_RECORD_ID, schema: RolloutRecordSchema, maxFileBytes: MAX_ROLLOUT_BYTES, lockWaitMs: 5_000 });
  }

  get location(): string {
    return this.records.dir;
  }

  #previewsFile(id: string): string {
    if (!ROLLOUT_RECORD_ID.test(id)) throw new Error(`not a roll-out id: ${id}`);
    return join(this.records.dir, `${id}.previews.jsonl`);
  }

  #resultFile(id: string, index: number): string {
    if (!ROLLOUT_RECORD_ID.test(id) || !Number.isSafeInteger(index) || index < 0) throw new Error(`not a roll-out host: ${id} ${index}`);
    return join(this.records.dir, `${id}.results`, `${index}.json`);
  }

  async create(record: RolloutRecord, previews: readonly string[]): Promise<RolloutRecord> {
    mkdirSync(this.records.dir, { recursive: true, mode: 0o700 });
    createFileDurably(this.#previewsFile(record.id), this.records.dir, previews.join("\n") + "\n");
    return this.records.create(record);
  }

  get(id: string): Promise<RolloutRecord | undefined> {
    return this.records.get(id);
  }

  update(
    id: string,
    change: (current: RolloutRecord) => { next: RolloutRecord } | { refuse: string },
    before?: (next: RolloutRecord, current: RolloutRecord) => void | Promise<void>,
  ): Promise<RecordUpdate<RolloutRecord>> {
    return this.records.update(id, change, before);
  }

  async ids(max?: number): Promise<string[]> {
    return this.records.ids(max);
  }

  async version(id: string): Promise<string | undefined> {
    return this.records.version(id);
  }

  async previews(id: string): Promise<string[]> {
    const file = this.#previewsFile(id);
    let lines: string[];
    try {
      lines = readFileSync(file, "utf8").split("\n");
    } catch (err) {
      throw new Error(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
    if (lines.at(-1) === "") lines.pop();
    return lines;
  }

  async saveResult(id: string, index: number, json: string): Promise<void> {
    const file = this.#resultFile(id, index);
    mkdirSync(join(this.records.dir, `${id}.results`), { recursive: true, mode: 0o700 });
    // Not fsync'd: the verdict is in the record (durable when the batch ends); after a crash a
    // result may be missing or cut, and is then shown without (results() skips what it cannot parse).
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, `${json}\n`, { mode: 0o600 });
    renameSync(tmp, file);
  }

  async results(id: string, indices: readonly number[]): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    for (const i of indices) {
      try {
        out.set(i, readFileSync(this.#resultFile(id, i), "utf8"));
      } catch {
        // Not written (the host did not end), or unreadable: shown without it.
      }
    }
    return out;
  }
}
