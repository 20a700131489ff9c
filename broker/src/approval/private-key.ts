// Approver private keys on disk: OpenSSH's own format ("-----BEGIN OPENSSH PRIVATE KEY-----",
// what `ssh-keygen -t ed25519` writes; unencrypted only: the broker never asks for a passphrase,
// use --agent for a protected key) or PKCS#8 PEM. ed25519 only. Also writes the OpenSSH format
// for `hostward pki approver-key`, so the key works with ssh-add and `ssh-keygen -Y sign` too.
import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from "node:crypto";
import { publicKeyBlob } from "../../../proto/catalog/approval";

const OPENSSH_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----";
const OPENSSH_END = "-----END OPENSSH PRIVATE KEY-----";
const AUTH_MAGIC = Buffer.from("openssh-key-v1\0", "latin1");
const MAX_KEY_FILE = 64 * 1024;

class KeyFileError extends Error {
  override name = "KeyFileError";
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

function sshString(data: string | Buffer): Buffer {
  const body = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  return Buffer.concat([u32(body.length), body]);
}

class Reader {
  #off = 0;
  constructor(private readonly buf: Buffer) {}
  uint32(): number {
    if (this.#off + 4 > this.buf.length) throw new KeyFileError("OpenSSH private key is truncated");
    const v = this.buf.readUInt32BE(this.#off);
    this.#off += 4;
    return v;
  }
  string(): Buffer {
    const n = this.uint32();
    if (n > this.buf.length - this.#off) throw new KeyFileError("OpenSSH private key is truncated");
    const out = this.buf.subarray(this.#off, this.#off + n);
    this.#off += n;
    return out;
  }
  rest(): Buffer {
    return this.buf.subarray(this.#off);
  }
}

/** Parses an unencrypted OpenSSH ed25519 private key; returns the key and its comment. */
function parseOpenSshPrivateKey(text: string): { key: KeyObject; comment: string } {
  const start = text.indexOf(OPENSSH_BEGIN);
  const end = text.indexOf(OPENSSH_END);
  if (start < 0 || end < start) throw new KeyFileError("not an OpenSSH private key");
  const blob = Buffer.from(text.slice(start + OPENSSH_BEGIN.length, end).replace(/\s+/g, ""), "base64");
  if (!blob.subarray(0, AUTH_MAGIC.length).equals(AUTH_MAGIC)) throw new KeyFileError("OpenSSH private key has no openssh-key-v1 header");
  const r = new Reader(blob.subarray(AUTH_MAGIC.length));
  const cipher = r.string().toString();
  const kdf = r.string().toString();
  r.string(); // kdf options
  if (cipher !== "none" || kdf !== "none") {
    throw new KeyFileError("the OpenSSH private key is passphrase-protected: load it into ssh-agent (ssh-add) and use --agent");
  }
  if (r.uint32() !== 1) throw new KeyFileError("the OpenSSH private key file holds more than one key");
  r.string(); // public key blob (repeated inside the private section)
  const priv = new Reader(r.string());
  if (priv.uint32() !== priv.uint32()) throw new KeyFileError("OpenSSH private key check bytes differ (corrupt file)");
  const type = priv.string().toString();
  if (type !== "ssh-ed25519") throw new KeyFileError(`approver keys must be ed25519, this one is ${type}`);
  const pub = priv.string();
  const secret = priv.string();
  const comment = priv.string().toString("utf8");
  if (pub.length !== 32 || secret.length !== 64 || !secret.subarray(32).equals(pub)) throw new KeyFileError("malformed ed25519 private key");
  const key = createPrivateKey({
    key: { kty: "OKP", crv: "Ed25519", d: secret.subarray(0, 32).toString("base64url"), x: pub.toString("base64url") },
    format: "jwk",
  });
  return { key, comment };
}

/** Reads an approver key from the text of a key file (OpenSSH or PKCS#8 PEM). */
export function parsePrivateKey(text: string, where = "key file"): { key: KeyObject; comment: string } {
  if (text.length > MAX_KEY_FILE) throw new KeyFileError(`${where} is larger than ${MAX_KEY_FILE} bytes`);
  if (text.includes(OPENSSH_BEGIN)) return parseOpenSshPrivateKey(text);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: "pem" });
  } catch (err) {
    throw new KeyFileError(`${where} is neither an OpenSSH nor a PEM private key: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== "ed25519") throw new KeyFileError(`${where}: approver keys must be ed25519, this one is ${key.asymmetricKeyType ?? "unknown"}`);
  return { key, comment: "" };
}

/** "ssh-ed25519 AAAA… comment" */
export function openSshPublicLine(key: KeyObject, comment: string): string {
  return `ssh-ed25519 ${publicKeyBlob(key).toString("base64")}${comment ? ` ${comment}` : ""}`;
}

/** An unencrypted OpenSSH private key file (the format ssh-keygen writes). */
export function formatOpenSshPrivateKey(key: KeyObject, comment: string): string {
  const jwk = key.export({ format: "jwk" });
  if (key.asymmetricKeyType !== "ed25519" || typeof jwk.d !== "string" || typeof jwk.x !== "string") throw new KeyFileError("only ed25519 private keys can be written");
  const seed = Buffer.from(jwk.d, "base64url");
  const pub = Buffer.from(jwk.x, "base64url");
  const pubBlob = publicKeyBlob(createPublicKey(key));
  const check = randomBytes(4);
  let priv = Buffer.concat([check, check, sshString("ssh-ed25519"), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment)]);
  const pad: number[] = [];
  for (let i = 1; (priv.length + pad.length) % 8 !== 0; i++) pad.push(i);
  priv = Buffer.concat([priv, Buffer.from(pad)]);
  const blob = Buffer.concat([AUTH_MAGIC, sshString("none"), sshString("none"), sshString(""), u32(1), sshString(pubBlob), sshString(priv)]);
  const b64 = blob.toString("base64").replace(/.{1,70}/g, "$&\n");
  return `${OPENSSH_BEGIN}\n${b64}${OPENSSH_END}\n`;
}
