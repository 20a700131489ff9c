// The hash chain of the audit log. Each line is one JSON object ending in
//   …,"prev":"<sha256 of the previous line>","hash":"<sha256 of this line without its hash>"}
// so a removed, reordered or edited line breaks the chain at that point. The hash covers the exact
// bytes written (not a re-serialisation), so verification needs no canonical JSON.
import { createHash } from "node:crypto";
import { AUDIT_CODES, type AuditRecordInput } from "./records";

export const GENESIS = "0".repeat(64);

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** Serialises a record (which must already carry `prev`) and appends its own hash. */
export function sealLine(record: Record<string, unknown> & { prev: string }): string {
  const body = JSON.stringify(record);
  if (!body.endsWith("}")) throw new Error("audit record must be an object");
  const hash = sha256Hex(body);
  return `${body.slice(0, -1)},"hash":"${hash}"}`;
}

const HASH_TAIL = /,"hash":"([0-9a-f]{64})"\}$/;

export type OpenedLine = { ok: true; record: Record<string, unknown>; hash: string } | { ok: false; error: string };

/** Checks one line's own hash and parses it. */
export function openLine(line: string): OpenedLine {
  const m = HASH_TAIL.exec(line);
  if (!m || m[1] === undefined) return { ok: false, error: "no hash at the end of the line" };
  const body = `${line.slice(0, m.index)}}`;
  if (sha256Hex(body) !== m[1]) return { ok: false, error: "the line's hash does not match its content (edited)" };
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch (err) {
    return { ok: false, error: `not valid JSON: ${(err as Error).message}` };
  }
  if (record === null || typeof record !== "object" || Array.isArray(record)) return { ok: false, error: "not a JSON object" };
  return { ok: true, record: record as Record<string, unknown>, hash: m[1] };
}

/** sha256 of raw bytes (a torn record need not be valid UTF-8). */
export function sha256Bytes(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * The lines that append `records` after the record `tail` names (seq 0 and GENESIS: an empty
 * chain), each stamped with its version, seq, time and code; the fields a caller may not set
 * (v, seq, ts, code, prev, hash) are the chain's own. Returns the new tail.
 */
export function sealRecords(tail: { seq: number; prev: string }, records: readonly AuditRecordInput[], now = new Date().toISOString()): { lines: string[]; seq: number; prev: string } {
  let { prev, seq } = tail;
  const lines: string[] = [];
  for (const r of records) {
    seq += 1;
    const { v: _v, seq: _seq, ts: _ts, code: _code, prev: _prev, hash: _hash, ...fields } = r;
    const line = sealLine({ v: 1, seq, ts: now, code: AUDIT_CODES[r.event], ...fields, prev });
    lines.push(line);
    prev = sha256Hex(line);
  }
  return { lines, seq, prev };
}

/** Lines of the chain, each checked against its own hash: the records that pass, and why the others did not. */
export function openLines(lines: readonly string[]): { records: Record<string, unknown>[]; problems: string[] } {
  const records: Record<string, unknown>[] = [];
  const problems: string[] = [];
  for (const line of lines) {
    const opened = openLine(line);
    if (opened.ok) records.push(opened.record);
    else problems.push(opened.error);
  }
  return { records, problems };
}

/**
 * What sealRecords writes between a record's seq and its prev, leading comma included: the
 * PostgreSQL store's append (state/postgres/migrations.ts append_audit) fills in seq and prev
 * after the tail it reads under its lock, and seals the line the same way.
 */
export function recordMiddle(record: AuditRecordInput, now: string): string {
  const { v: _v, seq: _seq, ts: _ts, code: _code, prev: _prev, hash: _hash, ...fields } = record;
  const json = JSON.stringify({ ts: now, code: AUDIT_CODES[record.event], ...fields });
  return `,${json.slice(1, -1)}`;
}
