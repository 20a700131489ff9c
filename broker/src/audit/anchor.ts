// The audit chain's anchor: a signed statement of the chain's head — which chain (the hash of its
// first record), how far it reached (seq) and the hash of that record — written to
// `audit-head.json` with an ed25519 key that lives in the broker's configuration directory, apart
// from the state directory that holds the log. A hash chain alone proves only that its records
// follow one another: cut records off its end, or rewrite every record and reseal the chain, and
// it still verifies. Against the signed head, neither does (verify.ts names the check that fails).
//
// What it does not stop: someone who can read the key can sign a head of their own. On a single
// workstation that is the same user who owns the log; the host helper's own ledger of the actions
// it ran is the second, independent witness (docs/design/audit-log.md).
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { describeIssues } from "../../../shared/zod-issues";

export interface AnchorFiles {
  /** The ed25519 private key (PKCS#8 PEM, 0600); created on first use. */
  key: string;
  /** The signed head (JSON). */
  head: string;
}

export interface ChainHead {
  /** sha256 of the chain's first record line. */
  chain: string;
  seq: number;
  /** sha256 of record `seq`'s line. */
  hash: string;
}

const HEX64 = z.string().regex(/^[0-9a-f]{64}$/);
const SignedHeadSchema = z
  .object({
    v: z.literal(1),
    chain: HEX64,
    seq: z.number().int().positive(),
    hash: HEX64,
    at: z.string().max(40),
    /** The signing key's public half (SPKI DER, base64), so verify needs nothing but this file and the key's fingerprint. */
    publicKey: z.string().max(200),
    signature: z.string().max(200),
  })
  .strict();
export type SignedHead = z.infer<typeof SignedHeadSchema>;

/** The exact bytes that are signed. */
function headMessage(h: Pick<SignedHead, "chain" | "seq" | "hash" | "at">): Buffer {
  return Buffer.from(`hostward-audit-head v1\nchain ${h.chain}\nseq ${h.seq}\nhash ${h.hash}\nat ${h.at}\n`, "utf8");
}

class AnchorError extends Error {
  override name = "AnchorError";
}

/** Loads the anchor key, creating it (0600, directory 0700) when there is none yet. */
export function loadOrCreateAnchorKey(file: string): KeyObject {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync("ed25519");
    const pem = privateKey.export({ type: "pkcs8", format: "pem" });
    const tmp = `${file}.tmp-${process.pid}`;
    const fd = openSync(tmp, "wx", 0o600);
    try {
      writeSync(fd, String(pem));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      // link() never replaces: if another process created a key meanwhile, theirs is kept.
      linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new AnchorError(`cannot create the audit anchor key ${file}: ${(err as Error).message}`);
    } finally {
      unlinkSync(tmp);
    }
  }
  try {
    const key = createPrivateKey(readFileSync(file));
    if (key.asymmetricKeyType !== "ed25519") throw new AnchorError(`${file} is not an ed25519 key`);
    return key;
  } catch (err) {
    if (err instanceof AnchorError) throw err;
    throw new AnchorError(`cannot read the audit anchor key ${file}: ${(err as Error).message}`);
  }
}

export function readSignedHead(file: string): { head?: SignedHead; error?: string } {
  if (!existsSync(file)) return {};
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    return { error: `${file} is not valid JSON (${(err as Error).message})` };
  }
  const parsed = SignedHeadSchema.safeParse(value);
  if (!parsed.success) return { error: `${file} is not a signed audit head (${describeIssues(parsed.error, { max: 1 })})` };
  return { head: parsed.data };
}

/** Checks a head's signature against the public key it names and, if given, the expected key. */
export function checkHeadSignature(head: SignedHead, expected?: KeyObject): string | undefined {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(head.publicKey, "base64"), format: "der", type: "spki" });
  } catch {
    return "the head's public key cannot be read";
  }
  if (expected) {
    const pub = expected.type === "public" ? expected : createPublicKey(expected);
    const want = pub.export({ type: "spki", format: "der" }).toString("base64");
    if (want !== head.publicKey) return "the head is signed by another key than this broker's anchor key";
  }
  const ok = verify(null, headMessage(head), key, Buffer.from(head.signature, "base64"));
  return ok ? undefined : "the head's signature does not verify (the file was edited)";
}

export class Anchor {
  #key: KeyObject | undefined;
  #publicKey: string | undefined;

  constructor(readonly files: AnchorFiles) {}

  #load(): { key: KeyObject; publicKey: string } {
    if (!this.#key || !this.#publicKey) {
      this.#key = loadOrCreateAnchorKey(this.files.key);
      this.#publicKey = createPublicKey(this.#key).export({ type: "spki", format: "der" }).toString("base64");
    }
    return { key: this.#key, publicKey: this.#publicKey };
  }

  /**
   * Signs `head` into the head file if it is further along the same chain than the one there. A
   * head naming another chain is left alone: the log it anchored was replaced, and verify must say so.
   * Call with the log's lock held (heads only move forward).
   */
  advance(head: ChainHead): boolean {
    const current = readSignedHead(this.files.head).head;
    if (current && (current.chain !== head.chain || current.seq >= head.seq)) return false;
    const { key, publicKey } = this.#load();
    const at = new Date().toISOString();
    const signed: SignedHead = { v: 1, ...head, at, publicKey, signature: sign(null, headMessage({ ...head, at }), key).toString("base64") };
    const tmp = `${this.files.head}.tmp-${process.pid}`;
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, `${JSON.stringify(signed, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.files.head);
    return true;
  }

  publicKey(): KeyObject {
    return createPublicKey(this.#load().key);
  }
}
