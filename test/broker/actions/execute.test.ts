// propose → approve (the CLI, as a human would) → execute_action, through the BUILT broker and a
// REAL operator agent (mTLS, operator role) running the real helper bundle in "direct" mode (local
// fleet: no root, no sudo). This machine has no systemd as PID 1, so the action itself cannot
// succeed here; what is proven is the path: the host verified the approval and answered with a
// catalog result, or refused an approval it must not accept. (Real services: the nspawn e2e suite.)
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PassThrough } from "node:stream";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { initApprovalStore } from "../../../agent/src/helper/nonce-store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ActionStore } from "../../../broker/src/actions/store";
import { configFiles } from "../../../broker/src/paths";
import { startAgent, type TestAgent } from "../../support/agent";
import { createTestPki } from "../../support/pki";
import { BROKER_BUNDLE, brokerEnv, createBrokerDir, ROOT, type BrokerDir } from "../helpers/broker-dir";
import { runCli } from "./cli-support";

interface ToolResult {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content: Array<{ type: string; text?: string }>;
}

let root: string;
let bd: BrokerDir;
let agent: TestAgent;
let client: Client;
let stderr = "";
let aliceKey: string;
let malloryKey: string;

async function call(name: string, args: Record<string, unknown>, onprogress?: (p: { progress: number; message?: string }) => void): Promise<ToolResult> {
  return (await client.callTool({ name, arguments: args }, { ...(onprogress && { onprogress }), timeout: 120_000 })) as ToolResult;
}

async function proposeAndApprove(key: string, action = "flush_dns_cache", params: Record<string, unknown> = {}): Promise<string> {
  const r = await call("propose_action", { target: "web1", request: { action, ...params }, reason: "test" });
  expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
  const id = r.structuredContent!.id as string;
  const approved = await runCli(["approve", id, "--key", key, "--yes", "--config", bd.dir], { HOME: root });
  expect(approved.code, approved.stderr).toBe(0);
  return id;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "hw-execute-"));
  const pki = await createTestPki(join(root, "pki"));
  const keys = join(root, "keys");
  for (const [name, impact] of [["alice", "MEDIUM"], ["mallory", "HIGH"]] as const) {
    const made = await runCli(["pki", "approver-key", name, "--max-impact", impact, "--out", keys], { HOME: root });
    expect(made.code, made.stderr).toBe(0);
  }
  aliceKey = join(keys, "alice");
  malloryKey = join(keys, "mallory");
  // The host trusts alice only.
  const host = join(root, "host");
  const approvers = join(host, "approvers");
  mkdirSync(approvers, { recursive: true, mode: 0o755 });
  copyFileSync(join(keys, "alice.approver"), join(approvers, "alice.pub"));
  mkdirSync(join(host, "state"), { recursive: true, mode: 0o700 });
  // The record of used approvals begins when the host is set up (the package's postinst does this).
  initApprovalStore(join(host, "state"), [0], Math.floor(Date.now() / 1000) - 60);
  const actionsFile = join(host, "actions.yaml");
  writeFileSync(actionsFile, "units: [nginx.service, caddy.service]\ncontainers: []\nreboot: false\n", { mode: 0o644 });
  agent = await startAgent({
    role: "operator",
    pki,
    dir: join(root, "agent"),
    config: {
      helper: {
        mode: "direct",
        path: join(ROOT, "dist", "agent", "hostward-action.cjs"),
        approversDir: approvers,
        stateDir: join(host, "state"),
        actionsFile,
        agentCert: pki.files.cert.operator,
      },
    },
  });

  bd = createBrokerDir(join(root, "cfg"), pki);
  const files = configFiles(bd.dir);
  copyFileSync(pki.clients.operator.certFile, files.clientCert("operator"));
  copyFileSync(pki.clients.operator.keyFile, files.clientKey("operator"));
  writeFileSync(files.hosts, JSON.stringify({ hosts: [{ name: "web1", address: "127.0.0.1", ports: { reader: 9, operator: agent.port }, certName: "localhost" }] }));
  writeFileSync(files.policy, JSON.stringify({ rules: [{ target: "web1", allow: ["group:actions"] }] }));

  const transport = new StdioClientTransport({ command: process.execPath, args: [BROKER_BUNDLE, "serve", "--config", bd.dir], env: brokerEnv(root), stderr: "pipe" });
  (transport.stderr as PassThrough | null)?.on("data", (c: Buffer) => (stderr += c.toString()));
  client = new Client({ name: "execute-test", version: "1.0" });
  await client.connect(transport);
});

