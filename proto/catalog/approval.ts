// Approvals the model cannot forge: a human's ed25519 key signs a canonical statement of exactly
// what may run (request id, host, action, parameters, requester, impact, expiry, nonce); the host
// verifies it against root-owned approver keys. Pure node:crypto, shared by the broker (signs,
// builds the proto message), the operator agent and the root helper (verify).
//
// The signature format is OpenSSH's SSHSIG (PROTOCOL.sshsig), so a human can sign with the key and
// tool they already have (`ssh-keygen -Y sign -n hostward-approval`, or through ssh-agent) and an
// auditor can check a signature with `ssh-keygen -Y verify`. Only ssh-ed25519 and sha512 are
// accepted: one algorithm means no downgrade and no RSA/ECDSA parsing in the root helper.
//
// Every parser here is strict and bounded: lengths are checked before they are used, trailing
// bytes are refused, armored text and JSON are size-capped, and nothing recurses without a limit.
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from "node:crypto";
import type { Approval, Cosignature } from "../gen/hostward/v1/actions";
import { canonicalJson } from "../../shared/canonical-json";
import { KEY_FINGERPRINT } from "../../shared/cert-names";
import { MAX_ROLLOUT_HOSTS, ROLLOUT_ID, rolloutRequestId, rolloutUndoRequestId, rootFromPath, type RolloutEntry } from "./rollout-plan";

export const IMPACTS = ["LOW", "MEDIUM", "HIGH"] as const;
export type Impact = (typeof IMPACTS)[number];

/** LOW 0, MEDIUM 1, HIGH 2: a key approves an action only if impactRank(action) ≤ impactRank(key). */
export function impactRank(i: Impact): number {
  const rank = IMPACTS.indexOf(i);
  if (rank < 0) throw new Error(`unknown impact level ${JSON.stringify(i)} (expected LOW, MEDIUM or HIGH)`);
  return rank;
}

function isImpact(value: unknown): value is Impact {
  return typeof value === "string" && (IMPACTS as readonly string[]).includes(value);
}

/**
 * The statement format: 2 added issuedAt and hostKey, 3 added previewHash (an approval of an
 * older format is refused: its signature does not cover the v3 statement rebuilt by the verifier).
 */
export const STATEMENT_VERSION = 3;

/** What an approver signs. `impact` is signed too, but the verifier supplies it from its own catalog. */
export interface ApprovalStatement {
  v: typeof STATEMENT_VERSION;
  id: string;
  /** The host's certificate name (its first DNS SAN). */
  host: string;
  /**
   * "sha256:<hex>" of the host's operator certificate's public key (shared/cert-names.ts
   * publicKeyFingerprint): a host re-enrolled with a new key refuses approvals made for the old one.
   */
  hostKey: string;
  action: string;
  params: Record<string, unknown>;
  requester: string;
  impact: Impact;
  /** Unix seconds on the approver's clock when it was signed (the host judges clock skew and lifetime by it). */
  issuedAt: number;
  /** Unix seconds; the approval is valid while now (+ the host's allowed clock skew) ≤ notAfter. */
  notAfter: number;
  /** 32 lowercase hex characters, unique per approval (the host's nonce store refuses replays). */
  nonce: string;
  /**
   * "sha256:<hex>" of the canonical JSON of the impact preview the host computed and the human read
   * (define-action.ts actionPreview); the host recomputes it at execution and refuses a material change.
   */
  previewHash: string;
}

// ---------------------------------------------------------------------------------------------
// Canonical JSON: the one encoding (shared/canonical-json.ts), re-exported for the approval's users.

export { canonicalJson };

/** Canonical JSON of exactly the statement's fields (extra properties on the object are not signed). */
export function canonicalStatement(s: ApprovalStatement): string {
  const picked: ApprovalStatement = {
    v: s.v,
    id: s.id,
    host: s.host,
    hostKey: s.hostKey,
    action: s.action,
    params: s.params,
    requester: s.requester,
    impact: s.impact,
    issuedAt: s.issuedAt,
    notAfter: s.notAfter,
    nonce: s.nonce,
    previewHash: s.previewHash,
  };
  return canonicalJson(picked);
}

/** sha256 hex (64 lowercase characters) of the canonical statement. */
export function statementDigest(s: ApprovalStatement): string {
  return createHash("sha256").update(canonicalStatement(s), "utf8").digest("hex");
}

/** The roll-out statement's format (a separate sequence from STATEMENT_VERSION: `kind` tells them apart). */
export const ROLLOUT_STATEMENT_VERSION = 1;

/**
 * What an approver signs for a roll-out (rollout-plan.ts): one statement for every host of the
 * plan. The per-host fields of a single-host statement (host, hostKey, previewHash, the request
 * id) are each host's entry of the plan, whose Merkle root is signed here.
 */
export interface RolloutStatement {
  v: typeof ROLLOUT_STATEMENT_VERSION;
  kind: "rollout";
  id: string;
  action: string;
  params: Record<string, unknown>;
  requester: string;
  impact: Impact;
  issuedAt: number;
  notAfter: number;
  /** One nonce for the plan: each host's store records it, so the plan runs at most once per host. */
  nonce: string;
  planRoot: string;
  planSize: number;
  strategyHash: string;
  /**
   * The inverse action (the catalog's `inverse` of `action`, same params) that a host whose gate
   * failed is rolled back with; absent when the plan does not roll back (and then not in the
   * canonical form, so statements without it read as they always did).
   */
  rollback?: string;
}

/** Canonical JSON of exactly the roll-out statement's fields. */
export function canonicalRolloutStatement(s: RolloutStatement): string {
  const picked: RolloutStatement = {
    v: s.v,
    kind: "rollout",
    id: s.id,
    action: s.action,
    params: s.params,
    requester: s.requester,
    impact: s.impact,
    issuedAt: s.issuedAt,
    notAfter: s.notAfter,
    nonce: s.nonce,
    planRoot: s.planRoot,
    planSize: s.planSize,
    strategyHash: s.strategyHash,
    ...(s.rollback !== undefined && { rollback: s.rollback }),
  };
  return canonicalJson(picked);
}

