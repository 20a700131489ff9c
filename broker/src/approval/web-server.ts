// The local page of `hostward approvals` (commands/approvals.ts): a node:http server on 127.0.0.1
// that shows the approver what is pending, exactly as `hostward approve` prints it, and approves or
// rejects through the same service calls. The signer (key file or ssh-agent) was chosen on the
// terminal and lives in this process: the browser only ever sends "approve ID" or "reject ID
// REASON", and never sees a key or a signature.
//
// Every request, in this order:
//   1. Host must be 127.0.0.1:PORT or localhost:PORT (a DNS-rebinding page has another Host);
//   2. Origin, when present, must be http://127.0.0.1:PORT or http://localhost:PORT — and a POST
//      must carry one (every current browser sends it on a form POST);
//   3. Sec-Fetch-Site, when present, must be same-origin (or none: a link opened from the terminal,
//      for a GET). Cookies are not isolated by port, so a page on another 127.0.0.1 port is "same
//      site" and SameSite alone would not stop it: 2 and 3 do.
//   4. GET /?token=T exchanges the one-time token (printed on the terminal) for the session: an
//      HttpOnly, SameSite=Strict cookie, then redirects to / (the token is gone from the address
//      bar and, under Referrer-Policy same-origin, never sent to another site). The token works
//      once: a second use, or any other token, is refused. There is one session per run.
//   5. Everything else needs the session cookie; POST /approve and /reject also need the session's
//      CSRF token from the page's forms (both compared in constant time), a form-encoded body of at
//      most 16 KiB and only the fields they take.
// What this does not stop: cookies are not isolated by port, so a browser that itself opens a page
// served by another program on 127.0.0.1 (typed in, or linked from a 127.0.0.1 page: SameSite=Strict
// withholds it from navigations another site starts) sends that program the session cookie, and a
// program holding it can read the page and its CSRF token. Whoever runs such a program on this
// machine is a local user; the session lasts only as long as this process.
// Responses carry a strict CSP (default-src 'none'; the one style and script by nonce; no framing,
// forms post only here), X-Frame-Options DENY, no-store, Referrer-Policy same-origin, nosniff.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { jsonValue } from "../../../shared/canonical-json";
import { canonicalJson } from "../../../proto/catalog/approval";
import { approvalSummary, signatureLines } from "../actions/describe";
import { ACTION_ID, printable, type ActionRequest } from "../actions/request";
import type { ActionService } from "../actions/service";
import { rolloutSummary } from "../rollouts/describe";
import { ROLLOUT_RECORD_ID, type RolloutRecord } from "../rollouts/record";
import type { RolloutService } from "../rollouts/service";
import type { Signer } from "./signer";
import { MAX_REASON, messagePage, renderPage, type PageItem } from "./web-page";

export interface ApprovalsServerOptions {
  service: ActionService;
  rollouts: RolloutService;
  signer: Signer;
  /** Recorded as the approver: "alice@laptop key SHA256:…". */
  approver: string;
  /** The person the signing key's approver line names (DIR/pki/approvers), audited as approverIdentity. */
  identity?: string;
  /** Recorded as who rejected: "alice@laptop". */
  who: string;
  /** The signer as `hostward approve` prints it. */
  signerText: string;
  configDir: string;
  /** 0: a random free port. */
  port: number;
  /** One line to the terminal (stderr); never given a token or a cookie. */
  log: (line: string) => void;
}

export interface ApprovalsServer {
  /** http://127.0.0.1:PORT/?token=…: opens the page once. */
  url: string;
  port: number;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 16 * 1024;
/** Items listed per section (newest first); the page says when there are more. */
const MAX_ITEMS = 200;
/** Expired ones are still shown (as expired, without buttons) this long after their expiry. */
const EXPIRED_SHOWN_SECONDS = 3600;

const nowSeconds = () => Math.floor(Date.now() / 1000);
const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest();

/** Constant-time equality of two secrets (digests first, so lengths do not leak either). */
function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(sha256(given), sha256(expected));
}

/** What the page showed of an item, by hash: its lines and the whole record they were made from. */
function itemDigest(kind: PageItem["kind"], lines: string[], record: ActionRequest | RolloutRecord): string {
  return createHash("sha256").update(canonicalJson(jsonValue({ kind, lines, record })), "utf8").digest("hex");
}

