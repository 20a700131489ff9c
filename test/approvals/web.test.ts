// `hostward approvals`: the approver's local page, through the BUILT CLI and a real headless
// Chromium (Debian's /usr/bin/chromium, driven by playwright-core; .ci/run installs it). Requests
// are proposed by the code propose_action uses (cli-support.ts pendingRequest), a roll-out by the
// roll-out service. The page must show each exactly as `hostward approve` prints it; an approval
// must be signed by the approver's key in the CLI's process (the signature verifies); a rejection
// needs a reason; an expired request cannot be approved; and forged requests (no session cookie, no
// CSRF token, another Host, another Origin — also from a real page on another 127.0.0.1 port, and
// through a rebound DNS name) and a second use of the one-time link are refused. Screenshots go to
// test/.artifacts/approvals/.
import { RolloutFiles } from "../../broker/src/state/rollout-files";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest, createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalRolloutStatement, canonicalStatement, parseOpenSshPublicKey, verifySshSig } from "../../proto/catalog/approval";
import { findAction } from "../../proto/catalog/actions/index";
import { previewSummary } from "../../proto/catalog/preview-summary";
import { approvalSummary } from "../../broker/src/actions/describe";
import { ActionStore } from "../../broker/src/actions/store";
import type { ActionRequest } from "../../broker/src/actions/request";
import { AuditLog } from "../../broker/src/audit/log";
import { rolloutSummary } from "../../broker/src/rollouts/describe";
import type { RolloutRecord } from "../../broker/src/rollouts/record";
import { RolloutService } from "../../broker/src/rollouts/service";
import { rolloutStrategy } from "../../broker/src/rollouts/strategy";
import { BROKER_BUNDLE, ROOT, type BrokerDir } from "../broker/helpers/broker-dir";
import { brokerDir, pendingRequest, runCli } from "../broker/actions/cli-support";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = join(ROOT, "test", ".artifacts", "approvals");
/** This machine's network is closed: without these Chromium waits on connections it will never get. */
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let root: string;
let bd: BrokerDir;
let env: Record<string, string>;
let keyFile: string;
let pubKey: ReturnType<typeof parseOpenSshPublicKey>;
let cli: ChildProcess;
let cliStderr = "";
let cliExit: Promise<number | null>;
let link: string;
let port: number;
let origin: string;
let ctx: BrowserContext;
let page: Page;
let rollouts: RolloutService;
let toApprove: ActionRequest;
let toReject: ActionRequest;
let crafted: ActionRequest;
let rollout: RolloutRecord;
/** The session's cookie and CSRF token, as the forged-request test read them. */
let secrets = { cookie: "", csrf: "" };

const stored = async (id: string) => (await new ActionStore(bd.stateDir).get(id))!;
const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
const item = (id: string) => page.locator(`article[data-id="${id}"]`);
/** Runs `act` (a click, a submit) and waits for the page it leads to (POST, 303, GET /) to load. */
async function leadsToPage(act: () => Promise<unknown>): Promise<void> {
  const navigated = page.waitForEvent("framenavigated", (f) => f === page.mainFrame());
  await act();
  await navigated;
  await page.waitForLoadState("load");
  expect(page.url()).toBe(`${origin}/`);
}
/** The message at the head of the page after a decision: "ok" or "error", and its text. */
async function flash(): Promise<{ kind: string; text: string }> {
  const el = page.locator(".flash");
  const cls = (await el.getAttribute("class", { timeout: 5_000 })) ?? "";
  return { kind: cls.replace("flash", "").trim(), text: (await el.textContent()) ?? "" };
}

/** What `hostward approve ID` prints before it asks (its stdout without the signer line; no terminal, so it stops there). */
async function terminalText(id: string): Promise<string> {
  const run = await runCli(["approve", id, "--key", keyFile, "--config", bd.dir], env);
  expect(run.stderr).toContain("no terminal to confirm on");
  const lines = run.stdout.split("\n");
  expect(lines.pop()).toBe(""); // the last line's end
  expect(lines.pop()).toMatch(/^ {2}signer: {4}SHA256:/); // the signer, after what it would sign
  return lines.join("\n");
}

