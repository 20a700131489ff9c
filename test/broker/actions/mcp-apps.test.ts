// The MCP Apps approval view's server side, through the BUILT broker and the SDK's real Client
// over stdio (declaring MCP Apps as a host does): propose_action links ui://hostward/approval,
// approve_in_app is app-only, the view is served with the MCP Apps MIME type and a CSP that allows
// no network, and approve_in_app is gated exactly like the approval dialog (policy's ceiling, the
// dialog key, a PENDING request) and signs with the same key. Every decision and refusal audited.
import { userInfo } from "node:os";
import { createHash } from "node:crypto";
import { getToolUiResourceUri, isToolVisibilityAppOnly, RESOURCE_MIME_TYPE, RESOURCE_URI_META_KEY } from "@modelcontextprotocol/ext-apps/app-bridge";
import type { Client } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalStatement, parseOpenSshPublicKey, verifySshSig } from "../../../proto/catalog/approval";
import { ActionStore } from "../../../broker/src/actions/store";
import { startAppsBroker, text, type AppsBroker, type ToolResult } from "./apps-support";

const VIEW = "ui://hostward/approval";
let b: AppsBroker;

beforeAll(async () => {
  b = await startAppsBroker("hw-mcp-apps-");
});
afterAll(async () => {
  await b?.stop();
});

