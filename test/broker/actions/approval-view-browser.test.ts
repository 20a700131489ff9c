// The approval view itself, in a real headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core): the HTML the BUILT broker serves at ui://hostward/approval, in a sandboxed
// iframe (scripts only, an opaque origin) of a host page, talking the MCP Apps postMessage
// protocol to the package's own host side — ext-apps' AppBridge, in this process, forwarding the
// view's tools/call to the real broker through the SDK's Client (the test's only glue is the
// transport that carries JSON-RPC messages between the AppBridge and the page's iframe).
//
// It checks what a human reads (host, action, canonical params, impact, plan, the host's preview,
// expiry, and the model's reason in its own box, an HTML/script payload shown as text and never
// run), that Approve leads to an APPROVED request signed with the dialog key, that a MEDIUM
// action shows no Approve button, and that the view makes no network request. Screenshots go to
// test/.artifacts/apps/.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import type { Client, JSONRPCMessage, Transport } from "@modelcontextprotocol/client";
import { AppBridge, getToolUiResourceUri } from "@modelcontextprotocol/ext-apps/app-bridge";
import { chromium, type BrowserContext, type Frame, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalStatement, parseOpenSshPublicKey, verifySshSig } from "../../../proto/catalog/approval";
import { ActionStore } from "../../../broker/src/actions/store";
import { printable } from "../../../shared/printable";
import { itAsRoot } from "../../support/root";
import { ROOT } from "../helpers/broker-dir";
import { startAppsBroker, text, type AppsBroker, type ToolResult } from "./apps-support";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const ARTIFACTS = join(ROOT, "test/.artifacts/apps");

/** The host page: one sandboxed iframe (scripts, no same-origin), and a relay of its messages to this process. */
const HOST_PAGE = `<!doctype html><html><head><title>test host</title></head><body style="margin:0;background:#888">
<iframe id="view" sandbox="allow-scripts" style="display:block;width:780px;height:1000px;border:0;background:#fff"></iframe>
<script>
const frame = document.getElementById("view");
window.addEventListener("message", (e) => { if (e.source === frame.contentWindow) window.__toHost(e.data); });
window.__toView = (m) => frame.contentWindow.postMessage(m, "*");
window.__load = (doc) => { frame.srcdoc = doc; };
</script></body></html>`;

/** What the host page's script defines (this file is typed without the DOM's types). */
interface HostPage {
  __toView(message: unknown): void;
  __load(html: string): void;
}

/** JSON-RPC between the AppBridge (here) and the view (the page's iframe): postMessage on the page side. */
class IframeTransport implements Transport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  constructor(private readonly page: Page) {}
  async start(): Promise<void> {}
  async send(message: JSONRPCMessage): Promise<void> {
    await this.page.evaluate((m) => (globalThis as unknown as HostPage).__toView(m), message as unknown as Record<string, unknown>);
  }
  async close(): Promise<void> {
    this.onclose?.();
  }
  deliver(message: unknown): void {
    this.onmessage?.(message as JSONRPCMessage);
  }
}

let b: AppsBroker;
let mcp: { client: Client; close(): Promise<void> };
let context: BrowserContext;
let userData: string;
let html: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium (.ci/run installs it)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  b = await startAppsBroker("hw-apps-view-");
  b.writePolicy({ rules: [{ target: "web1", allow: ["group:actions"] }], elicitation: { maxImpact: "LOW", appView: true } });
  mcp = await b.connect({ name: "view-test-host" });
  // The view the host renders: the resource propose_action's _meta.ui names, read through the broker.
  const propose = (await mcp.client.listTools()).tools.find((t) => t.name === "propose_action")!;
  const uri = getToolUiResourceUri(propose)!;
  html = ((await mcp.client.readResource({ uri })).contents[0] as { text: string }).text;
  userData = mkdtempSync(join(tmpdir(), "hw-chromium-"));
  context = await chromium.launchPersistentContext(userData, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 800, height: 1020 } });
});
afterAll(async () => {
  await context?.close();
  await mcp?.close();
  await b?.stop();
  if (userData) rmSync(userData, { recursive: true, force: true });
});

interface Shown {
  page: Page;
  frame: Frame;
  requests: string[];
  console: string[];
  contexts: unknown[];
  close(): Promise<void>;
}