/** 128 random bits as 32 lowercase hex characters. */
export function newNonce(): string {
  return randomBytes(16).toString("hex");
}

// ---------------------------------------------------------------------------------------------
// OpenSSH wire format (RFC 4251 §5): uint32 big-endian lengths, strings as uint32 length || bytes

const KEY_TYPE = "ssh-ed25519";
const ED25519_PUBLIC_LENGTH = 32;
const ED25519_SIGNATURE_LENGTH = 64;

class WireReader {
  private offset = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  bytes(n: number, field: string): Buffer {
    if (n > this.buf.length - this.offset) throw new Error(`${this.what}: ${field} runs past the end (${n} bytes wanted, ${this.buf.length - this.offset} left)`);
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  uint32(field: string): number {
    return this.bytes(4, field).readUInt32BE(0);
  }

  string(field: string, max: number): Buffer {
    const n = this.uint32(`${field} length`);
    if (n > max) throw new Error(`${this.what}: ${field} is ${n} bytes, more than ${max}`);
    return this.bytes(n, field);
  }

  text(field: string, max: number): string {
    const b = this.string(field, max);
    const s = b.toString("utf8");
    if (!Buffer.from(s, "utf8").equals(b)) throw new Error(`${this.what}: ${field} is not valid UTF-8`);
    return s;
  }

  get position(): number {
    return this.offset;
  }

  end(): void {
    if (this.offset !== this.buf.length) throw new Error(`${this.what}: ${this.buf.length - this.offset} unexpected trailing bytes`);
  }
}

function wireString(data: string | Buffer): Buffer {
  const body = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length, 0);
  return Buffer.concat([len, body]);
}

/** Standard padded base64 only; Buffer.from(…, "base64") alone would skip junk characters. */
function strictBase64(text: string, what: string): Buffer {
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    throw new Error(`${what} is not valid base64`);
  }
  const out = Buffer.from(text, "base64");
  if (out.toString("base64") !== text) throw new Error(`${what} is not canonical base64`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Public keys

export interface PublicKeyInfo {
  /** "SHA256:<base64 of sha256(blob), no padding>", exactly as `ssh-keygen -l -E sha256` prints it. */
  keyId: string;
  publicKey: KeyObject;
  /** The SSH wire-format public key blob: string("ssh-ed25519") || string(32 bytes). */
  blob: Buffer;
  comment: string;
}

export interface ApproverKey extends PublicKeyInfo {
  maxImpact: Impact;
  /**
   * The person the key belongs to (`identity="alice"`), when the line names one: a key whose
   * identity is the request's requester does not approve that request (four eyes).
   */
  identity?: string;
}

/** How many distinct approver keys an approval needs, by impact (actions.yaml approvals.required). */
export type RequiredApprovals = Readonly<Record<Impact, number>>;
export const DEFAULT_REQUIRED_APPROVALS: RequiredApprovals = { LOW: 1, MEDIUM: 1, HIGH: 2 };
/** Signatures beyond the first an Approval may carry. */
export const MAX_COSIGNATURES = 8;
const IDENTITY = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;

const MAX_KEY_LINE = 4096;
const ED25519_BLOB_LENGTH = 4 + KEY_TYPE.length + 4 + ED25519_PUBLIC_LENGTH; // 51

/** "SHA256:…" fingerprint of an SSH public key blob. */
export function keyIdOf(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** The ed25519 KeyObject inside a wire-format blob; throws unless the blob is exactly an ssh-ed25519 key. */
function publicKeyFromBlob(blob: Buffer, what: string): KeyObject {
  if (blob.length !== ED25519_BLOB_LENGTH) throw new Error(`${what}: not an ssh-ed25519 public key (blob is ${blob.length} bytes, expected ${ED25519_BLOB_LENGTH})`);
  const r = new WireReader(blob, what);
  const type = r.text("key type", 64);
  if (type !== KEY_TYPE) throw new Error(`${what}: key type ${JSON.stringify(type)} is not ${KEY_TYPE}`);
  const raw = r.string("ed25519 public key", ED25519_PUBLIC_LENGTH);
  if (raw.length !== ED25519_PUBLIC_LENGTH) throw new Error(`${what}: ed25519 public key is ${raw.length} bytes, expected ${ED25519_PUBLIC_LENGTH}`);
  r.end();
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
}

/** The wire-format blob of an ed25519 KeyObject (public or private). */
export function publicKeyBlob(key: KeyObject): Buffer {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== "ed25519") throw new Error(`only ed25519 keys are supported, not ${pub.asymmetricKeyType ?? key.type}`);
  const x = pub.export({ format: "jwk" }).x;
  if (typeof x !== "string") throw new Error("ed25519 key has no public component");
  return Buffer.concat([wireString(KEY_TYPE), wireString(Buffer.from(x, "base64url"))]);
}

// eslint-disable-next-line no-control-regex -- an approver line may hold no control character but tab
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/; // tab (\u0009) is a field separator, allowed

/** "ssh-ed25519 AAAA… comment" for an ed25519 KeyObject (public or private), as in a .pub file. */
export function formatOpenSshPublicKey(key: KeyObject, comment = ""): string {
  if (CONTROL.test(comment)) throw new Error("public key comment contains a control character");
  return `${KEY_TYPE} ${publicKeyBlob(key).toString("base64")}${comment ? ` ${comment}` : ""}`;
}

/** Parses one authorized_keys-style public key: "ssh-ed25519 AAAA… [comment]". Throws on anything else. */
export function parseOpenSshPublicKey(line: string): PublicKeyInfo {
  const text = line.replace(/\r?\n$/, "").trim();
  if (text.length > MAX_KEY_LINE) throw new Error(`public key line is longer than ${MAX_KEY_LINE} characters`);
  if (CONTROL.test(text)) throw new Error("public key line contains a control character");
  const m = /^(\S+)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(text);
  if (!m) throw new Error('public key line is not "ssh-ed25519 <base64> [comment]"');
  const [, type, b64, comment] = m;
  if (type !== KEY_TYPE) throw new Error(`key type ${JSON.stringify(type)} is not supported (only ${KEY_TYPE})`);
  const blob = strictBase64(b64!, "public key");
  const publicKey = publicKeyFromBlob(blob, "public key");
  return { keyId: keyIdOf(blob), publicKey, blob, comment: comment ?? "" };
}

/**
 * Parses an approver line: `max-impact="MEDIUM" ssh-ed25519 AAAA… comment`, or with the person it
 * belongs to: `max-impact="HIGH",identity="alice" ssh-ed25519 AAAA…`. The max-impact option is
 * required (a key without a stated limit approves nothing); identity is the only other option.
 */
export function parseApproverLine(line: string): ApproverKey {
  const text = line.replace(/\r?\n$/, "").trim();
  if (text.length > MAX_KEY_LINE) throw new Error(`approver line is longer than ${MAX_KEY_LINE} characters`);
  const m = /^(\S+)[ \t]+(ssh-\S+[ \t]+.*)$/.exec(text);
  if (!m) throw new Error('approver line is not `max-impact="LOW|MEDIUM|HIGH"[,identity="NAME"] ssh-ed25519 <base64> [comment]`');
  const [, options, key] = m;
  const opt = /^max-impact="([A-Z]+)"(?:,identity="([^"]*)")?$/.exec(options!);
  if (!opt) throw new Error(`approver line options ${JSON.stringify(options)} are not max-impact="LOW|MEDIUM|HIGH" (optionally followed by ,identity="NAME")`);
  const maxImpact = opt[1];
  if (!isImpact(maxImpact)) throw new Error(`approver max-impact ${JSON.stringify(maxImpact)} is not LOW, MEDIUM or HIGH`);
  const identity = opt[2];
  if (identity !== undefined && !IDENTITY.test(identity)) throw new Error(`approver identity ${JSON.stringify(identity)} is not 1 to 64 letters, digits and . _ @ + - (starting with a letter or digit)`);
  return { ...parseOpenSshPublicKey(key!), maxImpact, ...(identity !== undefined && { identity }) };
}

