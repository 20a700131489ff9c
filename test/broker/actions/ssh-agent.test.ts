// Signing through a REAL ssh-agent (OpenSSH's, on a socket in a temporary directory): the approver's
// key never enters the broker. `hostward approve --agent` and the agent client directly.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalStatement, parseOpenSshPublicKey, verifySshSig } from "../../../proto/catalog/approval";
import { ActionStore } from "../../../broker/src/actions/store";
import { agentSigner } from "../../../broker/src/approval/signer";
import { agentIdentities } from "../../../broker/src/approval/ssh-agent";
import type { BrokerDir } from "../helpers/broker-dir";
import { brokerDir, pendingRequest, runCli } from "./cli-support";

let root: string;
let bd: BrokerDir;
let sock: string;
let agent: ChildProcess;
const keys = { a: "", b: "" };

function sshAdd(file: string): void {
  execFileSync("ssh-add", [file], { env: { SSH_AUTH_SOCK: sock, PATH: process.env.PATH }, stdio: "pipe" });
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "hw-agent-"));
  bd = brokerDir(root);
  sock = join(root, "agent.sock");
  // -D: stay in the foreground, so this test owns the process and stops it by its pid.
  agent = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
  for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 25));
  expect(existsSync(sock)).toBe(true);
  for (const name of ["a", "b"] as const) {
    keys[name] = join(root, `key-${name}`);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `approver-${name}`, "-f", keys[name]]);
  }
  sshAdd(keys.a);
});

afterAll(() => {
  agent?.kill("SIGTERM");
  rmSync(root, { recursive: true, force: true });
});

describe("ssh-agent signing", () => {
  it("hostward approve --agent signs with the agent's key; the signature verifies", async () => {
    const r = await pendingRequest(bd);
    const run = await runCli(["approve", r.id, "--agent", "--yes", "--config", bd.dir], { HOME: root, SSH_AUTH_SOCK: sock });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("from ssh-agent");
    const stored = (await new ActionStore(bd.stateDir).get(r.id))!;
    expect(stored.state).toBe("APPROVED");
    const pub = parseOpenSshPublicKey(readFileSync(`${keys.a}.pub`, "utf8"));
    expect(stored.approval!.keyId).toBe(pub.keyId);
    expect(verifySshSig(stored.approval!.signature, canonicalStatement(stored.approval!.statement), [pub])).toMatchObject({ ok: true });
    expect(bd.audit().find((x) => x.event === "action.approved" && x.actionId === r.id)).toMatchObject({ keySource: "ssh-agent" });
  });

  it("without SSH_AUTH_SOCK --agent refuses and nothing changes", async () => {
    const r = await pendingRequest(bd);
    const run = await runCli(["approve", r.id, "--agent", "--yes", "--config", bd.dir], { HOME: root });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("SSH_AUTH_SOCK is not set");
    expect((await new ActionStore(bd.stateDir).get(r.id))!.state).toBe("PENDING");
  });

  it("with several ed25519 keys the agent key must be chosen by --key-id", async () => {
    sshAdd(keys.b);
    expect((await agentIdentities(sock)).map((i) => i.comment).sort()).toEqual(["approver-a", "approver-b"]);
    await expect(agentSigner(sock)).rejects.toThrow(/holds 2 ed25519 keys; choose one with --key-id/);
    const pubB = parseOpenSshPublicKey(readFileSync(`${keys.b}.pub`, "utf8"));
    const signer = await agentSigner(sock, pubB.keyId);
    const armored = await signer.sign("hello");
    expect(verifySshSig(armored, "hello", [pubB]).ok).toBe(true);
    const r = await pendingRequest(bd);
    const run = await runCli(["approve", r.id, "--agent", "--key-id", pubB.keyId, "--yes", "--config", bd.dir], { HOME: root, SSH_AUTH_SOCK: sock });
    expect(run.code, run.stderr).toBe(0);
    expect((await new ActionStore(bd.stateDir).get(r.id))!.approval!.keyId).toBe(pubB.keyId);
  });
});
