// Interoperability with the real OpenSSH binaries (package openssh-client; .ci/run installs it):
// a human signs an approval with `ssh-keygen -Y sign -n hostward-approval` and the host verifies it
// with verifySshSig/checkApproval; a signature made by signSshSig passes `ssh-keygen -Y verify`;
// key ids equal `ssh-keygen -l -E sha256`. Guards issue 4, "approval the model cannot forge".
import { execFileSync, spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  approvalToMessage,
  canonicalStatement,
  checkApproval,
  formatOpenSshPrivateKey,
  formatOpenSshPublicKey,
  parseApproverLine,
  parseOpenSshPrivateKey,
  parseOpenSshPublicKey,
  publicKeyBlob,
  signSshSig,
  verifySshSig,
} from "../../proto/catalog/approval";
import { CLOCK, HOST_KEY, makeKey, statement } from "./keys";

const SSH_KEYGEN = "/usr/bin/ssh-keygen";
let dir = "";

function keygen(args: string[], input?: string): string {
  return execFileSync(SSH_KEYGEN, args, { cwd: dir, encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"], timeout: 20_000 });
}

/** A fresh OpenSSH ed25519 key pair made by ssh-keygen itself; returns the private key's path. */
function opensshKey(name: string, comment: string): string {
  const path = join(dir, name);
  keygen(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path]);
  return path;
}

/** `ssh-keygen -Y sign` over `message` (written to a file exactly, no trailing newline). */
function sshSign(keyPath: string, message: string, namespace = "hostward-approval"): string {
  const file = join(dir, `msg-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, message);
  keygen(["-Y", "sign", "-n", namespace, "-f", keyPath, file]);
  return readFileSync(`${file}.sig`, "utf8");
}

beforeAll(() => {
  const probe = spawnSync(SSH_KEYGEN, ["-Y", "help"], { encoding: "utf8" });
  if (probe.error) throw new Error(`${SSH_KEYGEN} is missing: apt-get install -y openssh-client (${probe.error.message})`);
  dir = mkdtempSync(join(tmpdir(), "hostward-sshsig-"));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("OpenSSH interoperability", () => {
  it("key ids equal `ssh-keygen -l -E sha256` for keys made by ssh-keygen and by node:crypto", () => {
    const path = opensshKey("alice", "alice@laptop");
    const info = parseOpenSshPublicKey(readFileSync(`${path}.pub`, "utf8"));
    expect(keygen(["-l", "-E", "sha256", "-f", `${path}.pub`])).toBe(`256 ${info.keyId} alice@laptop (ED25519)\n`);
    expect(info.comment).toBe("alice@laptop");

    const ours = makeKey("LOW", "node@test");
    const pubFile = join(dir, "ours.pub");
    writeFileSync(pubFile, `${ours.line.replace(/^max-impact="LOW" /, "")}\n`);
    expect(keygen(["-l", "-E", "sha256", "-f", pubFile])).toBe(`256 ${ours.approver.keyId} node@test (ED25519)\n`);
  });

  it("a signature made by `ssh-keygen -Y sign -n hostward-approval` verifies with verifySshSig", () => {
    const path = opensshKey("bob", "bob@laptop");
    const key = parseOpenSshPublicKey(readFileSync(`${path}.pub`, "utf8"));
    const message = canonicalStatement(statement());
    const armored = sshSign(path, message);
    expect(verifySshSig(armored, message, [key])).toMatchObject({ ok: true, key: { keyId: key.keyId } });
    expect(verifySshSig(armored, `${message}\n`, [key]).ok).toBe(false);
    // ssh-keygen's signature for another namespace (e.g. git's) never approves anything
    expect(verifySshSig(sshSign(path, message, "git"), message, [key])).toEqual({ ok: false, reason: expect.stringMatching(/namespace "git"/) });
  });

  it("a signature made by signSshSig verifies with `ssh-keygen -Y verify` (allowed_signers), and a changed message does not", () => {
    const ours = makeKey("MEDIUM");
    const message = canonicalStatement(statement());
    const sigFile = join(dir, "ours.sig");
    writeFileSync(sigFile, signSshSig(message, ours.privateKey));
    const allowed = join(dir, "allowed_signers");
    writeFileSync(allowed, `approver@hostward namespaces="hostward-approval" ssh-ed25519 ${publicKeyBlob(ours.privateKey).toString("base64")}\n`);
    const verifyArgs = ["-Y", "verify", "-f", allowed, "-I", "approver@hostward", "-n", "hostward-approval", "-s", sigFile];
    const good = spawnSync(SSH_KEYGEN, verifyArgs, { cwd: dir, input: message, encoding: "utf8", timeout: 20_000 });
    expect(good.status, good.stderr).toBe(0);
    expect(good.stdout).toContain(`Good "hostward-approval" signature for approver@hostward with ED25519 key ${ours.approver.keyId}`);
    const bad = spawnSync(SSH_KEYGEN, verifyArgs, { cwd: dir, input: `${message} `, encoding: "utf8", timeout: 20_000 });
    expect(bad.status).not.toBe(0);
    // the blob also passes ssh-keygen's structural check of the signature
    const check = spawnSync(SSH_KEYGEN, ["-Y", "check-novalidate", "-n", "hostward-approval", "-s", sigFile], { cwd: dir, input: message, encoding: "utf8" });
    expect(check.status, check.stderr).toBe(0);
  });

  it("end to end: a human approves with ssh-keygen, the host's checkApproval accepts it once it matches, and refuses it for another host", () => {
    const path = opensshKey("carol", "carol@laptop");
    const approver = parseApproverLine(`max-impact="MEDIUM" ${readFileSync(`${path}.pub`, "utf8")}`);
    const s = statement();
    const approval = approvalToMessage(s, approver.keyId, sshSign(path, canonicalStatement(s)));
    const expect_ = { host: "web1", hostKey: HOST_KEY, action: "restart_service", params: { unit: "unbound.service" }, impact: "MEDIUM" as const, clock: CLOCK, approvers: [approver] };
    expect(checkApproval(approval, expect_)).toMatchObject({ ok: true, key: { keyId: approver.keyId, comment: "carol@laptop" } });
    expect(checkApproval(approval, { ...expect_, host: "web2" })).toMatchObject({ ok: false, code: "OTHER_HOST" });
    const lowOnly = parseApproverLine(`max-impact="LOW" ${readFileSync(`${path}.pub`, "utf8")}`);
    expect(checkApproval(approval, { ...expect_, approvers: [lowOnly] })).toMatchObject({ ok: false, code: "IMPACT_TOO_HIGH" });
  });

  it("private keys: ssh-keygen's key signs through signSshSig, and a key written by formatOpenSshPrivateKey works in ssh-keygen", () => {
    const path = opensshKey("dave", "dave@laptop");
    const { privateKey, comment } = parseOpenSshPrivateKey(readFileSync(path, "utf8"));
    expect(comment).toBe("dave@laptop");
    expect(formatOpenSshPublicKey(privateKey, comment)).toBe(readFileSync(`${path}.pub`, "utf8").trim());
    const message = canonicalStatement(statement());
    const key = parseOpenSshPublicKey(readFileSync(`${path}.pub`, "utf8"));
    // ed25519 is deterministic: our signature with their key is byte-identical to ssh-keygen's
    expect(signSshSig(message, privateKey)).toBe(sshSign(path, message));
    expect(verifySshSig(signSshSig(message, privateKey), message, [key]).ok).toBe(true);

    const { privateKey: ours } = generateKeyPairSync("ed25519");
    const file = join(dir, "written");
    writeFileSync(file, formatOpenSshPrivateKey(ours, "written@hostward"), { mode: 0o600 });
    chmodSync(file, 0o600);
    expect(keygen(["-y", "-f", file]).trim()).toBe(formatOpenSshPublicKey(ours, "written@hostward"));
    const armored = sshSign(file, message);
    expect(armored).toBe(signSshSig(message, ours));
    expect(parseOpenSshPrivateKey(readFileSync(file, "utf8")).comment).toBe("written@hostward");
  });

  it("private keys: an encrypted key is refused with a pointer to ssh-agent", () => {
    const path = join(dir, "locked");
    keygen(["-q", "-t", "ed25519", "-N", "correct horse", "-C", "locked", "-f", path]);
    expect(() => parseOpenSshPrivateKey(readFileSync(path, "utf8"))).toThrow(/encrypted: load it into ssh-agent/);
    const rsa = join(dir, "rsa");
    keygen(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", rsa]);
    expect(() => parseOpenSshPrivateKey(readFileSync(rsa, "utf8"))).toThrow(/public key is \d+ bytes, more than 51/);
  });
});
