// Who signs an approval: a key file (OpenSSH or PKCS#8 ed25519; `hostward approve --key`, and the
// broker's elicitation key) or the approver's ssh-agent (`--agent`: the key never enters this
// process). Either way the result is an SSHSIG over the canonical statement, checked once more
// against the signer's public key before anyone records it.
import { readFileSync } from "node:fs";
import { createPublicKey, type KeyObject } from "node:crypto";
import {
  armorSshSig,
  canonicalStatement,
  keyIdOf,
  parseOpenSshPublicKey,
  publicKeyBlob,
  signSshSig,
  sshSigSignedData,
  verifySshSig,
  type ApprovalStatement,
  type PublicKeyInfo,
} from "../../../proto/catalog/approval";
import { parsePrivateKey } from "./private-key";
import { agentIdentities, agentSign, agentSocket, AgentError } from "./ssh-agent";

export interface Signer {
  keyId: string;
  comment: string;
  /** How the key is held, for the audit record ("file:PATH" or "ssh-agent"). */
  source: string;
  publicKey: PublicKeyInfo;
  /** Armored SSHSIG over `message`. */
  sign(message: string): Promise<string>;
}

function infoOf(key: KeyObject, comment: string): PublicKeyInfo {
  const blob = publicKeyBlob(key);
  return { keyId: keyIdOf(blob), publicKey: createPublicKey(key), blob, comment };
}

export function fileSigner(path: string): Signer {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`cannot read the approver key ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const { key, comment } = parsePrivateKey(text, path);
  const info = infoOf(key, comment);
  return { keyId: info.keyId, comment, source: `file:${path}`, publicKey: info, sign: async (message) => signSshSig(message, key) };
}

/** The agent's ed25519 key: the one with `keyId`, or the only ed25519 key it holds. */
export async function agentSigner(socketPath: string, keyId?: string): Promise<Signer> {
  const identities = (await agentIdentities(socketPath)).flatMap((id) => {
    try {
      const info = parseOpenSshPublicKey(`ssh-ed25519 ${id.blob.toString("base64")} ${id.comment}`);
      return [info];
    } catch {
      return []; // not ed25519: approvers are ed25519 only
    }
  });
  const candidates = keyId ? identities.filter((i) => i.keyId === keyId) : identities;
  if (candidates.length === 0) {
    throw new AgentError(
      keyId ? `ssh-agent holds no ed25519 key ${keyId} (it holds: ${identities.map((i) => i.keyId).join(", ") || "none"})` : "ssh-agent holds no ed25519 key: ssh-add your approver key",
    );
  }
  if (candidates.length > 1) {
    throw new AgentError(`ssh-agent holds ${candidates.length} ed25519 keys; choose one with --key-id (${candidates.map((i) => `${i.keyId} ${i.comment}`).join("; ")})`);
  }
  const info = candidates[0]!;
  return {
    keyId: info.keyId,
    comment: info.comment,
    source: "ssh-agent",
    publicKey: info,
    sign: async (message) => armorSshSig(info.blob, await agentSign(socketPath, info.blob, sshSigSignedData(message))),
  };
}

/**
 * The approver's signer as `hostward approve` and `hostward approvals` choose it on the terminal:
 * `--agent` (the ed25519 key in $SSH_AUTH_SOCK's agent, `--key-id` to pick one) or `--key FILE`.
 * Throws, saying why, when the key cannot be had.
 */
export async function approverSigner(choice: { key?: string; agent?: boolean; keyId?: string }): Promise<Signer> {
  return choice.agent ? agentSigner(agentSocket(), choice.keyId) : fileSigner(choice.key!);
}

/** The line both commands print about the signer ("  signer:    SHA256:… (comment) from file:…"). */
export function signerLine(signer: Signer): string {
  return `  signer:    ${signer.keyId}${signer.comment ? ` (${signer.comment})` : ""} from ${signer.source}`;
}

/** Signs a statement and verifies the signature before returning it. */
export async function signStatement(statement: ApprovalStatement, signer: Signer): Promise<{ keyId: string; signature: string }> {
  return signCanonical(canonicalStatement(statement), signer);
}

/** Signs a canonical statement's text (a single-host or a roll-out statement) and checks the signature once more. */
export async function signCanonical(message: string, signer: Signer): Promise<{ keyId: string; signature: string }> {
  const signature = await signer.sign(message);
  const check = verifySshSig(signature, message, [signer.publicKey]);
  if (!check.ok) throw new Error(`the signature from ${signer.source} does not verify: ${check.reason}`);
  return { keyId: signer.keyId, signature };
}
