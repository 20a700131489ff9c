// Verifies an audit log (the core of `hostward audit verify`): each record's own hash, the chain
// of `prev` hashes and the sequence numbers; recoveries (`audit.recovered`, a record cut short by
// a crash or a full disk and kept aside) are reported as such; and, with the signed head
// (anchor.ts), that the chain still reaches the head that was signed and is the chain it was.
// Every failure names the check and the record.
import type { KeyObject } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { checkHeadSignature, readSignedHead } from "./anchor";
import { GENESIS, openLine, sha256Bytes, sha256Hex } from "./chain";

type VerifyCheck = "record-hash" | "chain" | "seq" | "anchor";

interface Recovery {
  seq: number;
  tornBytes: number;
  keptIn: string;
  /** Whether the kept-aside file is there with the bytes the record says. */
  kept: "present" | "missing" | "differs";
}

interface AnchorReport {
  status: "verified" | "absent" | "failed";
  seq?: number;
  at?: string;
  error?: string;
}

export interface VerifyResult {
  ok: boolean;
  records: number;
  recoveries: Recovery[];
  /** Bytes of a record cut short at the very end, not recovered yet (the next append recovers them). */
  tornTail?: number;
  anchor: AnchorReport;
  /** The first failed check. */
  failure?: { check: VerifyCheck; line: number; error: string };
}

export interface VerifyOptions {
  /** The signed head file (audit-head.json) to check the chain against. */
  head?: string;
  /** The anchor's public key, when known (the broker's own key). */
  publicKey?: KeyObject;
  /** The anchor key exists: a missing head is then a failure (deleted), not "never anchored". */
  requireHead?: boolean;
}

/**
 * The chain checks, one line at a time (a log of any size, from a file or from database rows):
 * each line's own hash, its `prev` and its `seq`. Stops at the first failure.
 */
export class ChainVerifier {
  readonly result: VerifyResult = { ok: true, records: 0, recoveries: [], anchor: { status: "absent" } };
  readonly hashes: string[] = [];
  #prev = GENESIS;

  constructor(private readonly dir?: string) {}

  /** Checks the next line; false once a check failed (the result names it). */
  push(line: string): boolean {
    if (!this.result.ok) return false;
    const n = this.result.records + 1;
    const opened = openLine(line);
    if (!opened.ok) return !fail(this.result, "record-hash", n, `record ${n}: ${opened.error}`);
    if (opened.record.prev !== this.#prev) {
      return !fail(this.result, "chain", n, `record ${n}: prev does not match record ${n - 1} (a record was removed, inserted or reordered, or two writers forked the chain)`);
    }
    if (opened.record.seq !== n) return !fail(this.result, "seq", n, `record ${n}: seq is ${String(opened.record.seq)}, expected ${n}`);
    this.#prev = sha256Hex(line);
    this.hashes.push(this.#prev);
    this.result.records = n;
    if (opened.record.event === "audit.recovered") this.result.recoveries.push(recoveryOf(opened.record, n, this.dir));
    return true;
  }

  /** The hash of the last line checked (GENESIS before the first). */
  get head(): string {
    return this.#prev;
  }
}

export function verifyAuditText(text: string, options: VerifyOptions & { dir?: string } = {}): VerifyResult {
  const verifier = new ChainVerifier(options.dir);
  const result = verifier.result;
  let body = text;
  if (text.length > 0 && !text.endsWith("\n")) {
    const nl = text.lastIndexOf("\n");
    body = text.slice(0, nl + 1);
    result.tornTail = Buffer.byteLength(text.slice(nl + 1), "utf8");
  }
  const lines = body.length === 0 ? [] : body.slice(0, -1).split("\n");
  for (const line of lines) if (!verifier.push(line)) return result;
  if (options.head) checkAnchor(result, verifier.hashes, options.head, options.publicKey, options.requireHead ?? false);
  return result;
}

function fail(result: VerifyResult, check: VerifyCheck, line: number, error: string): VerifyResult {
  result.ok = false;
  result.failure = { check, line, error };
  return result;
}

function recoveryOf(record: Record<string, unknown>, seq: number, dir: string | undefined): Recovery {
  const keptIn = typeof record.keptIn === "string" ? record.keptIn : "";
  const tornBytes = typeof record.tornBytes === "number" ? record.tornBytes : 0;
  let kept: Recovery["kept"] = "missing";
  if (dir && keptIn && !keptIn.includes("/") && !keptIn.includes("\\")) {
    const file = join(dir, keptIn);
    if (existsSync(file)) kept = sha256Bytes(readFileSync(file)) === record.tornSha256 ? "present" : "differs";
  }
  return { seq, tornBytes, keptIn, kept };
}

function checkAnchor(result: VerifyResult, hashes: string[], headFile: string, publicKey: KeyObject | undefined, requireHead: boolean): void {
  const { head, error } = readSignedHead(headFile);
  if (error) {
    result.anchor = { status: "failed", error };
    fail(result, "anchor", hashes.length, `anchor: ${error}`);
    return;
  }
  if (!head) {
    // Never anchored ("absent") — unless the anchor key exists: its first use writes a head at once.
    if (requireHead && hashes.length > 0) {
      result.anchor = { status: "failed", error: "missing" };
      fail(result, "anchor", hashes.length, `anchor: the anchor key exists but its signed head ${headFile} is missing (deleted?): cutting records off the end cannot be ruled out`);
    }
    return;
  }
  result.anchor = { status: "failed", seq: head.seq, at: head.at };
  const bad = (message: string, line: number) => {
    result.anchor.error = message;
    fail(result, "anchor", line, `anchor: ${message}`);
  };
  const sigError = checkHeadSignature(head, publicKey);
  if (sigError) return bad(`${headFile}: ${sigError}`, hashes.length);
  if (hashes.length === 0) return bad(`the log is empty, but a head signed at ${head.at} says record ${head.seq} had been written: records were cut off`, 0);
  if (hashes[0] !== head.chain) return bad(`the head signed at ${head.at} belongs to another chain: record 1 was replaced, or the whole log was rewritten or swapped`, 1);
  if (hashes.length < head.seq) {
    return bad(`the log ends at record ${hashes.length}, but a head signed at ${head.at} says record ${head.seq} had been written: records were cut off the end`, hashes.length);
  }
  if (hashes[head.seq - 1] !== head.hash) return bad(`record ${head.seq} is not the one signed at ${head.at}: the chain up to it was rewritten and resealed`, head.seq);
  result.anchor = { status: "verified", seq: head.seq, at: head.at };
}

export function verifyAuditFile(file: string, options: VerifyOptions = {}): VerifyResult {
  return verifyAuditText(readFileSync(file, "utf8"), { ...options, dir: dirname(file) });
}