/** Signatures an approval carries so far. */
const signatureCount = (a: { cosignatures?: readonly unknown[] } | undefined) => (a ? 1 + (a.cosignatures?.length ?? 0) : 0);

/** APPROVED, but fewer signatures than its host(s) require (approvalsRequired): another approver may add theirs. */
function needsAnotherSignature(r: { state: string; approval?: { cosignatures?: readonly unknown[] }; approvalsRequired?: number }): boolean {
  return r.state === "APPROVED" && r.approvalsRequired !== undefined && signatureCount(r.approval) < r.approvalsRequired;
}

function actionItem(r: ActionRequest): PageItem {
  const cosign = needsAnotherSignature(r);
  // Who has signed, under the text `hostward approve` prints (it prints the same lines before adding a signature).
  const lines = cosign && r.approval ? [...approvalSummary(r), ...signatureLines(r.approval), `  needs:     ${r.approvalsRequired} distinct approver keys (${r.host}'s approvals.required.${r.impact})`] : approvalSummary(r);
  const id = (t: string) => printable(t, { ascii: true });
  return {
    kind: "action",
    id: r.id,
    lines,
    expiresAt: r.expiresAt,
    approvable: r.state === "PENDING" || cosign,
    rejectable: r.state === "PENDING",
    approveLabel: cosign ? `Add my signature (${signatureCount(r.approval) + 1} of ${r.approvalsRequired}) to ${id(r.action)} on ${id(r.host)}` : `Approve ${id(r.action)} on ${id(r.host)}`,
    digest: itemDigest("action", lines, r),
  };
}

async function rolloutItem(rollouts: RolloutService, r: RolloutRecord): Promise<PageItem> {
  let lines: string[];
  let shown = true;
  try {
    lines = rolloutSummary(r, (await rollouts.plan(r)).previews);
  } catch (err) {
    // What `hostward approve ro-…` says on stderr: without its previews a plan is not shown, nor approved.
    lines = [`Roll-out ${r.id} cannot be shown: ${printable((err as Error).message)}`];
    shown = false;
  }
  const cosign = needsAnotherSignature(r);
  if (cosign && r.approval) lines = [...lines, ...signatureLines(r.approval), `  needs:     ${r.approvalsRequired} distinct approver keys (the most its hosts' approvals.required.${r.impact} asks)`];
  return {
    kind: "rollout",
    id: r.id,
    lines,
    expiresAt: r.expiresAt,
    approvable: (r.state === "PENDING" || cosign) && shown,
    rejectable: r.state === "PENDING",
    approveLabel: cosign
      ? `Add my signature (${signatureCount(r.approval) + 1} of ${r.approvalsRequired}) to ${printable(r.action, { ascii: true })} on these ${r.hosts.length} host(s)`
      : `Approve ${printable(r.action, { ascii: true })} on these ${r.hosts.length} host(s), batch by batch as shown`,
    digest: itemDigest("rollout", lines, r),
  };
}