// ---------------------------------------------------------------------------------------------
// SSHSIG (OpenSSH PROTOCOL.sshsig)

const SSHSIG_NAMESPACE = "hostward-approval";
const SSHSIG_MAGIC = Buffer.from("SSHSIG", "ascii");
const SSHSIG_VERSION = 1;
const SSHSIG_HASH = "sha512";
const ARMOR_BEGIN = "-----BEGIN SSH SIGNATURE-----";
const ARMOR_END = "-----END SSH SIGNATURE-----";
/** An ed25519 SSHSIG is ~290 armored characters; anything near this cap is not one of ours. */
export const MAX_ARMORED_SIGNATURE = 2048;
const ARMOR_LINE = 70; // ssh-keygen wraps base64 at 70 columns

/** The blob an ed25519 key signs: "SSHSIG" || string(namespace) || string("") || string("sha512") || string(sha512(message)). */
export function sshSigSignedData(message: string | Buffer): Buffer {
  const digest = createHash("sha512").update(typeof message === "string" ? Buffer.from(message, "utf8") : message).digest();
  return Buffer.concat([SSHSIG_MAGIC, wireString(SSHSIG_NAMESPACE), wireString(""), wireString(SSHSIG_HASH), wireString(digest)]);
}

/**
 * The armored SSHSIG text for a signature over sshSigSignedData(message). `rawSignature` is either
 * the 64-byte ed25519 signature or the SSH signature blob string("ssh-ed25519") || string(64 bytes)
 * that ssh-agent returns in SSH2_AGENT_SIGN_RESPONSE.
 */
export function armorSshSig(publicKeyBlob: Buffer, rawSignature: Buffer): string {
  publicKeyFromBlob(publicKeyBlob, "SSHSIG public key"); // refuses anything but ssh-ed25519
  let sigBlob: Buffer;
  if (rawSignature.length === ED25519_SIGNATURE_LENGTH) {
    sigBlob = Buffer.concat([wireString(KEY_TYPE), wireString(rawSignature)]);
  } else {
    parseSignatureBlob(rawSignature);
    sigBlob = rawSignature;
  }
  const blob = Buffer.concat([
    SSHSIG_MAGIC,
    u32(SSHSIG_VERSION),
    wireString(publicKeyBlob),
    wireString(SSHSIG_NAMESPACE),
    wireString(""),
    wireString(SSHSIG_HASH),
    wireString(sigBlob),
  ]);
  const b64 = blob.toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += ARMOR_LINE) lines.push(b64.slice(i, i + ARMOR_LINE));
  return `${ARMOR_BEGIN}\n${lines.join("\n")}\n${ARMOR_END}\n`;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

/** The 64-byte ed25519 signature inside string("ssh-ed25519") || string(sig). */
function parseSignatureBlob(blob: Buffer): Buffer {
  const r = new WireReader(blob, "SSHSIG signature");
  const type = r.text("signature type", 64);
  if (type !== KEY_TYPE) throw new Error(`SSHSIG signature type ${JSON.stringify(type)} is not ${KEY_TYPE}`);
  const sig = r.string("ed25519 signature", ED25519_SIGNATURE_LENGTH);
  if (sig.length !== ED25519_SIGNATURE_LENGTH) throw new Error(`SSHSIG ed25519 signature is ${sig.length} bytes, expected ${ED25519_SIGNATURE_LENGTH}`);
  r.end();
  return sig;
}

/** Signs `message` in the SSHSIG format with an ed25519 private key; returns the armored text. */
export function signSshSig(message: string | Buffer, privateKey: KeyObject): string {
  if (privateKey.type !== "private" || privateKey.asymmetricKeyType !== "ed25519") {
    throw new Error(`signSshSig needs an ed25519 private key, not a ${privateKey.asymmetricKeyType ?? ""} ${privateKey.type} key`);
  }
  const raw = sign(null, sshSigSignedData(message), privateKey);
  return armorSshSig(publicKeyBlob(privateKey), raw);
}

interface ParsedSshSig {
  publicKeyBlob: Buffer;
  signature: Buffer;
}

