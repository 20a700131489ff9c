// Shared by the action tests: a temporary host configuration for the helper in direct mode
// (approvers, state, allowlist), real ed25519 approver keys and approvals signed the way the
// broker signs them (SSHSIG over the canonical statement), and a runner for the BUILT helper.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  approvalToMessage,
  canonicalStatement,
  keyIdOf,
  newNonce,
  publicKeyBlob,
  signSshSig,
  type ApprovalStatement,
  type Impact,
} from "../../proto/catalog/approval";
import type { Approval } from "../../proto/gen/hostward/v1/actions";
import { approvalToWire } from "../../agent/src/helper/wire";

export const ROOT = join(import.meta.dirname, "..", "..");
export const HELPER_BUNDLE = join(ROOT, "dist/agent/hostward-action.cjs");
export const HOST = "web1.test";
/** The PATH sudo's secure_path sets on Debian; the helper refuses any other. */
export const SECURE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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
  /** The helper's environment in direct mode (what the operator agent passes). */
  env: Record<string, string>;
}

export function makeHost(approvers: Approver[], allowlist = "units: [nginx.service, unbound.service]\ncontainers: [web]\nreboot: false\n"): HostDirs {
  const dir = mkdtempSync(join(tmpdir(), "hostward-actions-"));
  const approversDir = join(dir, "approvers");
  const stateDir = join(dir, "state");
  const actionsFile = join(dir, "actions.yaml");
  mkdirSync(approversDir, { mode: 0o755 });
  approvers.forEach((a, i) => writeFileSync(join(approversDir, `key${i}.pub`), `${a.line}\n`, { mode: 0o644 }));
  writeFileSync(actionsFile, allowlist, { mode: 0o644 });
  return {
    dir,
    approversDir,
    stateDir,
    actionsFile,
    env: {
      PATH: SECURE_PATH,
      LANG: "C.UTF-8",
      HOSTWARD_HELPER_MODE: "direct",
      HOSTWARD_APPROVERS_DIR: approversDir,
      HOSTWARD_STATE_DIR: stateDir,
      HOSTWARD_ACTIONS_FILE: actionsFile,
      HOSTWARD_HOST_NAME: HOST,
    },
  };
}

export interface ApprovalSpec {
  action: string;
  params: Record<string, unknown>;
  impact: Impact;
  host?: string;
  notAfter?: number;
  nonce?: string;
  requester?: string;
}

export function approve(approver: Approver, spec: ApprovalSpec): Approval {
  const statement: ApprovalStatement = {
    v: 1,
    id: `req-${newNonce().slice(0, 8)}`,
    host: spec.host ?? HOST,
    action: spec.action,
    params: spec.params,
    requester: spec.requester ?? "claude@workstation",
    impact: spec.impact,
    notAfter: spec.notAfter ?? Math.floor(Date.now() / 1000) + 600,
    nonce: spec.nonce ?? newNonce(),
  };
  return approvalToMessage(statement, approver.keyId, signSshSig(canonicalStatement(statement), approver.privateKey));
}

export function helperRequest(action: string, params: Record<string, unknown>, approval?: Approval | null): string {
  return JSON.stringify({ action, params, approval: approval ? approvalToWire(approval) : approval });
}

export type Line = Record<string, unknown> & { type?: string };

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
