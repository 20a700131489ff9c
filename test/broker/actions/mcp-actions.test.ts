// The action tools through the BUILT broker and the SDK's real Client over stdio: policy (deny by
// default), a PENDING proposal that survives `hostward serve` restarting, refusals to execute
// anything not APPROVED, and elicitation (accept / decline / a client without elicitation).
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import type { PassThrough } from "node:stream";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson, canonicalStatement, parseOpenSshPublicKey, previewDigest, verifySshSig } from "../../../proto/catalog/approval";
import { flushDnsCache, restartService } from "../../../proto/catalog/actions/index";
import { commandLine, renderPlan } from "../../../proto/catalog/define-action";
import { HELPER_BUNDLE, makeApprover, makeHost } from "../../actions/support";
import { formatOpenSshPrivateKey, openSshPublicLine } from "../../../broker/src/approval/private-key";
import { configFiles } from "../../../broker/src/paths";
import { ActionStore } from "../../../broker/src/actions/store";
import { BROKER_BUNDLE, brokerEnv, createBrokerDir, type BrokerDir } from "../helpers/broker-dir";
import { runCli } from "./cli-support";
import { publicKeyFingerprint } from "../../../shared/cert-names";
import { startAgent, type TestAgent } from "../../support/agent";
import { createTestPki } from "../../support/pki";

interface ToolResult {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content: Array<{ type: string; text?: string }>;
}

type Elicit = (params: { message: string; requestedSchema: unknown }) => { action: "accept" | "decline" | "cancel"; content?: Record<string, string | number | boolean> };

let root: string;
let bd: BrokerDir;
let elicitationPub: string;

async function connect(
  elicit?: Elicit,
  era: { modern?: boolean; manual?: boolean } = {},
): Promise<{ client: Client; close(): Promise<void>; stderr(): string; asked: string[] }> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [BROKER_BUNDLE, "serve", "--config", bd.dir], env: brokerEnv(root), stderr: "pipe" });
  let stderr = "";
  (transport.stderr as PassThrough | null)?.on("data", (c: Buffer) => (stderr += c.toString()));
  const client = new Client(
    { name: "actions-test", version: "1.0" },
    {
      ...(elicit && { capabilities: { elicitation: { form: {} } } }),
      // 2026-07-28: the Client fulfils an input_required result with the elicitation handler below and retries.
      ...(era.modern && { versionNegotiation: { mode: "auto" as const } }),
      ...(era.manual && { inputRequired: { autoFulfill: false } }),
    },
  );
  const asked: string[] = [];
  if (elicit) {
    client.setRequestHandler("elicitation/create", async (request) => {
      const params = request.params as { message: string; requestedSchema: unknown };
      asked.push(params.message);
      return elicit(params);
    });
  }
  await client.connect(transport);
  return { client, close: () => client.close(), stderr: () => stderr, asked };
}

async function call(client: Client, name: string, args: Record<string, unknown>): Promise<ToolResult> {
  return (await client.callTool({ name, arguments: args })) as ToolResult;
}

const text = (r: ToolResult) => r.content.map((c) => c.text ?? "").join("\n");

function writePolicy(policy: Record<string, unknown>): void {
  writeFileSync(configFiles(bd.dir).policy, JSON.stringify(policy, null, 2));
}