interface Session {
  cookie: string;
  csrf: string;
  flash: Array<{ kind: "ok" | "error"; text: string }>;
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function startApprovalsServer(o: ApprovalsServerOptions): Promise<ApprovalsServer> {
  const token = randomBytes(32).toString("base64url");
  let tokenUsed = false;
  let session: Session | undefined;
  let port = 0;
  let allowedHosts = new Set<string>();
  let allowedOrigins = new Set<string>();
  // Cookies are shared by every port of a host: the port in the name keeps two runs apart.
  let cookieName = "";

  function headers(nonce: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      "content-security-policy": `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; img-src 'none'; connect-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
      "x-frame-options": "DENY",
      "cache-control": "no-store",
      // Not no-referrer: under it, browsers send "Origin: null" with the page's own form posts (the
      // Fetch standard's rule), and the Origin check above would have nothing to check. same-origin
      // sends a Referer to this server alone; the page links nowhere else, and the one URL that held
      // the token was a bare redirect.
      "referrer-policy": "same-origin",
      "x-content-type-options": "nosniff",
      "cross-origin-opener-policy": "same-origin",
      "cross-origin-resource-policy": "same-origin",
      ...extra,
    };
  }

  function send(res: ServerResponse, status: number, html: string, nonce: string, extra: Record<string, string> = {}): void {
    res.writeHead(status, headers(nonce, { "content-type": "text/html; charset=utf-8", ...extra }));
    res.end(html);
  }

  function refuse(res: ServerResponse, status: number, message: string): void {
    const nonce = randomBytes(16).toString("base64url");
    send(res, status, messagePage("Refused", message, nonce), nonce);
  }

  function redirect(res: ServerResponse, extra: Record<string, string> = {}): void {
    res.writeHead(303, headers(randomBytes(16).toString("base64url"), { location: "/", "content-length": "0", ...extra }));
    res.end();
  }

  function sessionOf(req: IncomingMessage): Session | undefined {
    if (!session) return undefined;
    for (const part of (req.headers.cookie ?? "").split(";")) {
      const eq = part.indexOf("=");
      if (eq < 0 || part.slice(0, eq).trim() !== cookieName) continue;
      if (sameSecret(part.slice(eq + 1).trim(), session.cookie)) return session;
    }
    return undefined;
  }

  /** Host, Origin and Sec-Fetch-Site (1-3 at the head of this file); throws a Refusal. */
  function checkWhere(req: IncomingMessage, method: string): void {
    if (!allowedHosts.has(req.headers.host ?? "")) throw new Refusal(403, `the Host header must be 127.0.0.1:${port} or localhost:${port}`);
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins.has(origin)) throw new Refusal(403, "a request from another origin is refused");
    if (method === "POST" && origin === undefined) throw new Refusal(403, "a POST must carry an Origin header");
    const site = req.headers["sec-fetch-site"];
    if (site !== undefined && site !== "same-origin" && !(site === "none" && method !== "POST")) throw new Refusal(403, `a ${site} request is refused`);
  }

  async function items(): Promise<{ pending: PageItem[]; expired: PageItem[]; problems: string[]; total: number }> {
    const now = nowSeconds();
    const [acts, ros] = await Promise.all([o.service.list(), o.rollouts.list()]);
    const recent = (r: { state: string; expiresAt: number }) => r.state === "EXPIRED" && r.expiresAt > now - EXPIRED_SHOWN_SECONDS;
    const newest = <T extends { createdAt: string }>(a: T, b: T) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0);
    // PENDING, and APPROVED ones that still need another approver's signature (M-of-N).
    const pendingActs = acts.requests.filter((r) => r.state === "PENDING" || needsAnotherSignature(r)).sort(newest);
    const pendingRos = ros.rollouts.filter((r) => r.state === "PENDING" || needsAnotherSignature(r));
    const total = pendingActs.length + pendingRos.length;
    const pending = [...(await Promise.all(pendingRos.slice(0, MAX_ITEMS).map((r) => rolloutItem(o.rollouts, r)))), ...pendingActs.slice(0, MAX_ITEMS).map(actionItem)].slice(0, MAX_ITEMS);
    const expired = [
      ...(await Promise.all(ros.rollouts.filter(recent).slice(0, MAX_ITEMS).map((r) => rolloutItem(o.rollouts, r)))),
      ...acts.requests.filter(recent).sort(newest).slice(0, MAX_ITEMS).map(actionItem),
    ].slice(0, MAX_ITEMS);
    return { pending, expired, problems: [...ros.problems, ...acts.problems], total };
  }

  async function page(res: ServerResponse, s: Session): Promise<void> {
    const nonce = randomBytes(16).toString("base64url");
    const { pending, expired, problems, total } = await items();
    const flash = s.flash.splice(0);
    const html = renderPage({
      pending,
      expired,
      problems,
      csrf: s.csrf,
      nonce,
      ...(flash.length > 0 && { flash: { kind: flash.some((f) => f.kind === "error") ? "error" : "ok", text: flash.map((f) => f.text).join("\n") } }),
      signer: o.signerText,
      approver: o.approver,
      configDir: o.configDir,
      now: nowSeconds(),
      ...(total > pending.length && { cut: { shown: pending.length, total } }),
    });
    send(res, 200, html, nonce);
  }

  function exchange(res: ServerResponse, query: URLSearchParams): void {
    const given = query.getAll("token");
    if (tokenUsed) {
      o.log("refused a second use of the one-time link (the page is open already; restart hostward approvals for a new link)");
      throw new Refusal(403, "This one-time link was used already. The page is open in the browser that used it; for a new link, stop and start hostward approvals again.");
    }
    if (given.length !== 1 || [...query.keys()].length !== 1 || !sameSecret(given[0]!, token)) {
      o.log("refused a wrong one-time token");
      throw new Refusal(403, "This is not the link hostward approvals printed.");
    }
    tokenUsed = true;
    session = { cookie: randomBytes(32).toString("base64url"), csrf: randomBytes(32).toString("base64url"), flash: [] };
    o.log("the one-time link was opened: the page is now tied to that browser's session");
    redirect(res, { "set-cookie": `${cookieName}=${session.cookie}; HttpOnly; SameSite=Strict; Path=/` });
  }

  /** The POSTed form: the session's CSRF token (refused first, 403), then exactly `fields`. */
  async function readForm(req: IncomingMessage, s: Session, fields: readonly string[]): Promise<Map<string, string>> {
    const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/x-www-form-urlencoded") throw new Refusal(415, "the body must be a form (application/x-www-form-urlencoded)");
    if (Number(req.headers["content-length"] ?? "0") > MAX_BODY_BYTES) throw new Refusal(413, `the body is larger than ${MAX_BODY_BYTES} bytes`);
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of req) {
      total += (chunk as Buffer).length;
      if (total > MAX_BODY_BYTES) throw new Refusal(413, `the body is larger than ${MAX_BODY_BYTES} bytes`);
      chunks.push(chunk as Buffer);
    }
    const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
    // The CSRF token first: without the page's token nothing else of the form is looked at.
    const csrf = form.getAll("csrf");
    if (csrf.length !== 1 || !sameSecret(csrf[0]!, s.csrf)) {
      o.log("refused a POST without this page's CSRF token");
      throw new Refusal(403, "the form's CSRF token is missing or wrong: reload the page");
    }
    const out = new Map<string, string>();
    for (const [k, v] of form) {
      if (!fields.includes(k) || out.has(k)) throw new Refusal(400, `unexpected form field ${JSON.stringify(k.slice(0, 40))}`);
      out.set(k, v);
    }
    for (const f of fields) if (!out.has(f)) throw new Refusal(400, `the form field ${f} is missing`);
    return out;
  }

  /** An id that names a request or a roll-out. */
  function checkId(form: Map<string, string>): string {
    const id = form.get("id")!;
    if (!ACTION_ID.test(id) && !ROLLOUT_RECORD_ID.test(id)) throw new Refusal(400, "not an action request (act-…) or roll-out (ro-…) id");
    return id;
  }

  async function approve(id: string, shownDigest: string): Promise<{ kind: "ok" | "error"; text: string }> {
    const notApproved = (reason: string) => ({ kind: "error" as const, text: `${id} not approved: ${reason}` });
    if (id.startsWith("ro-")) {
      const r = await o.rollouts.get(id);
      if (!r) return notApproved(`no roll-out ${id}`);
      if ((r.state === "PENDING" || needsAnotherSignature(r)) && (await rolloutItem(o.rollouts, r)).digest !== shownDigest) {
        return notApproved((await o.rollouts.refuse({ op: "approve", via: "web" }, `roll-out ${id} changed after the page showed it; nothing was signed: review it again`, r)).reason);
      }
      if (needsAnotherSignature(r)) {
        const added = await o.rollouts.cosign(id, o.signer, { approver: o.approver, ...(o.identity !== undefined && { identity: o.identity }), via: "web" }, r);
        if (!added.ok) return notApproved(added.reason);
        return { kind: "ok", text: `SIGNED ${id} by ${o.approver}: ${signatureCount(added.record.approval)} signatures.` };
      }
      const out = await o.rollouts.approve(id, o.signer, { approver: o.approver, ...(o.identity !== undefined && { identity: o.identity }), via: "web" }, r);
      if (!out.ok) return notApproved(out.reason);
      return { kind: "ok", text: `APPROVED ${id} by ${o.approver}; each host may run its entry once, until ${new Date(out.record.expiresAt * 1000).toISOString()}. The requester can now call execute_rollout.` };
    }
    const r = await o.service.get(id);
    if (!r) return notApproved(`no action request ${id}`);
    // What this page showed, or nothing is signed; the service then checks that what it stores is still that.
    if ((r.state === "PENDING" || needsAnotherSignature(r)) && actionItem(r).digest !== shownDigest) {
      return notApproved((await o.service.refuse({ op: "approve", via: "web" }, `action ${id} changed after the page showed it; nothing was signed: review it again`, r)).reason);
    }
    if (needsAnotherSignature(r)) {
      const added = await o.service.cosign(id, o.signer, { via: "web", approver: o.approver, ...(o.identity !== undefined && { identity: o.identity }) }, r);
      if (!added.ok) return notApproved(added.reason);
      return { kind: "ok", text: `SIGNED ${id} by ${o.approver}: ${signatureCount(added.request.approval)} signatures.` };
    }
    const out = await o.service.approve(id, o.signer, { via: "web", approver: o.approver, ...(o.identity !== undefined && { identity: o.identity }) }, r);
    if (!out.ok) return notApproved(out.reason);
    return { kind: "ok", text: `APPROVED ${id} by ${o.approver}; valid once, until ${new Date(out.request.expiresAt * 1000).toISOString()}. The requester can now call execute_action.` };
  }

  async function reject(id: string, rawReason: string): Promise<{ kind: "ok" | "error"; text: string }> {
    const reason = rawReason.trim();
    const notRejected = (why: string) => ({ kind: "error" as const, text: `${id} not rejected: ${why}` });
    if (reason.length === 0) return notRejected("a rejection needs a reason");
    if (reason.length > MAX_REASON) return notRejected(`the reason is longer than ${MAX_REASON} characters`);
    // Shown later on terminals (`hostward actions show`, the audit tail): only visible text is taken.
    if (printable(reason) !== reason) return notRejected("the reason holds control, invisible or look-alike characters");
    const out = id.startsWith("ro-") ? await o.rollouts.reject(id, reason, { who: o.who, via: "web" }) : await o.service.reject(id, reason, { via: "web", who: o.who });
    if (!out.ok) return notRejected(out.reason);
    return { kind: "ok", text: `REJECTED ${id} by ${o.who}: ${reason}` };
  }

  async function decide(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const s = sessionOf(req);
    if (!s) {
      o.log(`refused a POST ${path} without the session cookie`);
      throw new Refusal(403, "no session: open the link hostward approvals printed");
    }
    const form = await readForm(req, s, path === "/approve" ? ["csrf", "id", "shown"] : ["csrf", "id", "reason"]);
    const id = checkId(form);
    let result: { kind: "ok" | "error"; text: string };
    try {
      result = path === "/approve" ? await approve(id, form.get("shown")!) : await reject(id, form.get("reason")!);
    } catch (err) {
      result = { kind: "error", text: `${id}: ${path === "/approve" ? "not approved" : "not rejected"}: ${(err as Error).message}` };
    }
    o.log(printable(result.text));
    s.flash.push(result);
    redirect(res);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    checkWhere(req, method);
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname === "/") {
      if (method !== "GET" && method !== "HEAD") throw new Refusal(405, "only GET here");
      if (url.search !== "") {
        if (method !== "GET") throw new Refusal(405, "the one-time link takes a GET");
        return exchange(res, url.searchParams);
      }
      const s = sessionOf(req);
      if (!s) throw new Refusal(401, "No session: open the link that hostward approvals printed on its terminal (it works once).");
      return page(res, s);
    }
    if (url.pathname === "/approve" || url.pathname === "/reject") {
      if (method !== "POST") throw new Refusal(405, "only POST here");
      return decide(req, res, url.pathname);
    }
    throw new Refusal(404, "not found");
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) return void res.destroy();
      if (err instanceof Refusal) {
        if (err.status === 403 || err.status >= 500) o.log(`refused ${printable(req.method ?? "?", { ascii: true })} ${printable((req.url ?? "").split("?")[0]!.slice(0, 100), { ascii: true })}: ${err.message}`);
        return refuse(res, err.status, err.message);
      }
      o.log(`request failed: ${printable((err as Error).message)}`);
      refuse(res, 500, "internal error (see the terminal)");
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
  server.maxHeadersCount = 50;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  port = typeof address === "object" && address ? address.port : o.port;
  allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  allowedOrigins = new Set([...allowedHosts].map((h) => `http://${h}`));
  cookieName = `hostward-approvals-${port}`;
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