/** One raw HTTP request to the page's server, with exactly these headers (Host included). */
function raw(method: string, path: string, headers: Record<string, string>, body = ""): Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, method, path, headers: { host: `127.0.0.1:${port}`, ...headers, ...(body && { "content-length": String(Buffer.byteLength(body)) }) } }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function session(): Promise<{ cookie: string; csrf: string }> {
  const cookie = (await ctx.cookies(origin)).find((c) => c.name === `hostward-approvals-${port}`)!;
  const csrf = (await page.locator('input[name="csrf"]').first().getAttribute("value"))!;
  return { cookie: `${cookie.name}=${cookie.value}`, csrf };
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = { "content-type": "application/x-www-form-urlencoded" };

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  root = mkdtempSync(join(tmpdir(), "hw-approvals-"));
  bd = brokerDir(root);
  env = { HOME: root };
  const made = await runCli(["pki", "approver-key", "alice", "--max-impact", "MEDIUM", "--out", join(root, "keys")], env);
  expect(made.code, made.stderr).toBe(0);
  keyFile = join(root, "keys", "alice");
  pubKey = parseOpenSshPublicKey(readFileSync(`${keyFile}.pub`, "utf8"));

  toApprove = await pendingRequest(bd, { reason: "nginx is failed on web1" });
  toReject = await pendingRequest(bd, { host: "web2", reason: "restart it during business hours" });
  // Model-written text that would be markup, or would rewrite a terminal, if it were not escaped.
  crafted = await pendingRequest(bd, { host: "web3", reason: "<b>x</b> <script>window.hostwardXss=1</script> &\u001b[2J\u202e", requester: "mcp:stdio:<i>model</i>" });
  const def = findAction("truncate_log")!;
  const params = { path: "/var/log/app/debug.log" };
  const facts = { systemd: true, paths: {}, path: params.path, device: 1, inode: 2, sizeBytes: 10, modifiedMs: 0 };
  const preview = { action: def.name, facts, summary: previewSummary(def, params, facts) };
  rollouts = new RolloutService(new RolloutFiles(bd.stateDir), new AuditLog(bd.auditFile).open(), () => 900);
  rollout = await rollouts.propose({
    target: "tag:web",
    hosts: ["web1", "web2", "web3"].map((h, i) => ({ host: h, hostIdentity: h, hostKey: `sha256:${String(i).repeat(64)}`, preview })),
    action: def.name,
    params,
    impact: def.impact,
    strategy: rolloutStrategy.parse({ canaries: 1, batchSize: 2 }),
    reason: "debug.log fills /var",
    requester: "mcp:stdio:test/1",
  });

  cli = spawn(process.execPath, [BROKER_BUNDLE, "approvals", "--key", keyFile, "--config", bd.dir], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  cliExit = new Promise((resolve) => cli.on("exit", (code) => resolve(code)));
  link = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no link printed: ${cliStderr}`)), 20_000);
    cli.stderr!.on("data", (c: Buffer) => {
      cliStderr += c.toString();
      const m = /open this link in your browser \(it works once\): (http:\/\/127\.0\.0\.1:(\d+)\/\?token=[A-Za-z0-9_-]{43})\n/.exec(cliStderr);
      if (m) {
        clearTimeout(timer);
        port = Number(m[2]);
        resolve(m[1]!);
      }
    });
    cli.on("exit", () => reject(new Error(`hostward approvals exited: ${cliStderr}`)));
  });
  origin = `http://127.0.0.1:${port}`;
  ctx = await chromium.launchPersistentContext(join(root, "chromium-profile"), {
    executablePath: CHROMIUM,
    headless: true,
    // evil.test resolves to this machine: a DNS-rebinding page reaches the port under another name.
    args: [...CHROMIUM_ARGS, "--host-resolver-rules=MAP evil.test 127.0.0.1"],
    viewport: { width: 1200, height: 900 },
  });
  ctx.setDefaultTimeout(10_000);
  page = ctx.pages()[0] ?? (await ctx.newPage());
}, 120_000);

