// Shared by the action tests: a temporary host configuration for the helper in direct mode
// (approvers, state, allowlist, the host's operator certificate), real ed25519 approver keys and
// approvals signed the way the broker signs them (SSHSIG over the canonical statement, binding the
// host's name and its operator certificate's key), and a runner for the BUILT helper.
import { generateKeyPairSync, X509Certificate, type KeyObject } from "node:crypto";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  approvalToMessage,
  canonicalJson,
  canonicalStatement,
  previewDigest,
  keyIdOf,
  newNonce,
  publicKeyBlob,
  signSshSig,
  type ApprovalStatement,
  type Impact,
} from "../../proto/catalog/approval";
import type { Approval } from "../../proto/gen/hostward/v1/actions";
import type { ActionPreview } from "../../proto/catalog/define-action";
import { approvalToWire } from "../../agent/src/helper/wire";
import { initApprovalStore } from "../../agent/src/helper/nonce-store";
import { createCa, issueAgentCert, type PemPair } from "../../broker/src/pki/index";
import { publicKeyFingerprint } from "../../shared/cert-names";

export const ROOT = join(import.meta.dirname, "..", "..");
export const HELPER_BUNDLE = join(ROOT, "dist/agent/hostward-action.cjs");
export const HOST = "web1.test";
/** The PATH sudo's secure_path sets on Debian; the helper refuses any other. */
const SECURE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface HostCertificate extends PemPair {
  /** "sha256:<hex>" of the certificate's public key: what approvals for this host bind. */
  fingerprint: string;
}

/** An operator certificate for `host` from a fresh CA (each call: a new key, as a re-enrolment makes). */
export async function hostCertificate(host = HOST): Promise<HostCertificate> {
  const ca = await createCa({ commonName: "actions test CA" });
  const pair = await issueAgentCert(ca, { host, role: "operator", dns: ["localhost"], ips: ["127.0.0.1"] });
  return { ...pair, fingerprint: publicKeyFingerprint(new X509Certificate(pair.cert)) };
}

/** The operator certificate every host made by makeHost() has unless told otherwise. */
export const HOST_CERT: HostCertificate = await hostCertificate();

export interface Approver {
  privateKey: KeyObject;
  keyId: string;
  line: string;
}

export function makeApprover(maxImpact: Impact, comment = "alice@laptop"): Approver {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const blob = publicKeyBlob(publicKey);
  return { privateKey, keyId: keyIdOf(blob), line: `max-impact="${maxImpact}" ssh-ed25519 ${blob.toString("base64")} ${comment}` };
}

export interface HostDirs {
  dir: string;
  approversDir: string;
  stateDir: string;
  actionsFile: string;
  /** The host's operator certificate (HOSTWARD_AGENT_CERT). */
  agentCert: string;
  /** The helper's environment in direct mode (what the operator agent passes). */
  env: Record<string, string>;
}

export const DEFAULT_ALLOWLIST = "units: [nginx.service, unbound.service]\ncontainers: [web]\nreboot: false\n";

/**
 * A host's helper configuration in a fresh directory. Its store of used approvals is created as the
 * package's postinst creates it, at `storeSince` (unix seconds; default now): approvals signed
 * before then are refused as STALE.
 */
export function makeHost(approvers: Approver[], allowlist = DEFAULT_ALLOWLIST, cert: PemPair = HOST_CERT, storeSince = Math.floor(Date.now() / 1000)): HostDirs {
  const dir = mkdtempSync(join(tmpdir(), "hostward-actions-"));
  const approversDir = join(dir, "approvers");
  const stateDir = join(dir, "state");
  const actionsFile = join(dir, "actions.yaml");
  const agentCert = join(dir, "operator.crt");
  mkdirSync(approversDir, { mode: 0o755 });
  approvers.forEach((a, i) => writeFileSync(join(approversDir, `key${i}.pub`), `${a.line}\n`, { mode: 0o644 }));
  writeFileSync(actionsFile, allowlist, { mode: 0o644 });
  writeFileSync(agentCert, cert.cert, { mode: 0o644 });
  initApprovalStore(stateDir, [0, process.geteuid?.() ?? 0], storeSince);
  const host = {
    dir,
    approversDir,
    stateDir,
    actionsFile,
    agentCert,
    env: {
      PATH: SECURE_PATH,
      LANG: "C.UTF-8",
      HOSTWARD_HELPER_MODE: "direct",
      HOSTWARD_APPROVERS_DIR: approversDir,
      HOSTWARD_STATE_DIR: stateDir,
      HOSTWARD_ACTIONS_FILE: actionsFile,
      HOSTWARD_AGENT_CERT: agentCert,
    },
  };
  previewEnv = host.env;
  return host;
}