let operator: TestAgent;
let operatorCert: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "hw-mcp-actions-"));
  bd = createBrokerDir(join(root, "cfg"), undefined);
  const { privateKey } = generateKeyPairSync("ed25519");
  const keyFile = join(root, "elicitation-key");
  writeFileSync(keyFile, formatOpenSshPrivateKey(privateKey, "broker-elicitation"), { mode: 0o600 });
  elicitationPub = openSshPublicLine(privateKey, "broker-elicitation");
  bd.writeBroker({ elicitationKey: keyFile, approvalTtlSeconds: 600 });
  // A real operator agent: propose_action learns the host's operator key from its TLS handshake
  // (the approval binds it) and asks its helper (direct mode, a scratch host configuration) for the
  // impact preview. Nothing is executed on it here.
  const pki = await createTestPki(join(root, "pki"));
  const host = makeHost([makeApprover("MEDIUM")]);
  operator = await startAgent({
    role: "operator",
    pki,
    dir: join(root, "operator"),
    config: { helper: { mode: "direct", path: HELPER_BUNDLE, approversDir: host.approversDir, stateDir: host.stateDir, actionsFile: host.actionsFile, agentCert: host.agentCert } },
  });
  operatorCert = pki.agents.operator.cert;
  bd.writeHosts([
    { name: "web1", port: 9, operatorPort: operator.port },
    { name: "db1", port: 9, operatorPort: operator.port },
    { name: "down1", port: 9 }, // no operator agent listens
  ]);
  const files = configFiles(bd.dir);
  writeFileSync(files.caCert, pki.ca.cert);
  for (const role of ["reader", "operator"] as const) {
    writeFileSync(files.clientCert(role), pki.clients[role].cert);
    writeFileSync(files.clientKey(role), pki.clients[role].key, { mode: 0o600 });
  }
});
afterAll(async () => {
  await operator?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe("propose_action and policy", () => {
  it("is denied by default (no rule allows actions), refused and audited", async () => {
    writePolicy({ rules: [{ target: "*", allow: ["group:system"] }] });
    const s = await connect();
    try {
      const r = await call(s.client, "propose_action", { target: "web1", request: { action: "restart_service", unit: "nginx" }, reason: "stuck" });
      expect(r.isError).toBe(true);
      expect(text(r)).toContain("refused by policy: restart_service is not allowed on web1");
      expect(bd.audit().find((x) => x.event === "policy.decision" && x.tool === "restart_service")).toMatchObject({ decision: "deny" });
    } finally {
      await s.close();
    }
  });

  it("validates the action's parameters in request with the catalog (field named request.unit) and takes ONE host", async () => {
    writePolicy({ rules: [{ target: "*", allow: ["group:actions"] }] });
    const s = await connect();
    try {
      const bad = await call(s.client, "propose_action", { target: "web1", request: { action: "restart_service", unit: "-x" }, reason: "x" });
      expect(bad.isError).toBe(true);
      expect(text(bad)).toContain("request.unit");
      const extra = await call(s.client, "propose_action", { target: "web1", request: { action: "restart_service", unit: "nginx", now: true }, reason: "x" });
      expect(text(extra)).toContain('"request.now"');
      // What the human reads is what runs: a unit of another type is refused here, naming the field.
      for (const unit of ["nginx.socket", "backup.timer", "home.mount"]) {
        const wrong = await call(s.client, "propose_action", { target: "web1", request: { action: "restart_service", unit }, reason: "x" });
        expect(wrong.isError, unit).toBe(true);
        expect(text(wrong)).toMatch(/request\.unit.*unit is not a service: this action acts on \.service units only/);
      }
      const many = await call(s.client, "propose_action", { target: "tag:web", request: { action: "flush_dns_cache" }, reason: "x" });
      expect(many.isError).toBe(true);
      expect(text(many)).toContain("target");
    } finally {
      await s.close();
    }
  });
});

describe("budgets (broker.yaml budgets)", () => {
  it("proposals per session, then per hour across sessions: each refusal names its limit and is audited", async () => {
    writePolicy({ rules: [{ target: "*", allow: ["group:actions"] }] });
    bd.writeBroker({ approvalTtlSeconds: 600, budgets: { proposalsPerSession: 2, proposalsPerHour: 3 } });
    const client = "budget-test";
    const open = async () => {
      const transport = new StdioClientTransport({ command: process.execPath, args: [BROKER_BUNDLE, "serve", "--config", bd.dir], env: brokerEnv(root), stderr: "pipe" });
      const c = new Client({ name: client, version: "1.0" });
      await c.connect(transport);
      return c;
    };
    const proposeOne = (c: Client) => call(c, "propose_action", { target: "web1", request: { action: "flush_dns_cache" }, reason: "budget" });
    const first = await open();
    try {
      expect((await proposeOne(first)).isError).toBeFalsy();
      expect((await proposeOne(first)).isError).toBeFalsy();
      const third = await proposeOne(first);
      expect(third.isError).toBe(true);
      expect(text(third)).toMatch(/budget exceeded: this session has made 2 proposals, the limit per session \(budgets\.proposalsPerSession in broker\.yaml\) is 2/);
    } finally {
      await first.close();
    }
    const second = await open(); // a new session: its own session budget, the same hourly one
    try {
      expect((await proposeOne(second)).isError).toBeFalsy();
      const over = await proposeOne(second);
      expect(over.isError).toBe(true);
      expect(text(over)).toMatch(/budget exceeded: 3 proposals by this requester in the last hour, the limit per hour \(budgets\.proposalsPerHour in broker\.yaml\) is 3/);
    } finally {
      await second.close();
    }
    expect(bd.audit().filter((x) => x.event === "tool.refused" && x.reason === "BUDGET")).toHaveLength(2);
    bd.writeBroker({ elicitationKey: join(root, "elicitation-key"), approvalTtlSeconds: 600 });
  });
});

describe("the host's identity", () => {
  it("the text content of a result escapes what the model wrote, the same way as the terminal, and is the same JSON", async () => {
    writePolicy({ rules: [{ target: "*", allow: ["group:actions"] }] });
    const s = await connect();
    try {
      const reason = "routine\u202e\u2067gpj.exe\u200d\u{e0063}\u001b[2J";
      const r = await call(s.client, "propose_action", { target: "web1", request: { action: "flush_dns_cache" }, reason });
      expect(r.isError, text(r)).toBeFalsy();
      expect(text(r)).toMatch(/^[\u0020-\u007e]*$/);
      expect(text(r)).toContain("routine\\u202e\\u2067gpj.exe\\u200d\\udb40\\udc63\\u001b[2J");
      expect(JSON.parse(text(r))).toEqual(r.structuredContent);
      expect(r.structuredContent?.reason).toBe(reason); // structured content carries the value itself
    } finally {
      await s.close();
    }
  });

  it("a proposal for a host whose operator agent cannot be reached is refused (its key cannot be bound), audited", async () => {
    writePolicy({ rules: [{ target: "*", allow: ["group:actions"] }] });
    const s = await connect();
    try {
      const r = await call(s.client, "propose_action", { target: "down1", request: { action: "flush_dns_cache" }, reason: "x" });
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(/not proposed: the identity of down1's operator agent \(the key its certificate holds, which the approval binds\) could not be checked: UNAVAILABLE/);
      expect(bd.audit().filter((x) => x.event === "action.refused" && x.op === "propose").at(-1)).toMatchObject({ host: "down1", action: "flush_dns_cache" });
    } finally {
      await s.close();
    }
  });
});

describe("a PENDING proposal", () => {
  it("survives the broker restarting; execute is refused until approved; rejected stays refused", async () => {
    writePolicy({ rules: [{ target: "web1", allow: ["restart_service", "flush_dns_cache"] }] });
    let s = await connect();
    let id: string;
    try {
      // "nginx" is canonicalised before it is shown, signed or stored: the host runs nginx.service.
      const r = await call(s.client, "propose_action", { target: "web1", request: { action: "restart_service", unit: "nginx" }, reason: "nginx is failed" });
      expect(r.isError, text(r)).toBeFalsy();
      // The text copy a client shows is escaped (no raw bidi or zero-width characters) and is the same JSON.
      const hidden = await call(s.client, "get_action", { id: r.structuredContent!.id as string });
      expect(JSON.parse(text(hidden))).toEqual(hidden.structuredContent);
      const out = r.structuredContent!;
      expect(out).toMatchObject({ state: "PENDING", host: "web1", action: "restart_service", params: { unit: "nginx.service" }, impact: "MEDIUM", elicitation: "not-offered" });
      // The plan rendered with the facts the host's helper reported in its preview.
      const stored = (await new ActionStore(bd.stateDir).get(out.id as string))!;
      expect(stored.preview?.facts.unit).toBe("nginx.service");
      expect(out.runs).toEqual(renderPlan(restartService, { unit: "nginx.service" }, stored.preview!.facts, { requestId: stored.id }).map((s) => `${commandLine(s)}${s.note ? `   ${s.note}` : ""}`));
      // This machine has no systemd: the host's preview says so, and no step of the plan applies.
      expect(out.preview).toEqual(stored.preview!.summary);
      expect((out.preview as string[]).join("\n")).toMatch(/needs systemd, which is not running/);
      id = out.id as string;
      expect(out.howToApprove).toContain(`hostward approve ${id}`);
    } finally {
      await s.close();
    }

    s = await connect(); // a new `hostward serve` process
    try {
      const got = await call(s.client, "get_action", { id });
      expect(got.structuredContent).toMatchObject({ id, state: "PENDING", reason: "nginx is failed" });
      const listed = await call(s.client, "list_actions", { state: "PENDING" });
      expect((listed.structuredContent!.actions as Array<{ id: string }>).map((a) => a.id)).toContain(id);

      const early = await call(s.client, "execute_action", { id });
      expect(early.isError).toBe(true);
      expect(text(early)).toContain(`action ${id} is PENDING, not APPROVED`);

      const rejected = await runCli(["reject", id, "--reason", "not during business hours", "--config", bd.dir], { HOME: root });
      expect(rejected.code, rejected.stderr).toBe(0);
      const late = await call(s.client, "execute_action", { id });
      expect(late.isError).toBe(true);
      expect(text(late)).toContain(`action ${id} is REJECTED, not APPROVED`);
      expect(bd.audit().filter((x) => x.event === "action.refused" && x.actionId === id)).toHaveLength(2);

      const cancel = await call(s.client, "cancel_action", { id });
      expect(cancel.isError).toBe(true);
    } finally {
      await s.close();
    }
  });

  it("cancel_action makes it CANCELLED; it can then never run", async () => {
    writePolicy({ rules: [{ target: "web1", allow: ["flush_dns_cache"] }] });
    const s = await connect();
    try {
      const r = await call(s.client, "propose_action", { target: "web1", request: { action: "flush_dns_cache" }, reason: "stale record" });
      const id = r.structuredContent!.id as string;
      const c = await call(s.client, "cancel_action", { id, reason: "fixed upstream" });
      expect(c.structuredContent).toMatchObject({ state: "CANCELLED" });
      const e = await call(s.client, "execute_action", { id });
      expect(text(e)).toContain("is CANCELLED, not APPROVED");
    } finally {
      await s.close();
    }
  });

  it("no tool the model is offered approves: tools/list has propose/get/list/cancel/execute, and only the approval view's app-only approve_in_app", async () => {
    const s = await connect();
    try {
      const tools = (await s.client.listTools()).tools;
      const names = tools.map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(["propose_action", "get_action", "list_actions", "cancel_action", "execute_action"]));
      // MCP Apps visibility ["app"]: hosts do not offer it to the model (mcp-apps.test.ts: gated like the dialog).
      const approving = tools.filter((t) => /approve|reject|sign/.test(t.name));
      expect(approving.map((t) => [t.name, (t._meta?.ui as { visibility?: string[] } | undefined)?.visibility])).toEqual([["approve_in_app", ["app"]]]);
    } finally {
      await s.close();
    }
  });
});

describe("elicitation", () => {
  const propose = (client: Client, action = "flush_dns_cache", params: Record<string, unknown> = {}) =>
    call(client, "propose_action", { target: "web1", request: { action, ...params }, reason: "cache holds a stale record" });

  it("accept + approve=true: signed with the broker's elicitation key, APPROVED", async () => {
    writePolicy({ rules: [{ target: "web1", allow: ["group:actions"] }], elicitation: { maxImpact: "LOW" } });
    const s = await connect(() => ({ action: "accept", content: { approve: true } }));
    try {
      const r = await propose(s.client);
      expect(r.isError, text(r)).toBeFalsy();
      expect(r.structuredContent).toMatchObject({ state: "APPROVED", elicitation: "approved" });
      expect(s.asked).toHaveLength(1);
      const asked = (await new ActionStore(bd.stateDir).get(r.structuredContent!.id as string))!;
      for (const line of asked.preview!.summary) expect(s.asked[0]).toContain(line);
      for (const step of renderPlan(flushDnsCache, {}, asked.preview!.facts, { requestId: asked.id })) expect(s.asked[0]).toContain(commandLine(step));
      const stored = (await new ActionStore(bd.stateDir).get(r.structuredContent!.id as string))!;
      expect(stored.approval).toMatchObject({ via: "elicitation" });
      // The person who answered the dialog is the caller: over stdio, the OS user running the broker.
      expect(bd.audit().find((x) => x.event === "action.approved" && x.actionId === stored.id)).toMatchObject({ via: "elicitation", approverIdentity: userInfo().username });
      const pub = parseOpenSshPublicKey(elicitationPub);
      expect(stored.approval!.keyId).toBe(pub.keyId);
      expect(verifySshSig(stored.approval!.signature, canonicalStatement(stored.approval!.statement), [pub]).ok).toBe(true);
      // The statement binds the key the operator agent proved in its TLS handshake (its certificate's key).
      expect(stored.hostKey).toBe(publicKeyFingerprint(new X509Certificate(operatorCert)));
      expect(stored.approval!.statement).toMatchObject({ v: 3, hostKey: stored.hostKey, host: "localhost", previewHash: previewDigest(canonicalJson(stored.preview)) });
      expect(Math.abs(stored.approval!.statement.issuedAt - Date.now() / 1000)).toBeLessThan(30);
    } finally {
      await s.close();
    }
  });

  it("the form defaults to not approving; decline → REJECTED; accept with approve=false → REJECTED", async () => {
    writePolicy({ rules: [{ target: "web1", allow: ["group:actions"] }], elicitation: { maxImpact: "LOW" } });
    let schema: unknown;
    const s = await connect((p) => {
      schema = p.requestedSchema;
      return { action: "decline" };
    });
    try {
      const r = await propose(s.client);
      expect(r.structuredContent).toMatchObject({ state: "REJECTED", elicitation: "rejected" });
      expect(schema).toMatchObject({ properties: { approve: { type: "boolean", default: false } }, required: ["approve"] });
    } finally {
      await s.close();
    }
    const s2 = await connect(() => ({ action: "accept", content: { approve: false } }));
    try {
      expect((await propose(s2.client)).structuredContent).toMatchObject({ state: "REJECTED", elicitation: "rejected" });
    } finally {
      await s2.close();
    }
    const s3 = await connect(() => ({ action: "cancel" }));
    try {
      expect((await propose(s3.client)).structuredContent).toMatchObject({ state: "PENDING", elicitation: "dismissed" });
    } finally {
      await s3.close();
    }
  });

  it("a client without elicitation gets the id and how to approve", async () => {
    writePolicy({ rules: [{ target: "web1", allow: ["group:actions"] }], elicitation: { maxImpact: "LOW" } });
    const s = await connect();
    try {
      const r = await propose(s.client);
      expect(r.structuredContent).toMatchObject({ state: "PENDING", elicitation: "not-offered" });
      expect(r.structuredContent!.howToApprove).toContain("hostward approve act-");
      expect(bd.audit().some((x) => x.event === "action.elicitation" && x.outcome === "not-offered")).toBe(true);
    } finally {
      await s.close();
    }
  });

  it("an impact above policy's elicitation maxImpact is never offered, even to a client that would accept", async () => {
    writePolicy({ rules: [{ target: "web1", allow: ["group:actions"] }], elicitation: { maxImpact: "LOW" } });
    const s = await connect(() => ({ action: "accept", content: { approve: true } }));
    try {
      const r = await propose(s.client, "restart_service", { unit: "nginx" });
      expect(r.structuredContent).toMatchObject({ state: "PENDING", elicitation: "not-offered", impact: "MEDIUM" });
      expect(s.asked).toHaveLength(0);
    } finally {
      await s.close();
    }
  });

  it("without an elicitation section in policy.yaml nothing is offered", async () => {
    writePolicy({ rules: [{ target: "web1", allow: ["group:actions"] }] });
    const s = await connect(() => ({ action: "accept", content: { approve: true } }));
    try {
      expect((await propose(s.client)).structuredContent).toMatchObject({ state: "PENDING", elicitation: "not-offered" });
      expect(s.asked).toHaveLength(0);
    } finally {
      await s.close();
    }
  });
});

describe("elicitation on 2026-07-28 (input_required: the form goes back with the result, the client retries with the answer)", () => {
  const args = (action = "flush_dns_cache", params: Record<string, unknown> = {}, target = "web1") => ({ target, request: { action, ...params }, reason: "cache holds a stale record" });

  it("accept + approve=true: the same form, signed with the broker's dialog key, APPROVED; proposed once", async () => {
    writePolicy({ rules: [{ target: "*", allow: ["group:actions"] }], elicitation: { maxImpact: "LOW" } });
    const before = (await new ActionStore(bd.stateDir).list()).requests.length;
    const s = await connect(() => ({ action: "accept", content: { approve: true } }), { modern: true });
    try {
      const r = await call(s.client, "propose_action", args());
      expect(r.isError, text(r)).toBeFalsy();
      expect(r.structuredContent).toMatchObject({ state: "APPROVED", elicitation: "approved" });
      expect(s.asked).toHaveLength(1);
      expect(s.asked[0]).toContain("Approve this action?");
      const id = r.structuredContent!.id as string;
      // The retry did not propose again: one new request.
      expect((await new ActionStore(bd.stateDir).list()).requests.length).toBe(before + 1);
      const stored = (await new ActionStore(bd.stateDir).get(id))!;
      expect(stored.approval).toMatchObject({ via: "elicitation" });
      const pub = parseOpenSshPublicKey(elicitationPub);
      expect(verifySshSig(stored.approval!.signature, canonicalStatement(stored.approval!.statement), [pub]).ok).toBe(true);
      const asked = bd.audit().filter((x) => x.event === "action.elicitation" && x.actionId === id);
      expect(asked.map((x) => [x.outcome, x.era])).toEqual([["asked", "modern"]]);
      expect(bd.audit().some((x) => x.event === "tool.call" && x.tool === "propose_action" && x.actionId === id && typeof x.resumes === "string")).toBe(true);
    } finally {
      await s.close();
    }
  });

  it("decline → REJECTED; cancel → PENDING (dismissed); the form defaults to not approving", async () => {
    writePolicy({ rules: [{ target: "*", allow: ["group:actions"] }], elicitation: { maxImpact: "LOW" } });
    let schema: unknown;
    const s = await connect(
      (p) => {
        schema = p.requestedSchema;
        return { action: "decline" };
      },
      { modern: true },
    );
    try {
      expect((await call(s.client, "propose_action", args())).structuredContent).toMatchObject({ state: "REJECTED", elicitation: "rejected" });
      expect(schema).toMatchObject({ properties: { approve: { type: "boolean", default: false } }, required: ["approve"] });
    } finally {
      await s.close();
    }
    const s2 = await connect(() => ({ action: "cancel" }), { modern: true });
    try {
      expect((await call(s2.client, "propose_action", args())).structuredContent).toMatchObject({ state: "PENDING", elicitation: "dismissed" });
    } finally {
      await s2.close();
    }
  });

  it("a client that declared no form elicitation, or an impact above the ceiling: nothing is asked", async () => {
    writePolicy({ rules: [{ target: "*", allow: ["group:actions"] }], elicitation: { maxImpact: "LOW" } });
    const plain = await connect(undefined, { modern: true });
    try {
      expect((await call(plain.client, "propose_action", args())).structuredContent).toMatchObject({ state: "PENDING", elicitation: "not-offered" });
    } finally {
      await plain.close();
    }
    const s = await connect(() => ({ action: "accept", content: { approve: true } }), { modern: true });
    try {
      const r = await call(s.client, "propose_action", args("restart_service", { unit: "nginx" }));
      expect(r.structuredContent).toMatchObject({ state: "PENDING", elicitation: "not-offered", impact: "MEDIUM" });
      expect(s.asked).toHaveLength(0);
    } finally {
      await s.close();
    }
  });

  it("a forged or altered requestState is refused before the tool runs, and an answer cannot be moved to other arguments", async () => {
    writePolicy({ rules: [{ target: "*", allow: ["group:actions"] }], elicitation: { maxImpact: "LOW" } });
    const s = await connect(() => ({ action: "accept", content: { approve: true } }), { modern: true, manual: true });
    try {
      type Asked = { resultType?: string; requestState?: string; inputRequests?: Record<string, unknown> };
      const first = (await s.client.callTool({ name: "propose_action", arguments: args() }, { allowInputRequired: true })) as unknown as Asked;
      expect(first.resultType).toBe("input_required");
      expect(Object.keys(first.inputRequests ?? {})).toEqual(["approval"]);
      const pending = (await new ActionStore(bd.stateDir).list()).requests.find((r) => r.state === "PENDING" && r.action === "flush_dns_cache" && r.host === "web1")!;
      const accept = { approval: { action: "accept", content: { approve: true } } };
      const retry = (extra: Record<string, unknown>, a = args()) =>
        s.client.callTool({ name: "propose_action", arguments: a, ...extra } as never, { allowInputRequired: true }) as Promise<ToolResult>;
      // One character of the MAC changed.
      const state = first.requestState!;
      // The second-to-last character is replaced by another (comparing that very character: the
      // last one's value said nothing about it, and one state in 64 was "altered" into itself).
      const altered = state.slice(0, -2) + (state.at(-2) === "A" ? "B" : "A") + state.slice(-1);
      expect(altered).not.toBe(state);
      await expect(retry({ inputResponses: accept, requestState: altered })).rejects.toThrow(/Invalid or expired requestState/);
      await expect(retry({ inputResponses: accept, requestState: "v1.e30.AAAA" })).rejects.toThrow(/Invalid or expired requestState/);
      // A valid state with other arguments (another host): refused, nothing approved.
      const moved = await retry({ inputResponses: accept, requestState: state }, args("flush_dns_cache", {}, "db1"));
      expect(moved.isError).toBe(true);
      expect(text(moved)).toContain(`is for ${pending.id}`);
      expect((await new ActionStore(bd.stateDir).get(pending.id))!.state).toBe("PENDING");
      // The genuine retry with the answer: approved once.
      const done = await retry({ inputResponses: accept, requestState: state });
      expect(done.structuredContent).toMatchObject({ id: pending.id, state: "APPROVED", elicitation: "approved" });
      // Replayed: the request is no longer PENDING, nothing more happens.
      const again = await retry({ inputResponses: accept, requestState: state });
      expect(again.structuredContent).toMatchObject({ id: pending.id, state: "APPROVED", elicitation: "dismissed" });
      expect(bd.audit().filter((x) => x.event === "action.approved" && x.actionId === pending.id)).toHaveLength(1);
    } finally {
      await s.close();
    }
  });
});

describe("the 2026-07-28 round trip over streamable HTTP", () => {
  it("each round is its own HTTP exchange (its own server instance): the sealed state still brings the answer to the proposal", async () => {
    writePolicy({ rules: [{ target: "*", allow: ["group:actions"] }], elicitation: { maxImpact: "LOW" } });
    const token = "mrtr-http-token-0123456789abcdef";
    const child = spawn(process.execPath, [BROKER_BUNDLE, "serve", "--config", bd.dir, "--http", "127.0.0.1:0"], { env: brokerEnv(root, { HOSTWARD_HTTP_TOKEN: token }), stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL within 10 s:\n${stderr}`)), 10_000);
      child.stderr.on("data", (c: Buffer) => {
        stderr += c.toString();
        const m = /MCP over HTTP at (http:\/\/\S+)/.exec(stderr);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    const client = new Client({ name: "mrtr-http", version: "1.0" }, { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: "auto" } });
    const asked: string[] = [];
    client.setRequestHandler("elicitation/create", async (request) => {
      asked.push((request.params as { message: string }).message);
      return { action: "accept", content: { approve: true } };
    });
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
      const r = await call(client, "propose_action", { target: "web1", request: { action: "flush_dns_cache" }, reason: "stale record" });
      expect(r.isError, text(r)).toBeFalsy();
      expect(r.structuredContent).toMatchObject({ state: "APPROVED", elicitation: "approved" });
      expect(asked).toHaveLength(1);
      const stored = (await new ActionStore(bd.stateDir).get(r.structuredContent!.id as string))!;
      expect(stored.approval).toMatchObject({ via: "elicitation" });
      expect(verifySshSig(stored.approval!.signature, canonicalStatement(stored.approval!.statement), [parseOpenSshPublicKey(elicitationPub)]).ok).toBe(true);
    } finally {
      await client.close();
      await new Promise((resolve) => child.once("exit", resolve).kill("SIGTERM"));
    }
  }, 60_000);
});
