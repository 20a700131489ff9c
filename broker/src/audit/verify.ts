// Verifies an audit log's hash chain (the core of `hostward audit verify`, wired up in a later issue).
import { readFileSync } from "node:fs";
import { GENESIS, openLine, sha256Hex } from "./chain";

export type VerifyResult = { ok: true; records: number } | { ok: false; records: number; line: number; error: string };

export function verifyAuditText(text: string): VerifyResult {
  if (text.length === 0) return { ok: true, records: 0 };
  if (!text.endsWith("\n")) {
    const line = text.split("\n").length;
    return { ok: false, records: line - 1, line, error: "the last line is incomplete (no newline): a write was cut short or the file was edited" };
  }
  const lines = text.slice(0, -1).split("\n");
  let prev = GENESIS;
  for (const [i, line] of lines.entries()) {
    const n = i + 1;
    const opened = openLine(line);
    if (!opened.ok) return { ok: false, records: i, line: n, error: opened.error };
    if (opened.record.prev !== prev) {
      return { ok: false, records: i, line: n, error: "prev does not match the previous line (a line was removed, inserted or reordered)" };
    }
    if (opened.record.seq !== n) return { ok: false, records: i, line: n, error: `seq is ${String(opened.record.seq)}, expected ${n}` };
    prev = sha256Hex(line);
  }
  return { ok: true, records: lines.length };
}

export function verifyAuditFile(file: string): VerifyResult {
  return verifyAuditText(readFileSync(file, "utf8"));
}