afterAll(async () => {
  await client?.close();
  await agent?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe("execute_action on a real operator agent", () => {
  it("runs an approved request once: the host verified the approval and answered with a catalog result", async () => {
    const id = await proposeAndApprove(aliceKey);
    const progress: string[] = [];
    const startedMicros = Date.now() * 1000;
    const r = await call("execute_action", { id }, (p) => progress.push(p.message ?? ""));
    const endedMicros = (Date.now() + 1) * 1000;
    expect(r.isError, `${JSON.stringify(r.content)}\n${stderr}`).toBeFalsy();
    const out = r.structuredContent!;
    // A result from the helper (not a refusal): verdict + before/after/output from the catalog schema.
    expect(out.result, JSON.stringify(out)).toMatchObject({ verdict: expect.stringMatching(/^(SUCCEEDED|FAILED)$/), output: expect.any(String) });
    expect(out.error).toBeUndefined();
    const stored = (await new ActionStore(bd.stateDir).get(id))!;
    expect(stored.state).toBe(out.verdict);
    // The host's stamp of every relayed line is kept, in order: entry i ↔ progress notification i + 1.
    expect(progress.length).toBeGreaterThanOrEqual(1);
    const stamps = stored.execution?.outputAtUnixMicros ?? [];
    expect(stamps).toHaveLength(progress.length);
    for (const at of stamps) {
      expect(at).toBeGreaterThanOrEqual(startedMicros);
      expect(at).toBeLessThanOrEqual(endedMicros);
    }
    const view = await call("get_action", { id });
    expect((view.structuredContent?.execution as { outputAtUnixMicros?: number[] }).outputAtUnixMicros).toEqual(stamps);
    const codes = bd.audit().filter((x) => x.actionId === id).map((x) => x.code);
    expect(codes).toEqual(expect.arrayContaining(["HW1100", "HW1101", "HW1105", "HW1106"]));
    expect(codes.indexOf("HW1105")).toBeLessThan(codes.indexOf("HW1106"));

    const again = await call("execute_action", { id });
    expect(again.isError).toBe(true);
    expect(again.content[0]?.text).toContain(`is ${stored.state}, not APPROVED`);
  });

  it("an approval by a key the host does not trust is refused by the host", async () => {
    const id = await proposeAndApprove(malloryKey);
    const r = await call("execute_action", { id });
    const out = r.structuredContent!;
    expect(out.verdict).toBe("FAILED");
    expect(JSON.stringify(out.error ?? out.result)).toMatch(/UNKNOWN_KEY|not one of this host/);
  });

  it("an approval altered after signing (other params) is refused by the host", async () => {
    const id = await proposeAndApprove(aliceKey, "restart_service", { unit: "nginx.service" });
    // Tamper with the stored request: same signature, another unit that IS on the allowlist.
    const file = join(bd.stateDir, "actions", `${id}.json`);
    const stored = JSON.parse(readFileSync(file, "utf8")) as { approval: { statement: { params: { unit: string } } } };
    stored.approval.statement.params.unit = "caddy.service";
    writeFileSync(file, JSON.stringify(stored));
    const r = await call("execute_action", { id });
    const out = r.structuredContent!;
    expect(out.verdict).toBe("FAILED");
    expect(JSON.stringify(out.error ?? out.result)).toMatch(/BAD_SIGNATURE|ALTERED|does not match/);
  });
});
