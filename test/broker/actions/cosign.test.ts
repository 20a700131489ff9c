// M-of-N approvals through the BUILT broker, a real operator agent and its helper (direct mode, a
// scratch host configuration whose actions.yaml requires two approver keys for MEDIUM): the host's
// requirement comes back with its preview; one signature is not enough (execute_action refuses
// before anything is sent, and the approval stays usable); `hostward approve` by a second approver
// adds a signature over the same statement; then the host's helper accepts both and runs it once.
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatOpenSshPrivateKey } from "../../../broker/src/approval/private-key";
import { ActionStore } from "../../../broker/src/actions/store";
import { keyIdOf, publicKeyBlob } from "../../../proto/catalog/approval";
import { DEFAULT_ALLOWLIST, type Approver } from "../../actions/support";
import type { TestAgent } from "../../support/agent";
import type { BrokerDir } from "../helpers/broker-dir";
import { runCli } from "./cli-support";
import { startOperatorFleet } from "./operator-fleet";

interface ToolResult {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content: Array<{ type: string; text?: string }>;
}

let root: string;
let bd: BrokerDir;
let operator: TestAgent;
let client: Client;
const keyFiles: Record<string, string> = {};
const approvers: Record<string, Approver> = {};

function approver(name: string): Approver {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const blob = publicKeyBlob(publicKey);
  const file = join(root, `${name}.key`);
  writeFileSync(file, formatOpenSshPrivateKey(privateKey, name), { mode: 0o600 });
  keyFiles[name] = file;
  return { privateKey, keyId: keyIdOf(blob), line: `max-impact="MEDIUM" ssh-ed25519 ${blob.toString("base64")} ${name}` };
}

const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as ToolResult;
const text = (r: ToolResult) => r.content.map((c) => c.text ?? "").join("\n");

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "hw-cosign-"));
  approvers.alice = approver("alice");
  approvers.bob = approver("bob");
  ({ operator, bd, client } = await startOperatorFleet({
    root,
    approvers: [approvers.alice, approvers.bob],
    allowlist: `${DEFAULT_ALLOWLIST}approvals:\n  required:\n    MEDIUM: 2\n`,
    policy: [{ target: "web1", allow: ["restart_service"] }],
    clientName: "cosign-test",
  }));
}, 60_000);

afterAll(async () => {
  await client?.close();
  await operator?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe("two approver keys for MEDIUM on this host", () => {
  it("the host's requirement comes with its preview; one signature: execute refused before anything is sent; two: it runs once", async () => {
    const proposed = await call("propose_action", { target: "web1", request: { action: "restart_service", unit: "nginx" }, reason: "nginx is failed" });
    expect(proposed.isError, text(proposed)).toBeFalsy();
    const id = proposed.structuredContent!.id as string;
    expect(proposed.structuredContent).toMatchObject({ state: "PENDING", approvalsRequired: 2 });

    const first = await runCli(["approve", id, "--key", keyFiles.alice!, "--yes", "--config", bd.dir], { HOME: root });
    expect(first.code, first.stderr).toBe(0);
    const early = await call("execute_action", { id });
    expect(early.isError).toBe(true);
    expect(text(early)).toContain(`action ${id} has 1 approver signature(s); web1 requires 2 distinct approver keys for MEDIUM actions`);
    // Nothing was sent: the request is still APPROVED and the host has no record of it.
    expect((await new ActionStore(bd.stateDir).get(id))!.state).toBe("APPROVED");
    expect(operator.rpcLines().filter((l) => String(l.method).endsWith("/RestartService"))).toHaveLength(0);

    const second = await runCli(["approve", id, "--key", keyFiles.bob!, "--yes", "--config", bd.dir], { HOME: root });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain("2 signatures");
    const got = await call("get_action", { id });
    expect((got.structuredContent!.approval as { cosignatures: Array<{ keyId: string }> }).cosignatures.map((c) => c.keyId)).toEqual([approvers.bob!.keyId]);

    // This machine has no systemd: the helper accepts the two signatures, then its pre-check stops it.
    const ran = await call("execute_action", { id });
    expect(ran.isError, text(ran)).toBeFalsy();
    expect(ran.structuredContent).toMatchObject({ verdict: "FAILED" });
    expect(text(ran)).toContain("systemd is not running");
    expect((await new ActionStore(bd.stateDir).get(id))!.state).toBe("FAILED");
    const again = await call("execute_action", { id });
    expect(again.isError).toBe(true);
  }, 60_000);
});