const call = async (client: Client, name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as ToolResult;
const proposeFlush = (client: Client, reason = "cache holds a stale record") => call(client, "propose_action", { target: "web1", request: { action: "flush_dns_cache" }, reason });
const proposeRestart = (client: Client) => call(client, "propose_action", { target: "web1", request: { action: "restart_service", unit: "nginx" }, reason: "nginx is stuck" });
const decide = (client: Client, r: ToolResult, approve: boolean, extra: Record<string, unknown> = {}) =>
  call(client, "approve_in_app", { id: r.structuredContent!.id, approve, shown: (r.structuredContent!.appApproval as { shown: string }).shown, ...extra });
const stored = async (id: unknown) => (await new ActionStore(b.bd.stateDir).get(id as string))!;
const audited = (id: unknown) => b.bd.audit().filter((x) => x.actionId === id);

describe("tools/list and the ui:// resource", () => {
  it("propose_action links the approval view; approve_in_app is app-only (the only tool that approves)", async () => {
    const s = await b.connect();
    try {
      const { tools } = await s.client.listTools();
      const propose = tools.find((t) => t.name === "propose_action")!;
      const inApp = tools.find((t) => t.name === "approve_in_app")!;
      // Read with the package's own host-side helpers, as a host reads them.
      expect(getToolUiResourceUri(propose)).toBe(VIEW);
      expect(propose._meta?.[RESOURCE_URI_META_KEY]).toBe(VIEW); // the older key too (registerAppTool)
      expect(isToolVisibilityAppOnly(propose)).toBe(false);
      expect(getToolUiResourceUri(inApp)).toBe(VIEW);
      expect(isToolVisibilityAppOnly(inApp)).toBe(true);
      expect(inApp._meta?.ui).toEqual({ resourceUri: VIEW, visibility: ["app"] });
      expect(tools.filter((t) => /approve|reject|sign/.test(t.name)).map((t) => t.name)).toEqual(["approve_in_app"]);
      expect(s.client.getServerCapabilities()?.extensions).toHaveProperty(["io.modelcontextprotocol/ui"]);
    } finally {
      await s.close();
    }
  });

  it("resources/read of ui://hostward/approval: one HTML document, the MCP Apps MIME type, a CSP allowing no network; audited", async () => {
    const s = await b.connect();
    try {
      const listed = (await s.client.listResources()).resources.find((r) => r.uri === VIEW)!;
      expect(listed).toMatchObject({ mimeType: RESOURCE_MIME_TYPE, _meta: { ui: { csp: { connectDomains: [], resourceDomains: [], frameDomains: [], baseUriDomains: [] } } } });
      const read = await s.client.readResource({ uri: VIEW });
      expect(read.contents).toHaveLength(1);
      const content = read.contents[0] as { uri: string; mimeType: string; text: string; _meta?: Record<string, unknown> };
      expect(content.mimeType).toBe("text/html;profile=mcp-app");
      expect(content._meta).toEqual({ ui: { csp: { connectDomains: [], resourceDomains: [], frameDomains: [], baseUriDomains: [] }, prefersBorder: true } });
      const html = content.text;
      expect(html.startsWith("<!doctype html>")).toBe(true);
      expect(html).toMatch(/^[\t\n\u0020-\u007e]*$/); // ASCII: the bytes its hashes cover
      // The document's own CSP: this script and this style by hash, nothing else, no network.
      const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)![1]!;
      const directives = Object.fromEntries(csp.split("; ").map((d) => [d.split(" ")[0], d.split(" ").slice(1).join(" ")]));
      expect(directives).toMatchObject({ "default-src": "'none'", "connect-src": "'none'", "img-src": "'none'", "frame-src": "'none'", "object-src": "'none'", "base-uri": "'none'", "form-action": "'none'" });
      const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
      expect(scripts).toHaveLength(1);
      expect(directives["script-src"]).toBe(`'sha256-${createHash("sha256").update(scripts[0]!).digest("base64")}'`);
      const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
      expect(directives["style-src"]).toBe(`'sha256-${createHash("sha256").update(style).digest("base64")}'`);
      // Self-contained: no script, style sheet, font or image to fetch (the browser test sees no request at all).
      expect(html).not.toMatch(/<script[^>]+src=|<link\b|<img\b|<iframe\b/i);
      expect(style).not.toMatch(/@import|url\(/i);
      expect(b.bd.audit().filter((x) => x.event === "resource.read" && x.uri === VIEW).at(-1)).toMatchObject({ outcome: "OK", bytes: Buffer.byteLength(html) });
    } finally {
      await s.close();
    }
  });
});

describe("approve_in_app: gated like the dialog, signed like it", () => {
  it("approves a LOW action within policy's ceiling: signed with the dialog key, via app, audited", async () => {
    b.writePolicy({ rules: [{ target: "web1", allow: ["group:actions"] }], elicitation: { maxImpact: "LOW", appView: true } });
    const s = await b.connect();
    try {
      const r = await proposeFlush(s.client);
      expect(r.isError, text(r)).toBeFalsy();
      expect(r.structuredContent).toMatchObject({ state: "PENDING", impact: "LOW", elicitation: "not-offered", appApproval: { offered: true } });
      const done = await decide(s.client, r, true);
      expect(done.isError, text(done)).toBeFalsy();
      expect(done.structuredContent).toEqual({ id: r.structuredContent!.id, state: "APPROVED", outcome: "approved" });
      const req = await stored(r.structuredContent!.id);
      expect(req.state).toBe("APPROVED");
      expect(req.approval).toMatchObject({ via: "app", approver: `the user of mcp:stdio:apps-test/1.0:${userInfo().username} (approval view)` });
      const pub = parseOpenSshPublicKey(b.elicitationPub);
      expect(req.approval!.keyId).toBe(pub.keyId);
      expect(verifySshSig(req.approval!.signature, canonicalStatement(req.approval!.statement), [pub]).ok).toBe(true);
      expect(req.approval!.statement).toMatchObject({ id: req.id, action: "flush_dns_cache", impact: "LOW", hostKey: req.hostKey });
      const records = audited(req.id);
      expect(records.find((x) => x.event === "tool.call" && x.tool === "approve_in_app")).toMatchObject({ approve: true, apps: true });
      expect(records.find((x) => x.event === "action.approved")).toMatchObject({ via: "app", keyId: pub.keyId });
      // The statement is the one `hostward approve` would sign: the host's helper verifies it the same way.
      expect((await call(s.client, "get_action", { id: req.id })).structuredContent).toMatchObject({ state: "APPROVED", approval: { via: "app" } });
    } finally {
      await s.close();
    }
  });

  it("approve=false rejects it, with the reason given in the view, via app", async () => {
    b.writePolicy({ rules: [{ target: "web1", allow: ["group:actions"] }], elicitation: { maxImpact: "LOW", appView: true } });
    const s = await b.connect();
    try {
      const r = await proposeFlush(s.client);
      const done = await decide(s.client, r, false, { reason: "not now" });
      expect(done.structuredContent).toEqual({ id: r.structuredContent!.id, state: "REJECTED", outcome: "rejected" });
      expect((await stored(r.structuredContent!.id)).rejection).toMatchObject({ via: "app", reason: "not now" });
      expect(audited(r.structuredContent!.id).find((x) => x.event === "action.rejected")).toMatchObject({ via: "app", reason: "not now" });
    } finally {
      await s.close();
    }
  });

  it("refuses an action above the ceiling (MEDIUM > LOW): read-only in the view, approve it in a terminal; it stays PENDING; audited", async () => {
    b.writePolicy({ rules: [{ target: "web1", allow: ["group:actions"] }], elicitation: { maxImpact: "LOW", appView: true } });
    const s = await b.connect();
    try {
      const r = await proposeRestart(s.client);
      const id = r.structuredContent!.id as string;
      expect(r.structuredContent).toMatchObject({ state: "PENDING", impact: "MEDIUM", appApproval: { offered: false, why: "its impact MEDIUM is above policy.yaml's elicitation.maxImpact (LOW)" } });
      for (const approve of [true, false]) {
        const refused = await decide(s.client, r, approve);
        expect(refused.isError).toBe(true);
        expect(text(refused)).toContain(`refused: action ${id} cannot be decided in the approval view: its impact MEDIUM is above policy.yaml's elicitation.maxImpact (LOW); approve it in a terminal: hostward approve ${id}`);
      }
      expect((await stored(id)).state).toBe("PENDING");
      expect(audited(id).filter((x) => x.event === "action.refused" && x.via === "app").map((x) => x.op)).toEqual(["approve", "reject"]);
      expect(audited(id).some((x) => x.event === "action.approved" || x.event === "action.rejected")).toBe(false);
    } finally {
      await s.close();
    }
  });

  it("refuses a request that is not PENDING (approved, rejected): nothing is signed twice", async () => {
    b.writePolicy({ rules: [{ target: "web1", allow: ["group:actions"] }], elicitation: { maxImpact: "LOW", appView: true } });
    const s = await b.connect();
    try {
      const r = await proposeFlush(s.client);
      const id = r.structuredContent!.id as string;
      expect((await decide(s.client, r, true)).structuredContent).toMatchObject({ state: "APPROVED" });
      for (const approve of [true, false]) {
        const again = await decide(s.client, r, approve);
        expect(again.isError).toBe(true);
        expect(text(again)).toContain(`refused: action ${id} is APPROVED; only a PENDING request can be approved or rejected`);
      }
      expect(audited(id).filter((x) => x.event === "action.approved")).toHaveLength(1);
      expect(audited(id).filter((x) => x.event === "action.refused" && x.via === "app")).toHaveLength(2);
      const cancelled = await proposeFlush(s.client);
      await call(s.client, "cancel_action", { id: cancelled.structuredContent!.id });
      expect(text(await decide(s.client, cancelled, true))).toContain("is CANCELLED; only a PENDING request");
    } finally {
      await s.close();
    }
  });

  it("refuses without an elicitation section in policy.yaml (nothing is approved in the client), audited", async () => {
    b.writePolicy({ rules: [{ target: "web1", allow: ["group:actions"] }] });
    const s = await b.connect();
    try {
      const r = await proposeFlush(s.client);
      const id = r.structuredContent!.id as string;
      expect(r.structuredContent).toMatchObject({ appApproval: { offered: false, why: "policy.yaml has no elicitation section, so no action is approved in the client" } });
      const refused = await decide(s.client, r, true);
      expect(refused.isError).toBe(true);
      expect(text(refused)).toContain("policy.yaml has no elicitation section");
      expect((await stored(id)).state).toBe("PENDING");
      expect(audited(id).find((x) => x.event === "action.refused")).toMatchObject({ op: "approve", via: "app" });
    } finally {
      await s.close();
    }
  });

  it("the view's buttons are off unless policy.yaml says elicitation.appView: true (the model could call approve_in_app itself), even within the dialog's ceiling", async () => {
    // The dialog's own settings, without the view's opt-in: the model, holding `shown` from the
    // proposal's result, calls approve_in_app itself — refused, nothing is signed.
    b.writePolicy({ rules: [{ target: "web1", allow: ["group:actions"] }], elicitation: { maxImpact: "LOW" } });
    const s = await b.connect();
    try {
      const r = await proposeFlush(s.client);
      const id = r.structuredContent!.id as string;
      expect(r.structuredContent).toMatchObject({ appApproval: { offered: false, why: expect.stringContaining("elicitation.appView is not true") } });
      const refused = await decide(s.client, r, true);
      expect(refused.isError).toBe(true);
      expect(text(refused)).toContain("elicitation.appView is not true");
      expect((await stored(id)).state).toBe("PENDING");
      expect((await stored(id)).approval).toBeUndefined();
    } finally {
      await s.close();
    }
  });

  it("refuses a client that did not declare MCP Apps, and a digest that is not the request's (another request shown)", async () => {
    b.writePolicy({ rules: [{ target: "web1", allow: ["group:actions"] }], elicitation: { maxImpact: "LOW", appView: true } });
    const plain = await b.connect({ apps: false, name: "no-apps" });
    try {
      const r = await proposeFlush(plain.client);
      expect(r.structuredContent).toMatchObject({ appApproval: { offered: false, why: "this client did not declare MCP Apps" } });
      const refused = await decide(plain.client, r, true);
      expect(refused.isError).toBe(true);
      expect(text(refused)).toContain("approve_in_app is the approval view's button, and this client did not declare MCP Apps");
      expect((await stored(r.structuredContent!.id)).state).toBe("PENDING");
    } finally {
      await plain.close();
    }
    const s = await b.connect();
    try {
      const one = await proposeFlush(s.client);
      const other = await proposeFlush(s.client);
      const moved = await call(s.client, "approve_in_app", { id: one.structuredContent!.id, approve: true, shown: (other.structuredContent!.appApproval as { shown: string }).shown });
      expect(moved.isError).toBe(true);
      expect(text(moved)).toContain("is not the request the view showed");
      expect((await stored(one.structuredContent!.id)).state).toBe("PENDING");
      const bad = await call(s.client, "approve_in_app", { id: one.structuredContent!.id, approve: "yes", shown: "x" });
      expect(bad.isError).toBe(true);
      expect(text(bad)).toContain("approve");
      expect(b.bd.audit().filter((x) => x.event === "tool.refused" && x.tool === "approve_in_app")).toHaveLength(1);
    } finally {
      await s.close();
    }
  });

  it("2026-07-28: MCP Apps declared in the request's envelope; approve_in_app signs the same way", async () => {
    b.writePolicy({ rules: [{ target: "web1", allow: ["group:actions"] }], elicitation: { maxImpact: "LOW", appView: true } });
    const s = await b.connect({ modern: true });
    try {
      const r = await proposeFlush(s.client);
      expect(r.structuredContent).toMatchObject({ state: "PENDING", appApproval: { offered: true } });
      expect((await decide(s.client, r, true)).structuredContent).toMatchObject({ state: "APPROVED", outcome: "approved" });
      expect((await stored(r.structuredContent!.id)).approval).toMatchObject({ via: "app" });
    } finally {
      await s.close();
    }
  });
});
