// Approvals made the way a human approver's tools make them, for tests that talk to the host side
// directly (the helper through sudo, the operator agent over mTLS): an ed25519 key pair generated
// in the test, its `max-impact="…"` line installed in the container's /etc/hostward/approvers/,
// and statements signed with the shared catalog code (proto/catalog/approval.ts, OpenSSH SSHSIG).
// Every field of a statement can be overridden, so a test can make exactly one thing wrong.
//
//   const alice = createApprover("alice", "MEDIUM");
//   installApprovers(c, [alice, lowKey]);
//   const approval = alice.approve({ host: "act1", action: "restart_service", params: { unit: "nginx.service" } });
//   helperRequest("restart_service", { unit: "nginx.service" }, approval)   // the helper's stdin
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import {
  canonicalJson,
  previewDigest,
  approvalToMessage,
  canonicalStatement,
  formatOpenSshPrivateKey,
  formatOpenSshPublicKey,
  keyIdOf,
  newNonce,
  publicKeyBlob,
  signSshSig,
  type ApprovalStatement,
  type Impact,
} from "../../../proto/catalog/approval";
import { findAction } from "../../../proto/catalog/actions/index";
import type { Approval } from "../../../proto/gen/hostward/v1/actions";
import type { ActionPreview } from "../../../proto/catalog/define-action";
import { approvalToWire, type HelperRequest } from "../../../agent/src/helper/wire";
import type { Container } from "./container";

/** Each enrolled host's operator key (support/pki.ts installAgentCerts records it). */
const HOST_KEYS = new Map<string, string>();

export function registerHostKey(host: string, key: string): void {
  HOST_KEYS.set(host, key);
}

interface StatementFields {
  host: string;
  /** Default: the key installed for `host` by installAgentCerts. */
  hostKey?: string;
  /** Unix seconds; default now. */
  issuedAt?: number;
  action: string;
  /** The catalog-parsed parameters (defaults filled), exactly as the helper will compare them. */
  params: Record<string, unknown>;
  id?: string;
  requester?: string;
  /** Default: the action's impact from the catalog. */
  impact?: Impact;
  /** Unix seconds; default now + 10 minutes. */
  notAfter?: number;
  /** The host's impact preview the approver read (previewIn); default an empty one. */
  preview?: ActionPreview;
  /** More approvers who sign the same statement (a host requires two keys for HIGH by default). */
  cosigners?: Approver[];
  nonce?: string;
}

export interface Approver {
  name: string;
  maxImpact: Impact;
  keyId: string;
  privateKey: KeyObject;
  /** The line for /etc/hostward/approvers/NAME.pub. */
  approverLine: string;
  /** An unencrypted OpenSSH private key file's text (for `hostward approve --key FILE`). */
  privateKeyText: string;
  /** Signs a statement; returns the proto Approval and the statement it carries. */
  approve(fields: StatementFields): { approval: Approval; statement: ApprovalStatement };
}

export function createApprover(name: string, maxImpact: Impact): Approver {
  const { privateKey } = generateKeyPairSync("ed25519");
  const keyId = keyIdOf(publicKeyBlob(privateKey));
  return {
    name,
    maxImpact,
    keyId,
    privateKey,
    approverLine: `max-impact="${maxImpact}" ${formatOpenSshPublicKey(privateKey, `${name}@e2e`)}`,
    privateKeyText: formatOpenSshPrivateKey(privateKey, `${name}@e2e`),
    approve(fields) {
      const def = findAction(fields.action);
      const hostKey = fields.hostKey ?? HOST_KEYS.get(fields.host) ?? `sha256:${"0".repeat(64)}`;
      const now = Math.floor(Date.now() / 1000);
      // The preview the approver read: the host's own (previewIn), or an empty one for tests of
      // refusals that come before the preview is compared.
      const previewJson = canonicalJson(fields.preview ?? { action: fields.action, facts: {}, summary: [] });
      const statement: ApprovalStatement = {
        v: 3,
        id: fields.id ?? `e2e-${newNonce().slice(0, 12)}`,
        host: fields.host,
        hostKey,
        action: fields.action,
        params: fields.params,
        requester: fields.requester ?? "e2e-test",
        impact: fields.impact ?? def?.impact ?? "HIGH",
        issuedAt: fields.issuedAt ?? now,
        notAfter: fields.notAfter ?? now + 600,
        nonce: fields.nonce ?? newNonce(),
        previewHash: previewDigest(previewJson),
      };
      const text = canonicalStatement(statement);
      const armored = signSshSig(text, privateKey);
      const cosignatures = (fields.cosigners ?? []).map((c) => ({ keyId: c.keyId, signature: signSshSig(text, c.privateKey) }));
      return { approval: approvalToMessage(statement, keyId, armored, previewJson, cosignatures), statement };
    },
  };
}

/** Writes each approver's line to /etc/hostward/approvers/NAME.pub (root's, 0644; directory 0755). */
export function installApprovers(c: Container, approvers: readonly Approver[]): void {
  const dir = c.path("/etc/hostward/approvers");
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  for (const a of approvers) {
    const file = `${dir}/${a.name}.pub`;
    writeFileSync(file, `${a.approverLine}\n`, { mode: 0o644 });
    chmodSync(file, 0o644);
  }
}

/** What /etc/hostward/actions.yaml allows (agent/src/helper/settings.ts). */
export interface AllowlistFields {
  units?: string[];
  containers?: string[];
  reboot?: boolean;
  logFiles?: string[];
  packages?: string[];
  journal?: boolean;
  packageCache?: boolean;
}

/** Writes /etc/hostward/actions.yaml (root's, 0644). */
export function installAllowlist(c: Container, allow: AllowlistFields): void {
  const file = c.path("/etc/hostward/actions.yaml");
  const body = { units: allow.units ?? [], containers: allow.containers ?? [], reboot: allow.reboot ?? false, logFiles: allow.logFiles ?? [], packages: allow.packages ?? [], journal: allow.journal ?? false, packageCache: allow.packageCache ?? false };
  // JSON is YAML.
  writeFileSync(file, `${JSON.stringify(body)}\n`, { mode: 0o644 });
  chmodSync(file, 0o644);
}

/** The helper's stdin: {action, params, approval} with the signature base64-encoded (proto JSON's bytes). */
export function helperRequest(action: string, params: Record<string, unknown>, approval: Approval | null): HelperRequest {
  return { action, params, approval: approval ? approvalToWire(approval) : null };
}