/** Opens the view in a fresh page, as a host does after a tool call: initialize, then the tool's input and result. */
async function showInView(args: Record<string, unknown>, result: ToolResult, client: Client = mcp.client): Promise<Shown> {
  const page = await context.newPage();
  const requests: string[] = [];
  const console: string[] = [];
  const contexts: unknown[] = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("console", (m) => console.push(`${m.type()}: ${m.text()}`));
  const transport = new IframeTransport(page);
  await page.exposeBinding("__toHost", (_source, message: unknown) => transport.deliver(message));
  await page.setContent(HOST_PAGE);
  const bridge = new AppBridge(client, { name: "hostward-test-host", version: "1.0" }, { serverTools: {}, updateModelContext: { text: {} } }, { hostContext: { theme: "light", displayMode: "inline" } });
  bridge.onupdatemodelcontext = async (params) => {
    contexts.push(params);
    return {};
  };
  const initialized = new Promise<void>((resolve) => (bridge.oninitialized = () => resolve()));
  await bridge.connect(transport);
  await page.evaluate((doc) => (globalThis as unknown as HostPage).__load(doc), html);
  await initialized;
  await bridge.sendToolInput({ arguments: args });
  await bridge.sendToolResult(result as Parameters<AppBridge["sendToolResult"]>[0]);
  const frame = page.frames().find((f) => f !== page.mainFrame())!;
  await frame.getByTestId("state").waitFor();
  return { page, frame, requests, console, contexts, close: () => page.close() };
}

const textOf = async (frame: Frame, testid: string) => (await frame.getByTestId(testid).textContent()) ?? "";
const listOf = (frame: Frame, testid: string) => frame.getByTestId(testid).locator("li").allTextContents();

