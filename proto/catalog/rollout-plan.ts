// A roll-out is one human approval for many hosts (issue 14): the approver signs ONE statement
// naming the action, its parameters, the strategy's hash and the root of a Merkle tree whose
// leaves are the plan's host entries {index, host, hostKey, previewHash, batch}. Each host is sent
// the statement's fields, its own entry and the entry's audit path (log2(n) hashes), so a plan of
// 10,000 hosts still fits the helper's 64 KiB request, and the host's helper checks, with no other
// host's data: the signature covers the root; its entry hashes to that root; the entry names this
// host and this host's key; the nonce was never used here (the plan runs at most once per host).
//
// The tree is RFC 9162's (Certificate Transparency v2, §2.1): leaf hash = SHA-256(0x00 || leaf),
// interior = SHA-256(0x01 || left || right), split at the largest power of two below n, so a leaf
// can never pass for an interior node. Hand-written (about 60 lines) rather than a dependency: it
// runs in the root helper, whose bundle carries no third-party crypto.
import { createHash } from "node:crypto";
import { canonicalJson } from "../../shared/canonical-json";

/** The most hosts one roll-out may name (and so the longest audit path: 14 hashes). */
export const MAX_ROLLOUT_HOSTS = 10_000;

/** One host's line of the plan: what its helper checks against itself. */
export interface RolloutEntry {
  /** 0-based position in the plan (batches in order, hosts in order within a batch). */
  index: number;
  /** The host's certificate name (as in a single-host statement's `host`). */
  host: string;
  /** "sha256:<hex>" of the host's operator certificate key. */
  hostKey: string;
  /** "sha256:<hex>" of the impact preview this host computed and the plan shows. */
  previewHash: string;
  /** 0-based batch (0 is the canary batch when the strategy has canaries). */
  batch: number;
}

const sha256 = (...parts: Buffer[]) => createHash("sha256").update(Buffer.concat(parts)).digest();
const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

/** Canonical JSON of exactly an entry's fields (what its leaf hash covers). */
export function canonicalEntry(e: RolloutEntry): string {
  return canonicalJson({ index: e.index, host: e.host, hostKey: e.hostKey, previewHash: e.previewHash, batch: e.batch });
}

function leafHash(e: RolloutEntry): Buffer {
  return sha256(LEAF, Buffer.from(canonicalEntry(e), "utf8"));
}

/** The largest power of two strictly less than n (n ≥ 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

const hex = (b: Buffer) => `sha256:${b.toString("hex")}`;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

export interface RolloutTree {
  /** "sha256:<hex>": what the approver signs. */
  root: string;
  /** For each entry (by index): its audit path, "sha256:<hex>" each. */
  proofs: string[][];
}

/** The plan's tree. Entries must be indexed 0..n−1 in order (a plan the broker builds). */
export function rolloutTree(entries: readonly RolloutEntry[]): RolloutTree {
  if (entries.length === 0 || entries.length > MAX_ROLLOUT_HOSTS) throw new RangeError(`a roll-out names 1 to ${MAX_ROLLOUT_HOSTS} hosts, not ${entries.length}`);
  const seen = new Set<string>();
  entries.forEach((e, i) => {
    if (e.index !== i) throw new RangeError(`plan entry ${i} has index ${e.index}`);
    // One nonce for the plan, recorded by each host: a host named twice would run only once.
    if (seen.has(e.host)) throw new RangeError(`plan entry ${i} names ${e.host} again: a host appears once in a roll-out`);
    seen.add(e.host);
  });
  const leaves = entries.map(leafHash);
  const proofs: string[][] = leaves.map(() => []);
  // RFC 9162 §2.1.1 MTH, and §2.1.3.1's audit paths in the same walk: the children's siblings are
  // pushed before this level's, so each path runs leaf to root. O(n log n) hashes.
  const walk = (start: number, n: number): Buffer => {
    if (n === 1) return leaves[start]!;
    const k = split(n);
    const left = walk(start, k);
    const right = walk(start + k, n - k);
    const [l, r] = [hex(left), hex(right)];
    for (let i = start; i < start + k; i++) proofs[i]!.push(r);
    for (let i = start + k; i < start + n; i++) proofs[i]!.push(l);
    return sha256(NODE, left, right);
  };
  return { root: hex(walk(0, leaves.length)), proofs };
}

/**
 * RFC 9162 §2.1.3.2: the root that `entry` and its audit path lead to in a tree of `size` leaves,
 * or an error saying why the path cannot be one (wrong length, bad digest, index out of range).
 */
export function rootFromPath(entry: RolloutEntry, proof: readonly string[], size: number): { ok: true; root: string } | { ok: false; reason: string } {
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_ROLLOUT_HOSTS) return { ok: false, reason: `the plan's size ${size} is not 1..${MAX_ROLLOUT_HOSTS}` };
  if (!Number.isSafeInteger(entry.index) || entry.index < 0 || entry.index >= size) return { ok: false, reason: `entry index ${entry.index} is outside the plan's ${size} entries` };
  if (proof.length > 14 || proof.some((p) => !DIGEST.test(p))) return { ok: false, reason: 'the audit path is not a list of at most 14 "sha256:<hex>" digests' };
  let fn = entry.index;
  let sn = size - 1;
  let r = leafHash(entry);
  for (const p of proof) {
    if (sn === 0) return { ok: false, reason: "the audit path is longer than the plan's tree is deep" };
    const sibling = Buffer.from(p.slice(7), "hex");
    if (fn % 2 === 1 || fn === sn) {
      r = sha256(NODE, sibling, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = sha256(NODE, r, sibling);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn !== 0) return { ok: false, reason: "the audit path is shorter than the plan's tree is deep" };
  return { ok: true, root: hex(r) };
}

/** "sha256:<hex>" of the canonical JSON of a roll-out's strategy (batches, gates, error budget): signed, so the record proves what the human read. */
export function strategyDigest(strategy: unknown): string {
  return `sha256:${createHash("sha256").update(canonicalJson(strategy), "utf8").digest("hex")}`;
}

/** A roll-out's id: lowercase letters, digits and "-", so that "<id>-<index>" is a ledger id (helper/ledger.ts). */
export const ROLLOUT_ID = /^[a-z0-9][a-z0-9-]{0,39}$/;

/** The request id a roll-out's host runs under (its ledger's key): the roll-out's id and the entry's index. */
export function rolloutRequestId(rolloutId: string, index: number): string {
  return `${rolloutId}-${index}`;
}

/** The request id of a host's rollback part (its own ledger entry and nonce, so it runs at most once too). */
export function rolloutUndoRequestId(rolloutId: string, index: number): string {
  return `${rolloutId}-${index}-undo`;
}