afterAll(async () => {
  // What the command said on its terminal, kept beside the screenshots (it holds no secret but the used link).
  if (existsSync(ARTIFACTS)) writeFileSync(join(ARTIFACTS, "cli-stderr.log"), cliStderr);
  await ctx?.close();
  if (cli && cli.exitCode === null) cli.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
});

describe("hostward approvals in Chromium", () => {
  it("prints a one-time link; the browser trades it for an HttpOnly SameSite=Strict cookie, and the token leaves the address bar", async () => {
    expect(cliStderr).toContain(`signer:    ${pubKey.keyId}`);
    const response = await page.goto(link);
    expect(response!.status()).toBe(200);
    expect(page.url()).toBe(`${origin}/`);
    const [cookie] = (await ctx.cookies(origin)).filter((c) => c.name === `hostward-approvals-${port}`);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/" });
    const h = response!.headers();
    expect(h["content-security-policy"]).toMatch(/^default-src 'none'; script-src 'nonce-[A-Za-z0-9_-]+'; style-src 'nonce-[A-Za-z0-9_-]+';.* form-action 'self'; frame-ancestors 'none'; base-uri 'none'$/);
    expect(h).toMatchObject({ "x-frame-options": "DENY", "cache-control": "no-store", "referrer-policy": "same-origin", "x-content-type-options": "nosniff" });
    // The one script is the nonce'd countdown; no script is inline without it.
    const scripts = await page.locator("script").evaluateAll((els) => els.map((e) => (e as unknown as { nonce: string }).nonce !== ""));
    expect(scripts).toEqual([true]);
    await shot("list");
  });

  it("the one-time link cannot be used twice: not by another browser, not by a plain request", async () => {
    const again = await fetch(link, { redirect: "manual" });
    expect(again.status).toBe(403);
    expect(await again.text()).toContain("This one-time link was used already");
    expect(again.headers.get("set-cookie")).toBeNull();
    const other = await (await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })).newContext();
    const otherPage = await other.newPage();
    expect((await otherPage.goto(link))!.status()).toBe(403);
    expect(await otherPage.textContent("body")).toContain("used already");
    await otherPage.screenshot({ path: join(ARTIFACTS, "link-used-twice.png") });
    // Without the cookie, the page itself is not shown either.
    expect((await otherPage.goto(`${origin}/`))!.status()).toBe(401);
    await other.browser()!.close();
    expect(cliStderr).toContain("refused a second use of the one-time link");
  });

  it("lists every pending request and roll-out with exactly the text `hostward approve` prints, escaped, and the expiry counting down", async () => {
    await page.goto(`${origin}/`);
    for (const r of [toApprove, toReject, crafted]) {
      const text = await item(r.id).locator("pre.summary").textContent();
      expect(text).toBe(approvalSummary(await stored(r.id)).join("\n"));
      expect(text).toBe(await terminalText(r.id));
      await expect.poll(() => item(r.id).locator("[data-expires]").textContent()).toMatch(/^expires in 1[45] min \d+ s$/);
    }
    const ro = await item(rollout.id).locator("pre.summary").textContent();
    expect(ro).toBe(rolloutSummary((await rollouts.get(rollout.id))!, (await rollouts.plan(rollout)).previews).join("\n"));
    expect(ro).toBe(await terminalText(rollout.id));
    expect(ro).toContain("batches, in order:");
    // The model's markup is text on the page, not elements; the terminal escapes are there as text.
    const c = item(crafted.id);
    expect(await c.locator("pre b, pre i, pre script").count()).toBe(0);
    expect((await c.locator("pre.summary").textContent())!.endsWith("\n    > <b>x</b> <script>window.hostwardXss=1</script> &\\u001b[2J\\u202e")).toBe(true);
    expect(await c.locator("pre.summary").textContent()).toContain("requester: mcp:stdio:<i>model</i>");
    expect(await page.evaluate(() => (globalThis as unknown as { hostwardXss?: number }).hostwardXss)).toBeUndefined();
    await c.scrollIntoViewIfNeeded();
    await shot("list-escaped");
  });

  it("approve: signed in the CLI's process with the approver's key; APPROVED via web, the signature verifies, audited", async () => {
    await page.goto(`${origin}/`);
    await leadsToPage(() => item(toApprove.id).locator("button.approve").click());
    expect(await flash()).toMatchObject({ kind: "ok", text: expect.stringContaining(`APPROVED ${toApprove.id} by `) });
    expect(await item(toApprove.id).count()).toBe(0);
    await shot("approved");
    const r = await stored(toApprove.id);
    expect(r.state).toBe("APPROVED");
    expect(r.approval).toMatchObject({ via: "web", keyId: pubKey.keyId });
    expect(r.approval!.approver).toMatch(new RegExp(`key ${pubKey.keyId.replace(/[+/]/g, "\\$&")}$`));
    expect(r.approval!.statement).toMatchObject({ id: r.id, host: r.hostIdentity, hostKey: r.hostKey, params: r.params, notAfter: r.expiresAt });
    expect(verifySshSig(r.approval!.signature, canonicalStatement(r.approval!.statement), [pubKey])).toMatchObject({ ok: true });
    expect(bd.audit().find((x) => x.event === "action.approved" && x.actionId === r.id)).toMatchObject({ code: "HW1101", via: "web", keyId: pubKey.keyId, keySource: `file:${keyFile}` });
    // No key material ever went to the browser.
    expect(await page.content()).not.toMatch(/PRIVATE KEY|BEGIN SSH SIGNATURE/);
  });

  it("approve a roll-out: one signature over the whole plan, via web", async () => {
    await leadsToPage(() => item(rollout.id).locator("button.approve").click());
    expect(await flash()).toMatchObject({ kind: "ok", text: expect.stringContaining(`APPROVED ${rollout.id}`) });
    const r = (await rollouts.get(rollout.id))!;
    expect(r.state).toBe("APPROVED");
    expect(r.approval).toMatchObject({ via: "web", keyId: pubKey.keyId });
    expect(verifySshSig(r.approval!.signature, canonicalRolloutStatement(r.approval!.statement), [pubKey]).ok).toBe(true);
    expect(bd.audit().find((x) => x.event === "rollout.approved" && x.rolloutId === r.id)).toMatchObject({ via: "web" });
  });

  it("reject: a reason is required (the form, and the server whatever the form says); it is recorded", async () => {
    const reject = item(toReject.id).locator("form.reject");
    await reject.locator("button.reject").click(); // empty: the browser's own check keeps it from being sent
    expect(await reject.locator("input[name=reason]").evaluate((el) => (el as unknown as { validity: { valueMissing: boolean } }).validity.valueMissing)).toBe(true);
    // Sent anyway (a blank reason): refused by the server.
    const { cookie, csrf } = await session();
    const blank = await raw("POST", "/reject", { ...FORM, origin, cookie }, form({ csrf, id: toReject.id, reason: "   " }));
    expect(blank.status).toBe(303);
    await page.goto(`${origin}/`);
    expect(await flash()).toMatchObject({ kind: "error", text: expect.stringContaining(`${toReject.id} not rejected: a rejection needs a reason`) });
    const hidden = await raw("POST", "/reject", { ...FORM, origin, cookie }, form({ csrf, id: toReject.id, reason: "fine\u202eenif" }));
    expect(hidden.status).toBe(303);
    await page.goto(`${origin}/`);
    expect(await flash()).toMatchObject({ kind: "error", text: expect.stringContaining("control, invisible or look-alike characters") });
    expect((await stored(toReject.id)).state).toBe("PENDING");

    await item(toReject.id).locator("input[name=reason]").fill("not during business hours <b>");
    await leadsToPage(() => item(toReject.id).locator("button.reject").click());
    expect(await flash()).toMatchObject({ kind: "ok", text: expect.stringContaining(`REJECTED ${toReject.id} by `) });
    await shot("rejected");
    const r = await stored(toReject.id);
    expect(r).toMatchObject({ state: "REJECTED", rejection: { reason: "not during business hours <b>", via: "web" } });
    expect(bd.audit().find((x) => x.event === "action.rejected" && x.actionId === r.id)).toMatchObject({ via: "web", reason: "not during business hours <b>" });
  });

  it("a request changed after the page showed it is not signed", async () => {
    const r = await pendingRequest(bd, { host: "web4" });
    await page.goto(`${origin}/`);
    const file = join(bd.stateDir, "actions", `${r.id}.json`);
    const before = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...before, params: { unit: "sshd.service" } }, null, 2));
    await leadsToPage(() => item(r.id).locator("button.approve").click());
    expect(await flash()).toMatchObject({ kind: "error", text: expect.stringContaining(`action ${r.id} changed after the page showed it; nothing was signed`) });
    const after = await stored(r.id);
    expect(after.state).toBe("PENDING");
    expect(after.approval).toBeUndefined();
  });

  it("an expired proposal: the countdown says so and disables its button; the server refuses it anyway", async () => {
    const r = await pendingRequest(bd, { host: "web5", reason: "short-lived" }, 4);
    await page.goto(`${origin}/`);
    const article = item(r.id);
    expect(await article.locator("button.approve").isEnabled()).toBe(true);
    await expect.poll(() => article.locator("[data-expires]").textContent(), { timeout: 10_000 }).toBe("EXPIRED: it can no longer be approved");
    expect(await article.locator("button.approve").isDisabled()).toBe(true);
    await article.scrollIntoViewIfNeeded();
    await shot("expired-countdown");
    // A stale page submits it anyway: refused by the service's own check, nothing signed.
    await leadsToPage(() => article.locator("form.approve").evaluate((f) => (f as unknown as { requestSubmit(): void }).requestSubmit()));
    expect(await flash()).toMatchObject({ kind: "error", text: expect.stringContaining(`action ${r.id} is EXPIRED; only a PENDING request can be approved`) });
    const after = await stored(r.id);
    expect(after.state).toBe("EXPIRED");
    expect(after.approval).toBeUndefined();
    // Now listed as expired, without buttons.
    expect(await page.locator(`#expired article[data-id="${r.id}"]`).count()).toBe(1);
    expect(await page.locator(`#expired article[data-id="${r.id}"] form`).count()).toBe(0);
    await shot("expired");
  });

  it("forged requests are refused: no session cookie, no or a wrong CSRF token, another Host, another Origin, no Origin, cross-site", async () => {
    const target = await pendingRequest(bd, { host: "web6" });
    await page.goto(`${origin}/`);
    const { cookie, csrf } = (secrets = await session());
    const shown = (await item(target.id).locator('input[name="shown"]').getAttribute("value"))!;
    const good = form({ csrf, id: target.id, shown });
    const cases: Array<[string, Record<string, string>, string, number, string]> = [
      ["no session cookie", { ...FORM, origin }, good, 403, "no session"],
      ["a wrong session cookie", { ...FORM, origin, cookie: `${cookie.split("=")[0]}=${"A".repeat(43)}` }, good, 403, "no session"],
      ["no CSRF token", { ...FORM, origin, cookie }, form({ id: target.id, shown }), 403, "CSRF token is missing or wrong"],
      ["a wrong CSRF token", { ...FORM, origin, cookie }, form({ csrf: "x".repeat(43), id: target.id, shown }), 403, "CSRF token is missing or wrong"],
      ["another Host (DNS rebinding)", { ...FORM, origin, cookie, host: `evil.test:${port}` }, good, 403, "the Host header must be"],
      ["a foreign Origin", { ...FORM, origin: "http://evil.test", cookie }, good, 403, "another origin"],
      ["another port's Origin", { ...FORM, origin: "http://127.0.0.1:1", cookie }, good, 403, "another origin"],
      ["no Origin", { ...FORM, cookie }, good, 403, "must carry an Origin"],
      ["a same-site (not same-origin) fetch", { ...FORM, origin, cookie, "sec-fetch-site": "same-site" }, good, 403, "same-site request is refused"],
      ["a text/plain body", { "content-type": "text/plain", origin, cookie }, good, 415, "must be a form"],
    ];
    for (const [what, headers, body, status, says] of cases) {
      const res = await raw("POST", "/approve", headers, body);
      expect({ what, status: res.status }).toEqual({ what, status });
      expect(res.text, what).toContain(says);
    }
    // The same request with everything right would go through: the cases above differ in one thing each.
    expect((await raw("GET", "/", { cookie })).status).toBe(200);
    expect((await raw("GET", "/", {})).status).toBe(401);
    expect((await stored(target.id)).state).toBe("PENDING");

    // A real page on another 127.0.0.1 port (same site: the cookie goes along) posts the form, even
    // with the right CSRF token: its Origin gives it away.
    const attacker: Server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<form id="f" method="post" action="${origin}/approve"><input name="csrf" value="${csrf}"><input name="id" value="${target.id}"><input name="shown" value="${shown}"></form><script>document.getElementById("f").submit()</script>`);
    });
    await new Promise<void>((resolve) => attacker.listen(0, "127.0.0.1", resolve));
    const attackerPort = (attacker.address() as { port: number }).port;
    const evil = await ctx.newPage();
    const posted = evil.waitForResponse((res) => res.url() === `${origin}/approve`);
    await evil.goto(`http://127.0.0.1:${attackerPort}/`);
    expect((await posted).status()).toBe(403);
    await evil.waitForLoadState();
    expect(await evil.textContent("body")).toContain("another origin");
    await evil.screenshot({ path: join(ARTIFACTS, "forged-cross-port.png") });
    // A DNS-rebinding page: the browser reaches the port as evil.test, and is refused on its Host.
    const rebound = await evil.goto(`http://evil.test:${port}/`);
    expect(rebound!.status()).toBe(403);
    expect(await evil.textContent("body")).toContain("the Host header must be");
    await evil.screenshot({ path: join(ARTIFACTS, "forged-rebinding.png") });
    await evil.close();
    attacker.closeAllConnections();
    await new Promise<void>((resolve) => attacker.close(() => resolve()));

    const after = await stored(target.id);
    expect(after.state).toBe("PENDING");
    expect(after.approval).toBeUndefined();
    expect(bd.audit().some((x) => x.event === "action.approved" && x.actionId === target.id)).toBe(false);
  });

  it("two keys required: after another approver signed in a terminal, the page shows who has signed and adds this approver's signature (via web)", async () => {
    const r = await pendingRequest(bd, { host: "web4", reason: "needs two people", approvalsRequired: 2 });
    const bobMade = await runCli(["pki", "approver-key", "bob", "--max-impact", "MEDIUM", "--out", join(root, "keys")], env);
    expect(bobMade.code, bobMade.stderr).toBe(0);
    const first = await runCli(["approve", r.id, "--key", join(root, "keys", "bob"), "--yes", "--config", bd.dir], env);
    expect(first.code, first.stderr).toBe(0);
    await page.goto(`${origin}/`);
    const text = (await item(r.id).locator("pre").textContent()) ?? "";
    expect(text).toMatch(/signed 1: SHA256:\S+ by .* \(cli\) at /);
    expect(text).toContain("needs:     2 distinct approver keys");
    const button = item(r.id).locator("button.approve");
    expect(await button.textContent()).toContain("Add my signature (2 of 2)");
    await shot("cosign");
    await leadsToPage(() => button.click());
    expect(await flash()).toMatchObject({ kind: "ok", text: expect.stringContaining(`SIGNED ${r.id} by `) });
    expect(await item(r.id).count()).toBe(0);
    const after = await stored(r.id);
    expect(after.state).toBe("APPROVED");
    expect(after.approval!.cosignatures).toEqual([expect.objectContaining({ via: "web", keyId: pubKey.keyId })]);
    expect(verifySshSig(after.approval!.cosignatures![0]!.signature, canonicalStatement(after.approval!.statement), [pubKey]).ok).toBe(true);
  });

  it("stops on SIGTERM, saying so", async () => {
    cli.kill("SIGTERM");
    expect(await cliExit).toBe(0);
    expect(cliStderr).toContain("SIGTERM: stopping");
    // Nothing in its log is a secret: the token is printed once (the link), never the cookie or the CSRF token.
    expect(cliStderr.split(link.split("token=")[1]!).length).toBe(2);
    expect(cliStderr).not.toContain(secrets.csrf);
    expect(cliStderr).not.toContain(secrets.cookie.split("=")[1]);
  });
});