describe("the approval view in Chromium", () => {
  it("shows the request and the model's reason as text in its own box; Approve leads to APPROVED, signed with the dialog key", async () => {
    // The model's words try to be markup, to run script and to reorder the text: all of it shows as text.
    const reason = 'stale record <img src=x onerror="document.title=\'pwned\';window.__pwned=1"><script>window.__pwned=2</script><b>trust me</b> \u202eevil';
    const args = { target: "web1", request: { action: "flush_dns_cache" }, reason };
    const r = (await mcp.client.callTool({ name: "propose_action", arguments: args })) as ToolResult;
    expect(r.isError, text(r)).toBeFalsy();
    const out = r.structuredContent!;
    expect(out).toMatchObject({ state: "PENDING", impact: "LOW", appApproval: { offered: true } });
    const v = await showInView(args, r);
    try {
      const { frame } = v;
      expect(await textOf(frame, "state")).toBe("PENDING");
      expect(await textOf(frame, "host")).toBe("web1");
      expect(await textOf(frame, "action")).toBe("flush_dns_cache");
      expect(await textOf(frame, "params")).toBe("{}");
      expect(await textOf(frame, "impact")).toBe("LOW");
      expect(await textOf(frame, "requester")).toBe(out.requester);
      expect(await textOf(frame, "expires")).toContain(out.expiresAt as string);
      expect(await listOf(frame, "preview")).toEqual(out.preview);
      const runs = out.runs as string[];
      if (runs.length > 0) expect(await listOf(frame, "runs")).toEqual(runs.map((line) => `$ ${line}`));
      else expect(await textOf(frame, "runs")).toContain("nothing: no step of the plan applies");
      // The reason: in the box labelled as the model's words, escaped as the terminal does, as text.
      expect(await frame.getByTestId("reason-box").locator("h2").textContent()).toBe("The model's words");
      expect(await textOf(frame, "reason")).toBe(printable(reason));
      expect(await textOf(frame, "reason")).toContain("\\u202eevil");
      expect(await frame.getByTestId("reason").evaluate((e) => e.childElementCount)).toBe(0);
      expect(await frame.evaluate('[document.querySelectorAll("img, b, blockquote *").length, document.scripts.length]')).toEqual([0, 1]);
      expect(await frame.evaluate("typeof window.__pwned")).toBe("undefined");
      expect(await frame.evaluate("document.title")).toBe("hostward: approve an action");
      await v.page.screenshot({ path: join(ARTIFACTS, "approve-low-pending.png"), fullPage: true });

      await frame.getByTestId("approve").click();
      await frame.getByText(/^APPROVED, signed with the broker's dialog key/).waitFor();
      expect(await textOf(frame, "state")).toBe("APPROVED");
      await v.page.screenshot({ path: join(ARTIFACTS, "approve-low-approved.png"), fullPage: true });

      const stored = (await new ActionStore(b.bd.stateDir).get(out.id as string))!;
      expect(stored.state).toBe("APPROVED");
      expect(stored.approval).toMatchObject({ via: "app", approver: `the user of mcp:stdio:view-test-host/1.0:${userInfo().username} (approval view)` });
      const pub = parseOpenSshPublicKey(b.elicitationPub);
      expect(verifySshSig(stored.approval!.signature, canonicalStatement(stored.approval!.statement), [pub]).ok).toBe(true);
      expect(b.bd.audit().filter((x) => x.actionId === out.id && x.event === "action.approved")).toMatchObject([{ via: "app" }]);
      // The view told the model through the host (ui/update-model-context).
      expect(JSON.stringify(v.contexts)).toContain(`approved action request ${out.id as string}`);
      // Self-contained: the page and its view fetched nothing; its CSP refused nothing it needs.
      expect(v.requests.filter((u) => !u.startsWith("about:") && !u.startsWith("data:"))).toEqual([]);
      expect(v.console.filter((m) => /Content Security Policy|Refused to/i.test(m))).toEqual([]);
      // And the CSP is in force (a negative control): the view's document may not connect anywhere.
      // (Its no-eval cannot be shown from here: DevTools' evaluate is exempt from a page's CSP.)
      expect(await frame.evaluate('fetch("http://127.0.0.1:9/x").then(() => "fetched", (e) => e.name)')).toBe("TypeError");
      await expect.poll(() => v.console.some((m) => m.includes("Connecting to 'http://127.0.0.1:9/x' violates the following Content Security Policy directive: \"connect-src 'none'\""))).toBe(true);
      expect(v.requests.filter((u) => u.startsWith("http"))).toEqual([]);
    } finally {
      await v.close();
    }
  });

  it("a MEDIUM action (above policy's elicitation.maxImpact LOW) is shown read-only: no Approve button, approve it in a terminal", async () => {
    const args = { target: "web1", request: { action: "restart_service", unit: "nginx" }, reason: "nginx is stuck" };
    const r = (await mcp.client.callTool({ name: "propose_action", arguments: args })) as ToolResult;
    expect(r.structuredContent).toMatchObject({ state: "PENDING", impact: "MEDIUM", appApproval: { offered: false } });
    const id = r.structuredContent!.id as string;
    const v = await showInView(args, r);
    try {
      const { frame } = v;
      expect(await textOf(frame, "params")).toBe('{"unit":"nginx.service"}');
      expect(await textOf(frame, "impact")).toBe("MEDIUM");
      expect(await frame.getByTestId("approve").count()).toBe(0);
      expect(await frame.getByTestId("reject").count()).toBe(0);
      expect(await frame.locator("button").count()).toBe(0);
      expect(await textOf(frame, "read-only")).toContain("its impact MEDIUM is above policy.yaml's elicitation.maxImpact (LOW)");
      expect(await textOf(frame, "terminal")).toBe(`Approve it in a terminal: hostward approve ${id}`);
      await v.page.screenshot({ path: join(ARTIFACTS, "medium-read-only.png"), fullPage: true });
      expect((await new ActionStore(b.bd.stateDir).get(id))!.state).toBe("PENDING");
    } finally {
      await v.close();
    }
  });

  itAsRoot("within a MEDIUM ceiling: the plan's commands are listed as they will run, and Approve signs it", "truncate_log's preview needs the log's directories to be root's", async () => {
    b.writePolicy({ rules: [{ target: "web1", allow: ["group:actions"] }], elicitation: { maxImpact: "MEDIUM", appView: true } });
    const s = await b.connect({ name: "view-test-host" }); // a broker that reads the new policy
    try {
      const path = join(b.logs, "debug.log");
      writeFileSync(path, "x".repeat(4096), { mode: 0o644 });
      const args = { target: "web1", request: { action: "truncate_log", path }, reason: "the debug log fills the disk" };
      const r = (await s.client.callTool({ name: "propose_action", arguments: args })) as ToolResult;
      expect(r.isError, text(r)).toBeFalsy();
      const out = r.structuredContent!;
      expect(out).toMatchObject({ impact: "MEDIUM", appApproval: { offered: true } });
      const runs = out.runs as string[];
      expect(runs.some((line) => line.includes(`truncate --no-create --size=0 -- ${path}`))).toBe(true);
      const v = await showInView(args, r, s.client);
      try {
        expect(await listOf(v.frame, "runs")).toEqual(runs.map((line) => `$ ${line}`));
        expect(await listOf(v.frame, "preview")).toEqual(out.preview);
        expect((out.preview as string[]).join("\n")).toContain("4096");
        await v.page.screenshot({ path: join(ARTIFACTS, "medium-ceiling-plan.png"), fullPage: true });
        await v.frame.getByTestId("approve").click();
        await v.frame.getByText(/^APPROVED, signed/).waitFor();
        expect((await new ActionStore(b.bd.stateDir).get(out.id as string))!.approval).toMatchObject({ via: "app", statement: { impact: "MEDIUM" } });
      } finally {
        await v.close();
      }
    } finally {
      await s.close();
      b.writePolicy({ rules: [{ target: "web1", allow: ["group:actions"] }], elicitation: { maxImpact: "LOW", appView: true } });
    }
  });

  it("Reject records REJECTED via the view, with the reason typed there", async () => {
    const args = { target: "web1", request: { action: "flush_dns_cache" }, reason: "try again" };
    const r = (await mcp.client.callTool({ name: "propose_action", arguments: args })) as ToolResult;
    const v = await showInView(args, r);
    try {
      await v.frame.getByTestId("reject-reason").fill("not during the release");
      await v.frame.getByTestId("reject").click();
      await v.frame.getByText("REJECTED: it can never run.").waitFor();
      const stored = (await new ActionStore(b.bd.stateDir).get(r.structuredContent!.id as string))!;
      expect(stored.state).toBe("REJECTED");
      expect(stored.rejection).toMatchObject({ via: "app", reason: "not during the release" });
    } finally {
      await v.close();
    }
  });
});