export interface ApprovalSpec {
  /** The request id; default a fresh "req-…". */
  id?: string;
  action: string;
  params: Record<string, unknown>;
  impact: Impact;
  host?: string;
  /** Default: HOST_CERT's key. */
  hostKey?: string;
  /** Unix seconds; default now. */
  issuedAt?: number;
  notAfter?: number;
  nonce?: string;
  requester?: string;
  /**
   * The impact preview the approver "read". Default: the one the built helper computes now on this
   * machine with the last host made by makeHost (previewNow), or, when the helper refuses to preview,
   * an empty one (enough for tests of refusals that come before the preview is compared).
   */
  preview?: ActionPreview;
  /** More approvers who sign the same statement (M-of-N). */
  cosigners?: Approver[];
}

let previewEnv: Record<string, string> | undefined;

/** The built helper's preview of an action on this machine (a read-only query), or null if it refuses. */
export function previewNow(action: string, params: Record<string, unknown>, env = previewEnv): ActionPreview | null {
  if (!env) return null;
  const r = spawnSync(process.execPath, [HELPER_BUNDLE], { env, input: JSON.stringify({ query: "preview", action, params }), encoding: "utf8", timeout: 30_000 });
  const line = r.stdout.split("\n").find((l) => l.startsWith('{"type":"preview"'));
  return line ? (JSON.parse(line) as { preview: ActionPreview }).preview : null;
}

export function approve(approver: Approver, spec: ApprovalSpec): Approval {
  const now = Math.floor(Date.now() / 1000);
  const preview = spec.preview ?? previewNow(spec.action, spec.params) ?? { action: spec.action, facts: {}, summary: [] };
  const previewJson = canonicalJson(preview);
  const statement: ApprovalStatement = {
    v: 3,
    id: spec.id ?? `req-${newNonce().slice(0, 8)}`,
    host: spec.host ?? HOST,
    hostKey: spec.hostKey ?? HOST_CERT.fingerprint,
    action: spec.action,
    params: spec.params,
    requester: spec.requester ?? "claude@workstation",
    impact: spec.impact,
    issuedAt: spec.issuedAt ?? now,
    notAfter: spec.notAfter ?? now + 600,
    nonce: spec.nonce ?? newNonce(),
    previewHash: previewDigest(previewJson),
  };
  const text = canonicalStatement(statement);
  const cosignatures = (spec.cosigners ?? []).map((c) => ({ keyId: c.keyId, signature: signSshSig(text, c.privateKey) }));
  return approvalToMessage(statement, approver.keyId, signSshSig(text, approver.privateKey), previewJson, cosignatures);
}

export function helperRequest(action: string, params: Record<string, unknown>, approval?: Approval | null): string {
  return JSON.stringify({ action, params, approval: approval ? approvalToWire(approval) : approval });
}

type Line = Record<string, unknown> & { type?: string };

export interface HelperRun {
  code: number | null;
  /** stdout's JSON lines. */
  lines: Line[];
  /** The last JSON line of stderr (the helper's audit record), if any. */
  audit: Record<string, unknown> | undefined;
  stderr: string;
}

/** Runs `file args…` with exactly `env`, writes `input` to its stdin, collects what it prints. */
export function runProcess(file: string, args: string[], env: Record<string, string>, input: string): Promise<HelperRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.on("error", reject);
    child.stdin.on("error", () => undefined);
    child.stdin.end(input);
    child.on("close", (code) => {
      const lines = out.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as Line);
      const auditLine = err.split("\n").filter((l) => l.startsWith('{"audit"')).pop();
      resolve({ code, lines, audit: auditLine ? (JSON.parse(auditLine) as Record<string, unknown>) : undefined, stderr: err });
    });
  });
}

/** The built helper, run with `node <bundle> …args`. */
export function runHelperBundle(env: Record<string, string>, input: string, args: string[] = []): Promise<HelperRun> {
  return runProcess(process.execPath, [HELPER_BUNDLE, ...args], env, input);
}