/** Decodes armored SSHSIG text; strict about framing, base64, version, namespace, hash and trailing bytes. */
function parseArmoredSshSig(armored: string): ParsedSshSig {
  if (armored.length > MAX_ARMORED_SIGNATURE) throw new Error(`signature is longer than ${MAX_ARMORED_SIGNATURE} characters`);
  const lines = armored.replace(/\r\n/g, "\n").replace(/\n$/, "").split("\n");
  if (lines.length < 3 || lines[0] !== ARMOR_BEGIN || lines[lines.length - 1] !== ARMOR_END) {
    throw new Error(`signature is not framed by "${ARMOR_BEGIN}" and "${ARMOR_END}"`);
  }
  const body = lines.slice(1, -1);
  if (body.some((l) => l.length === 0 || l.length > 76)) throw new Error("signature armor has an empty or over-long line");
  const blob = strictBase64(body.join(""), "signature");
  const r = new WireReader(blob, "SSHSIG");
  if (!r.bytes(SSHSIG_MAGIC.length, "magic").equals(SSHSIG_MAGIC)) throw new Error('SSHSIG: magic is not "SSHSIG"');
  const version = r.uint32("version");
  if (version !== SSHSIG_VERSION) throw new Error(`SSHSIG: version ${version} is not ${SSHSIG_VERSION}`);
  const publicKeyBlob = r.string("public key", ED25519_BLOB_LENGTH);
  const namespace = r.text("namespace", 256);
  if (namespace !== SSHSIG_NAMESPACE) throw new Error(`SSHSIG: namespace ${JSON.stringify(namespace)} is not ${JSON.stringify(SSHSIG_NAMESPACE)}`);
  const reserved = r.string("reserved", 256);
  if (reserved.length !== 0) throw new Error("SSHSIG: reserved field is not empty");
  const hash = r.text("hash algorithm", 64);
  if (hash !== SSHSIG_HASH) throw new Error(`SSHSIG: hash algorithm ${JSON.stringify(hash)} is not ${SSHSIG_HASH}`);
  const sigBlob = r.string("signature", 4 + KEY_TYPE.length + 4 + ED25519_SIGNATURE_LENGTH);
  r.end();
  publicKeyFromBlob(publicKeyBlob, "SSHSIG public key");
  return { publicKeyBlob, signature: parseSignatureBlob(sigBlob) };
}

/**
 * Verifies an armored SSHSIG over `message` (namespace hostward-approval, sha512, ssh-ed25519) made
 * by one of `keys` (the key embedded in the signature must be byte-equal to one of them).
 */
