// Test approver keys made with node:crypto, and a signed approval builder, shared by the approval tests.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import {
  approvalToMessage,
  newNonce,
  parseApproverLine,
  publicKeyBlob,
  signSshSig,
  canonicalStatement,
  type ApprovalStatement,
  type ApproverKey,
  type Impact,
} from "../../proto/catalog/approval";
import type { Approval } from "../../proto/gen/hostward/v1/actions";

export interface TestKey {
  privateKey: KeyObject;
  line: string;
  approver: ApproverKey;
}

export function makeKey(maxImpact: Impact, comment = "tester@laptop"): TestKey {
  const { privateKey } = generateKeyPairSync("ed25519");
  const line = `max-impact="${maxImpact}" ssh-ed25519 ${publicKeyBlob(privateKey).toString("base64")} ${comment}`;
  return { privateKey, line, approver: parseApproverLine(line) };
}

export const NOW = 1_900_000_000;
/** The host key fingerprint test statements bind (any "sha256:<64 hex>"; the helper's comes from its certificate). */
export const HOST_KEY = `sha256:${"ab".repeat(32)}`;
/** The clock settings of a host (the helper's defaults from actions.yaml), at NOW. */
export const CLOCK: { now: number; maxSkewSeconds: number; maxLifetimeSeconds: number } = { now: NOW, maxSkewSeconds: 120, maxLifetimeSeconds: 3600 };

export function statement(over: Partial<ApprovalStatement> = {}): ApprovalStatement {
  return {
    v: 3,
    id: "act-0001",
    host: "web1",
    hostKey: HOST_KEY,
    action: "restart_service",
    params: { unit: "unbound.service" },
    requester: "claude@broker",
    impact: "MEDIUM",
    issuedAt: NOW - 60,
    notAfter: NOW + 600,
    nonce: newNonce(),
    previewHash: `sha256:${"cd".repeat(32)}`,
    ...over,
  };
}

/** The Approval message a human with `key` produces for `s` (signed by `signer`, labelled with `key`'s id). */
export function signed(s: ApprovalStatement, key: TestKey, signer: TestKey = key): Approval {
  return approvalToMessage(s, key.approver.keyId, signSshSig(canonicalStatement(s), signer.privateKey));
}