export function verifySshSig(
  armored: string,
  message: string | Buffer,
  keys: readonly PublicKeyInfo[],
): { ok: true; key: PublicKeyInfo } | { ok: false; reason: string } {
  let parsed: ParsedSshSig;
  try {
    parsed = parseArmoredSshSig(armored);
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
  const key = keys.find((k) => k.blob.equals(parsed.publicKeyBlob));
  if (!key) return { ok: false, reason: `signature is by key ${keyIdOf(parsed.publicKeyBlob)}, which is not among the ${keys.length} allowed key(s)` };
  if (!verify(null, sshSigSignedData(message), key.publicKey, parsed.signature)) {
    return { ok: false, reason: `signature by ${key.keyId} does not match the message` };
  }
  return { ok: true, key };
}

// ---------------------------------------------------------------------------------------------
// The proto Approval message

export type ApprovalRefusal =
  | "UNKNOWN_KEY"
  | "BAD_SIGNATURE"
  | "EXPIRED"
  | "OTHER_HOST"
  | "OTHER_ACTION"
  | "ALTERED"
  | "IMPACT_TOO_HIGH"
  | "MALFORMED"
  | "CLOCK_SKEW"
  | "LIFETIME"
  | "STALE"
  | "TOO_FEW_APPROVALS"
  | "SELF_APPROVAL";

/** "sha256:<hex>" of an impact preview's canonical JSON (what ApprovalStatement.previewHash signs). */
export function previewDigest(previewJson: string): string {
  return `sha256:${createHash("sha256").update(previewJson, "utf8").digest("hex")}`;
}

/**
 * The proto Approval carrying a signed statement (impact is left out: the verifier has its own)
 * and the preview it signs by hash (`previewJson`, canonical JSON; the host checks the hash).
 */
export function approvalToMessage(s: ApprovalStatement, keyId: string, armored: string, previewJson = "", cosignatures: readonly Cosigned[] = []): Approval {
  return {
    requestId: s.id,
    host: s.host,
    action: s.action,
    parametersJson: canonicalJson(s.params),
    requester: s.requester,
    notAfterUnix: s.notAfter,
    nonce: s.nonce,
    keyId,
    signature: Buffer.from(armored, "utf8"),
    issuedAtUnix: s.issuedAt,
    hostKey: s.hostKey,
    previewHash: s.previewHash,
    previewJson,
    rollout: undefined,
    cosignatures: cosignatures.map(toCosignature),
  };
}

/** A further approver's signature over the same statement, as the broker keeps it. */
export interface Cosigned {
  keyId: string;
  /** Armored SSHSIG. */
  signature: string;
}

function toCosignature(c: Cosigned): Cosignature {
  return { keyId: c.keyId, signature: Buffer.from(c.signature, "utf8") };
}

/**
 * One host's Approval of a signed roll-out: the statement's fields, this host's entry (host, key,
 * preview) and its audit path. `tree` is rolloutTree(entries) of the plan the statement's root names.
 */
export function rolloutApprovalMessage(
  s: RolloutStatement,
  entry: RolloutEntry,
  proof: readonly string[],
  keyId: string,
  armored: string,
  previewJson: string,
  /** The host's rollback part (the statement's `rollback` action) instead of its forward part. */
  undo = false,
  cosignatures: readonly Cosigned[] = [],
): Approval {
  if (undo && !s.rollback) throw new Error(`roll-out ${s.id}'s statement names no rollback action`);
  return {
    requestId: undo ? rolloutUndoRequestId(s.id, entry.index) : rolloutRequestId(s.id, entry.index),
    host: entry.host,
    action: undo ? s.rollback! : s.action,
    parametersJson: canonicalJson(s.params),
    requester: s.requester,
    notAfterUnix: s.notAfter,
    nonce: s.nonce,
    keyId,
    signature: Buffer.from(armored, "utf8"),
    issuedAtUnix: s.issuedAt,
    hostKey: entry.hostKey,
    previewHash: entry.previewHash,
    previewJson,
    rollout: { rolloutId: s.id, planRoot: s.planRoot, planSize: s.planSize, index: entry.index, batch: entry.batch, proof: [...proof], strategyHash: s.strategyHash, rollbackAction: s.rollback ?? "", undo, forwardAction: undo ? s.action : "" },
    cosignatures: cosignatures.map(toCosignature),
  };
}

const MAX_PARAMS_JSON = 16 * 1024;
// eslint-disable-next-line no-control-regex -- a signed field may hold no control character at all
const ANY_CONTROL = /[\u0000-\u001f\u007f]/;
/** A UTF-16 surrogate without its partner: such a string has no UTF-8 form, so what is signed and what the host receives would differ. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Field bounds of an Approval message; a value outside them is MALFORMED before any crypto runs. */
function malformed(a: Approval): string | undefined {
  const text = (field: string, v: unknown, max: number): string | undefined => {
    if (typeof v !== "string" || v.length === 0) return `${field} is missing`;
    if (v.length > max) return `${field} is longer than ${max} characters`;
    if (ANY_CONTROL.test(v)) return `${field} contains a control character`;
    if (LONE_SURROGATE.test(v)) return `${field} is not well-formed Unicode (a lone surrogate)`;
    return undefined;
  };
  const unix = (field: string, v: unknown): string | undefined =>
    typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0 ? `${field} is missing or not a positive integer` : undefined;
  return (
    text("request_id", a.requestId, 128) ??
    text("host", a.host, 253) ??
    text("action", a.action, 64) ??
    text("requester", a.requester, 256) ??
    text("parameters_json", a.parametersJson, MAX_PARAMS_JSON) ??
    unix("not_after_unix", a.notAfterUnix) ??
    unix("issued_at_unix", a.issuedAtUnix) ??
    (typeof a.hostKey !== "string" || !KEY_FINGERPRINT.test(a.hostKey) ? 'host_key is not a "sha256:<64 hex>" key fingerprint' : undefined) ??
    (typeof a.previewHash !== "string" || !KEY_FINGERPRINT.test(a.previewHash) ? 'preview_hash is not a "sha256:<64 hex>" digest of the impact preview' : undefined) ??
    (typeof a.nonce !== "string" || !/^[0-9a-f]{32}$/.test(a.nonce) ? "nonce is not 32 lowercase hex characters" : undefined) ??
    (typeof a.keyId !== "string" || !/^SHA256:[A-Za-z0-9+/]{43}$/.test(a.keyId) ? 'key_id is not a "SHA256:…" key fingerprint' : undefined) ??
    (!(a.signature instanceof Uint8Array) || a.signature.length === 0
      ? "signature is missing"
      : a.signature.length > MAX_ARMORED_SIGNATURE
        ? `signature is ${a.signature.length} bytes, more than ${MAX_ARMORED_SIGNATURE}`
        : undefined) ??
    (a.rollout ? malformedRollout(a, text) : undefined) ??
    malformedCosignatures(a)
  );
}

function malformedCosignatures(a: Approval): string | undefined {
  const list = a.cosignatures ?? [];
  if (!Array.isArray(list) || list.length > MAX_COSIGNATURES) return `cosignatures is not a list of at most ${MAX_COSIGNATURES}`;
  for (const [i, c] of list.entries()) {
    if (typeof c.keyId !== "string" || !/^SHA256:[A-Za-z0-9+/]{43}$/.test(c.keyId)) return `cosignatures[${i}].key_id is not a "SHA256:…" key fingerprint`;
    if (!(c.signature instanceof Uint8Array) || c.signature.length === 0) return `cosignatures[${i}].signature is missing`;
    if (c.signature.length > MAX_ARMORED_SIGNATURE) return `cosignatures[${i}].signature is ${c.signature.length} bytes, more than ${MAX_ARMORED_SIGNATURE}`;
  }
  return undefined;
}

function malformedRollout(a: Approval, text: (field: string, v: unknown, max: number) => string | undefined): string | undefined {
  const r = a.rollout!;
  const count = (field: string, v: unknown, min: number, max: number) => (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max ? `${field} is not an integer ${min}..${max}` : undefined);
  return (
    text("rollout.rollout_id", r.rolloutId, 40) ??
    (!ROLLOUT_ID.test(r.rolloutId) ? "rollout.rollout_id is not 1 to 40 lowercase letters, digits and -" : undefined) ??
    (typeof r.planRoot !== "string" || !KEY_FINGERPRINT.test(r.planRoot) ? 'rollout.plan_root is not a "sha256:<64 hex>" digest' : undefined) ??
    (typeof r.strategyHash !== "string" || !KEY_FINGERPRINT.test(r.strategyHash) ? 'rollout.strategy_hash is not a "sha256:<64 hex>" digest' : undefined) ??
    count("rollout.plan_size", r.planSize, 1, MAX_ROLLOUT_HOSTS) ??
    count("rollout.index", r.index, 0, r.planSize - 1) ??
    count("rollout.batch", r.batch, 0, r.planSize - 1) ??
    (!Array.isArray(r.proof) || r.proof.length > 14 ? "rollout.proof is not a list of at most 14 digests" : undefined) ??
    (r.rollbackAction !== "" ? text("rollout.rollback_action", r.rollbackAction, 64) : undefined) ??
    (r.undo ? text("rollout.forward_action", r.forwardAction, 64) : r.forwardAction ? "rollout.forward_action is set on a part that is not an undo" : undefined) ??
    (r.undo && r.rollbackAction !== a.action ? `action ${JSON.stringify(a.action)} of an undo part is not the plan's rollback_action ${JSON.stringify(r.rollbackAction)}` : undefined) ??
    (r.undo && r.forwardAction === a.action ? "rollout.forward_action is the action itself, not the one it undoes" : undefined) ??
    (a.requestId !== (r.undo ? rolloutUndoRequestId : rolloutRequestId)(r.rolloutId, r.index)
      ? `request_id ${JSON.stringify(a.requestId)} is not the roll-out's "${(r.undo ? rolloutUndoRequestId : rolloutRequestId)(r.rolloutId, r.index)}"`
      : undefined)
  );
}

/** The statement an Approval message claims, with the verifier's own impact; throws if params are not canonical JSON of an object. */
function statementOf(a: Approval, impact: Impact): ApprovalStatement {
  let params: unknown;
  try {
    params = JSON.parse(a.parametersJson);
  } catch {
    throw new Error("parameters_json is not JSON");
  }
  if (params === null || typeof params !== "object" || Array.isArray(params)) throw new Error("parameters_json is not a JSON object");
  if (canonicalJson(params) !== a.parametersJson) throw new Error("parameters_json is not in canonical form (sorted keys, no whitespace)");
  return {
    v: STATEMENT_VERSION,
    id: a.requestId,
    host: a.host,
    hostKey: a.hostKey,
    action: a.action,
    params: params as Record<string, unknown>,
    requester: a.requester,
    impact,
    issuedAt: a.issuedAtUnix,
    notAfter: a.notAfterUnix,
    nonce: a.nonce,
    previewHash: a.previewHash,
  };
}

/**
 * Whether `identity` (an approver line's identity="NAME") is who asked: the requester itself, or
 * its last ":"-separated part — the broker writes requesters as `mcp:<transport>:<client>[:<label>]`,
 * where <label> names the HTTP credential that authenticated the caller (a person's, in team mode).
 * A stdio requester names no person, so four eyes cannot bite on it. Fails closed: a match refuses.
 */
function requestedBy(requester: string, identity: string): boolean {
  return requester === identity || requester.endsWith(`:${identity}`);
}

/** How a host judges an approval's times (its own settings: the helper reads them from actions.yaml). */
export interface ApprovalClock {
  /**
   * Unix SECONDS by a clock that does not step back (the helper's: the highest time it has ever
   * seen). Milliseconds throw rather than never expire.
   */
  now: number;
  /**
   * The clock error this host allows, seconds. Expiry is judged as if the host's clock were this
   * much behind (now + maxSkew > notAfter is expired), so a host whose clock lags by up to this much
   * never extends an approval; an approval signed further than this in the host's future shows a
   * lag larger than that and is refused, naming it.
   */
  maxSkewSeconds: number;
  /** The longest validity this host accepts, seconds: notAfter − issuedAt, and notAfter − now − maxSkew. */
  maxLifetimeSeconds: number;
  /** Approvals signed before this (unix seconds: when the host's approval store began) are refused. */
  notBefore?: number;
}

const iso = (unix: number) => new Date(unix * 1000).toISOString();

/**
 * Verifies an approval for the action about to run. Order: shape (MALFORMED) → approver key by
 * key_id (UNKNOWN_KEY) → signature over the statement rebuilt with the verifier's impact
 * (BAD_SIGNATURE) → then the now-authenticated fields against what is about to run: host name and
 * host key (OTHER_HOST), action (OTHER_ACTION), params (ALTERED), the times (CLOCK_SKEW,
 * LIFETIME, EXPIRED, STALE, see ApprovalClock), the key's limit (IMPACT_TOO_HIGH). Nonces are NOT checked
 * here: the helper's nonce store does that afterwards.
 */
export function checkApproval(
  approval: Approval | undefined | null,
  expect: {
    host: string;
    /** The host's operator certificate key fingerprint ("sha256:<hex>"). */
    hostKey: string;
    action: string;
    params: Record<string, unknown>;
    impact: Impact;
    clock: ApprovalClock;
    approvers: readonly ApproverKey[];
    /** Distinct approver keys this impact needs on this host (approvals.required); 1 when absent. */
    required?: number;
  },
): { ok: true; statement: ApprovalStatement; key: ApproverKey; keys: ApproverKey[] } | { ok: false; code: ApprovalRefusal; reason: string } {
  const { now, maxSkewSeconds: skew, maxLifetimeSeconds: lifetime } = expect.clock;
  if (!Number.isFinite(now) || now > 1e11) throw new TypeError(`checkApproval: now must be unix seconds, got ${now}`);
  if (!approval) return { ok: false, code: "MALFORMED", reason: "no approval was given" };
  const bad = malformed(approval);
  if (bad) return { ok: false, code: "MALFORMED", reason: `approval ${bad}` };
  let statement: ApprovalStatement;
  try {
    statement = statementOf(approval, expect.impact);
  } catch (err) {
    return { ok: false, code: "MALFORMED", reason: `approval ${(err as Error).message}` };
  }
  const armored = Buffer.from(approval.signature).toString("utf8");

  const key = expect.approvers.find((k) => k.keyId === approval.keyId);
  if (!key) return { ok: false, code: "UNKNOWN_KEY", reason: `approver key ${approval.keyId} is not one of this host's ${expect.approvers.length} approver key(s)` };

  let signed = canonicalStatement(statement);
  if (approval.rollout) {
    // This host's entry must lead to the signed root: else it is not in the plan the human signed.
    const r = approval.rollout;
    const entry = { index: r.index, host: approval.host, hostKey: approval.hostKey, previewHash: approval.previewHash, batch: r.batch };
    const reached = rootFromPath(entry, r.proof, r.planSize);
    if (!reached.ok) return { ok: false, code: "MALFORMED", reason: `approval's roll-out entry: ${reached.reason}` };
    if (reached.root !== r.planRoot) {
      return { ok: false, code: "OTHER_HOST", reason: `approval's roll-out entry ${r.index} (host ${JSON.stringify(approval.host)}, key ${approval.hostKey}, batch ${r.batch}, preview ${approval.previewHash}) is not in the signed plan ${r.rolloutId}: its audit path leads to ${reached.root}, not the plan's root ${r.planRoot}` };
    }
    // An undo part runs the inverse the human signed as the plan's `rollback`; the plan's own action
    // is `forward_action`. (That the inverse is the catalog's inverse of it, and that the forward
    // part ran here first, is the helper's to check: run.ts.)
    signed = canonicalRolloutStatement({
      v: ROLLOUT_STATEMENT_VERSION,
      kind: "rollout",
      id: r.rolloutId,
      action: r.undo ? r.forwardAction : statement.action,
      ...(r.rollbackAction !== "" && { rollback: r.rollbackAction }),
      params: statement.params,
      requester: statement.requester,
      impact: statement.impact,
      issuedAt: statement.issuedAt,
      notAfter: statement.notAfter,
      nonce: statement.nonce,
      planRoot: r.planRoot,
      planSize: r.planSize,
      strategyHash: r.strategyHash,
    });
  }
  const verified = verifySshSig(armored, signed, [key]);
  if (!verified.ok) return { ok: false, code: "BAD_SIGNATURE", reason: `${verified.reason}${approval.rollout ? ` (over the roll-out statement of ${approval.rollout.rolloutId})` : ""}` };
  // Every further signature: another known key (each key counts once), over the same statement.
  const keys: ApproverKey[] = [key];
  for (const [i, c] of (approval.cosignatures ?? []).entries()) {
    const k = expect.approvers.find((x) => x.keyId === c.keyId);
    if (!k) return { ok: false, code: "UNKNOWN_KEY", reason: `cosignature ${i + 1}'s key ${c.keyId} is not one of this host's ${expect.approvers.length} approver key(s)` };
    if (keys.some((x) => x.keyId === k.keyId)) return { ok: false, code: "MALFORMED", reason: `approval carries two signatures by the key ${k.keyId}: each approver key signs once` };
    const v = verifySshSig(Buffer.from(c.signature).toString("utf8"), signed, [k]);
    if (!v.ok) return { ok: false, code: "BAD_SIGNATURE", reason: `cosignature ${i + 1} (key ${k.keyId}): ${v.reason}` };
    keys.push(k);
  }

  if (statement.host !== expect.host) {
    const where = approval.rollout ? ` (entry ${approval.rollout.index} of roll-out ${approval.rollout.rolloutId}; a host that is not in the signed plan cannot run it)` : "";
    return { ok: false, code: "OTHER_HOST", reason: `approval is for host ${JSON.stringify(statement.host)}, this host is ${JSON.stringify(expect.host)}${where}` };
  }
  if (statement.hostKey !== expect.hostKey) {
    return {
      ok: false,
      code: "OTHER_HOST",
      reason: `approval is for the host key ${statement.hostKey}, but this host's operator certificate has the key ${expect.hostKey} (the host was re-enrolled since the approval, or the approval is for another host): propose the action again`,
    };
  }
  if (statement.action !== expect.action) return { ok: false, code: "OTHER_ACTION", reason: `approval is for action ${statement.action}, not ${expect.action}` };
  let wanted: string;
  try {
    wanted = canonicalJson(expect.params);
  } catch (err) {
    return { ok: false, code: "ALTERED", reason: `parameters to run are not JSON: ${(err as Error).message}` };
  }
  if (approval.parametersJson !== wanted) return { ok: false, code: "ALTERED", reason: `approved parameters ${approval.parametersJson} differ from the parameters to run ${wanted}` };

  const ahead = statement.issuedAt - now;
  if (ahead > skew) {
    return {
      ok: false,
      code: "CLOCK_SKEW",
      reason: `approval was signed at ${iso(statement.issuedAt)}, ${ahead} s after this host's time ${iso(now)}: this host's clock is at least ${ahead} s behind the approver's, more than the ${skew} s it allows (approvals.maxClockSkewSeconds); correct the clock (NTP) and approve again`,
    };
  }
  // notAfter − issuedAt by the approver's clock; notAfter − now by this host's (with the skew it
  // allows; implied by the first check and the skew check, kept so neither can be lost alone).
  const validFor = statement.notAfter - statement.issuedAt;
  if (validFor > lifetime || statement.notAfter - now > lifetime + skew) {
    return {
      ok: false,
      code: "LIFETIME",
      reason: `approval is valid until ${iso(statement.notAfter)} (${Math.max(validFor, statement.notAfter - now - skew)} s), longer than this host's maximum of ${lifetime} s (approvals.maxLifetimeSeconds in actions.yaml): approve it with a shorter expiry (broker.yaml approvalTtlSeconds)`,
    };
  }
  if (now + skew > statement.notAfter) {
    return {
      ok: false,
      code: "EXPIRED",
      reason: `approval expired at ${iso(statement.notAfter)} (judged at ${iso(now)} plus the ${skew} s of clock error this host allows, so a host clock that lags cannot extend it)`,
    };
  }
  if (expect.clock.notBefore !== undefined && statement.issuedAt < expect.clock.notBefore) {
    return {
      ok: false,
      code: "STALE",
      reason: `approval was signed at ${iso(statement.issuedAt)}, before this host's record of used approvals began (${iso(expect.clock.notBefore)}: the helper's state was created or reset then): it may have run already; propose the action again`,
    };
  }
  for (const k of keys) {
    if (impactRank(expect.impact) > impactRank(k.maxImpact)) {
      return { ok: false, code: "IMPACT_TOO_HIGH", reason: `${expect.action} is ${expect.impact} impact; key ${k.keyId} approves at most ${k.maxImpact}` };
    }
  }
  // Four eyes: the person who asked does not approve their own request.
  const own = keys.find((k) => k.identity !== undefined && requestedBy(statement.requester, k.identity));
  if (own) return { ok: false, code: "SELF_APPROVAL", reason: `key ${own.keyId} belongs to ${JSON.stringify(own.identity)}, who requested this action: a requester does not approve their own request` };
  // Approvers, not keys: keys whose lines name the same identity are one person.
  const approvers = new Set(keys.map((k) => (k.identity !== undefined ? `identity:${k.identity}` : `key:${k.keyId}`))).size;
  const required = expect.required ?? 1;
  if (approvers < required) {
    const same = approvers < keys.length ? ` (${keys.length} keys, but keys whose approver lines name the same identity count once)` : "";
    return {
      ok: false,
      code: "TOO_FEW_APPROVALS",
      reason: `${expect.impact} actions need ${required} distinct approvers on this host (approvals.required.${expect.impact} in actions.yaml); this approval has ${approvers}${same}: another approver adds a signature with "hostward approve ${statement.id}"`,
    };
  }
  return { ok: true, statement, key, keys };
}

// ---------------------------------------------------------------------------------------------
// OpenSSH private keys (PROTOCOL.key), so `hostward approve --key ~/.ssh/id_ed25519` and the keys
// `hostward pki approver-key` writes work with ssh-keygen too. Unencrypted ed25519 only: an
// encrypted key belongs in ssh-agent (`hostward approve --agent`).

const OPENSSH_KEY_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----";
const OPENSSH_KEY_END = "-----END OPENSSH PRIVATE KEY-----";
const OPENSSH_KEY_MAGIC = Buffer.from("openssh-key-v1\0", "latin1");
const MAX_PRIVATE_KEY_TEXT = 8192;

/** Reads an unencrypted "-----BEGIN OPENSSH PRIVATE KEY-----" ed25519 key; returns the private KeyObject and its comment. */
export function parseOpenSshPrivateKey(text: string): { privateKey: KeyObject; comment: string } {
  if (text.length > MAX_PRIVATE_KEY_TEXT) throw new Error(`private key file is longer than ${MAX_PRIVATE_KEY_TEXT} characters`);
  const lines = text.replace(/\r\n/g, "\n").trim().split("\n");
  if (lines.length < 3 || lines[0] !== OPENSSH_KEY_BEGIN || lines[lines.length - 1] !== OPENSSH_KEY_END) {
    throw new Error(`not an OpenSSH private key (expected "${OPENSSH_KEY_BEGIN}")`);
  }
  const blob = strictBase64(lines.slice(1, -1).join(""), "private key");
  const r = new WireReader(blob, "OpenSSH private key");
  if (!r.bytes(OPENSSH_KEY_MAGIC.length, "magic").equals(OPENSSH_KEY_MAGIC)) throw new Error('OpenSSH private key: magic is not "openssh-key-v1"');
  const cipher = r.text("cipher name", 64);
  const kdf = r.text("kdf name", 64);
  r.string("kdf options", 1024);
  if (cipher !== "none" || kdf !== "none") throw new Error("OpenSSH private key is encrypted: load it into ssh-agent and approve with --agent");
  const count = r.uint32("key count");
  if (count !== 1) throw new Error(`OpenSSH private key holds ${count} keys, expected 1`);
  const publicBlob = r.string("public key", ED25519_BLOB_LENGTH);
  const section = r.string("private section", 4096);
  r.end();
  publicKeyFromBlob(publicBlob, "OpenSSH private key");
  const p = new WireReader(section, "OpenSSH private key section");
  if (p.uint32("check 1") !== p.uint32("check 2")) throw new Error("OpenSSH private key: check integers differ (wrong passphrase or corrupt file)");
  const type = p.text("key type", 64);
  if (type !== KEY_TYPE) throw new Error(`OpenSSH private key type ${JSON.stringify(type)} is not ${KEY_TYPE}`);
  const pub = p.string("ed25519 public key", ED25519_PUBLIC_LENGTH);
  const secret = p.string("ed25519 private key", 64);
  if (pub.length !== ED25519_PUBLIC_LENGTH || secret.length !== 64) throw new Error("OpenSSH private key: ed25519 key lengths are wrong");
  if (!secret.subarray(32).equals(pub) || !publicBlob.subarray(-ED25519_PUBLIC_LENGTH).equals(pub)) throw new Error("OpenSSH private key: public and private parts do not match");
  const comment = p.text("comment", 1024);
  // The section is padded to the cipher's block size (8 for "none") with the bytes 1, 2, 3, …
  const padding = p.bytes(section.length - p.position, "padding");
  if (padding.length >= 8 || padding.some((b, i) => b !== i + 1)) throw new Error("OpenSSH private key: bad padding");
  const privateKey = createPrivateKey({
    key: { kty: "OKP", crv: "Ed25519", d: secret.subarray(0, 32).toString("base64url"), x: pub.toString("base64url") },
    format: "jwk",
  });
  if (!publicKeyBlob(privateKey).equals(publicBlob)) throw new Error("OpenSSH private key: the seed does not give the stated public key");
  return { privateKey, comment };
}

/** Writes an ed25519 private key as an unencrypted OpenSSH private key file (mode 0600 is the caller's job). */
export function formatOpenSshPrivateKey(privateKey: KeyObject, comment = ""): string {
  if (privateKey.type !== "private" || privateKey.asymmetricKeyType !== "ed25519") throw new Error("formatOpenSshPrivateKey needs an ed25519 private key");
  const jwk = privateKey.export({ format: "jwk" });
  if (typeof jwk.d !== "string" || typeof jwk.x !== "string") throw new Error("ed25519 key export failed");
  const pub = Buffer.from(jwk.x, "base64url");
  const check = randomBytes(4);
  let section = Buffer.concat([
    check,
    check,
    wireString(KEY_TYPE),
    wireString(pub),
    wireString(Buffer.concat([Buffer.from(jwk.d, "base64url"), pub])),
    wireString(comment),
  ]);
  const pad = (8 - (section.length % 8)) % 8;
  section = Buffer.concat([section, Buffer.from(Array.from({ length: pad }, (_v, i) => i + 1))]);
  const blob = Buffer.concat([OPENSSH_KEY_MAGIC, wireString("none"), wireString("none"), wireString(""), u32(1), wireString(publicKeyBlob(privateKey)), wireString(section)]);
  const b64 = blob.toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 70) lines.push(b64.slice(i, i + 70));
  return `${OPENSSH_KEY_BEGIN}\n${lines.join("\n")}\n${OPENSSH_KEY_END}\n`;
}
