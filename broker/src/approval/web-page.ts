// The HTML of the page `hostward approvals` serves to the approver's browser (approval/web-server.ts).
// Pure: no I/O. Each pending request or roll-out is shown as the very lines `hostward approve`
// prints (actions/describe.ts approvalSummary, rollouts/describe.ts rolloutSummary: already
// escaped for a terminal), HTML-escaped once more and laid out verbatim in a <pre>; nothing else on
// the page comes from the model or a host. The page works without JavaScript; the one script (with
// the response's CSP nonce) only counts the expiry down and disables an approve button at zero —
// the server refuses an expired one whatever the page does.

/** One request or roll-out as the page shows it. */
export interface PageItem {
  kind: "action" | "rollout";
  id: string;
  /** Exactly the lines `hostward approve ID` prints before it asks (summary only, no signer line). */
  lines: string[];
  /** Unix seconds. */
  expiresAt: number;
  /** Whether an approve button is offered (PENDING, and its plan could be shown). */
  approvable: boolean;
  /** Whether a reject form is offered (PENDING). */
  rejectable: boolean;
  /** The label of the approve button ("Approve restart_service on web1"). */
  approveLabel: string;
  /** What the page showed, by hash (web-server.ts itemDigest): an approval of anything else is refused. */
  digest: string;
}

export interface PageInput {
  pending: PageItem[];
  /** Expired in the last hour: shown as such, no buttons. */
  expired: PageItem[];
  /** Records that could not be read (their messages, escaped here). */
  problems: string[];
  csrf: string;
  nonce: string;
  flash?: { kind: "ok" | "error"; text: string };
  /** "  signer:    SHA256:… (alice) from file:…", as `hostward approve` prints it. */
  signer: string;
  approver: string;
  configDir: string;
  /** Unix seconds, when the page was made. */
  now: number;
  /** Lists cut at this many items (said so on the page). */
  cut?: { shown: number; total: number };
}

/** Longest rejection reason accepted (the same bound `hostward reject` cuts at). */
export const MAX_REASON = 500;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;"));
}

/** "14 min 5 s": what is left, as the countdown script writes it. */
function remaining(seconds: number): string {
  if (seconds <= 0) return "0 s";
  const m = Math.floor(seconds / 60);
  return `${m > 0 ? `${m} min ` : ""}${seconds % 60} s`;
}

const iso = (unix: number) => new Date(unix * 1000).toISOString();

function countdown(item: PageItem, now: number): string {
  const left = item.expiresAt - now;
  const text = left > 0 ? `expires in ${remaining(left)}` : "EXPIRED: it can no longer be approved";
  return `<p class="countdown"><span data-expires="${item.expiresAt}">${escapeHtml(text)}</span> <span class="at">(at ${escapeHtml(iso(item.expiresAt))})</span></p>`;
}

function hidden(name: string, value: string): string {
  return `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`;
}

function article(item: PageItem, input: PageInput, expired: boolean): string {
  const a = escapeHtml(item.id);
  const forms: string[] = [];
  if (!expired && item.approvable) {
    forms.push(
      `<form method="post" action="/approve" class="approve">${hidden("csrf", input.csrf)}${hidden("id", item.id)}${hidden("shown", item.digest)}` +
        `<button type="submit" class="approve">${escapeHtml(item.approveLabel)}</button></form>`,
    );
  }
  if (!expired && item.rejectable) {
    forms.push(
      `<form method="post" action="/reject" class="reject">${hidden("csrf", input.csrf)}${hidden("id", item.id)}` +
        `<label>Reason <input type="text" name="reason" required maxlength="${MAX_REASON}" autocomplete="off" spellcheck="false"></label> ` +
        `<button type="submit" class="reject">Reject</button></form>`,
    );
  }
  if (!expired && !item.approvable && item.rejectable) forms.unshift('<p class="note">It cannot be approved as it stands (the text above says why); it can be rejected.</p>');
  return (
    `<article id="item-${a}" class="${item.kind}${expired ? " expired" : ""}" data-id="${a}">` +
    `<h2>${item.kind === "action" ? "Action request" : "Roll-out"} ${a}</h2>` +
    countdown(item, input.now) +
    `<pre class="summary">${escapeHtml(item.lines.join("\n"))}</pre>` +
    forms.join("") +
    "</article>"
  );
}

// Long lines wrap (a continuation starts at the left edge, unlike every indented line of the
// summary) instead of scrolling: nothing of what is signed is hidden past the edge of the box.
const STYLE = `
body { font-family: system-ui, sans-serif; margin: 1.5rem; max-width: 150ch; color: #111; background: #fff; }
header p { margin: 0.2rem 0; }
pre { background: #f4f4f4; border: 1px solid #ccc; padding: 0.75rem; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.85rem; line-height: 1.35; }
article { border-top: 2px solid #888; margin-top: 1.5rem; padding-top: 0.5rem; }
article.expired { opacity: 0.65; }
.countdown { font-weight: bold; }
.countdown .at { font-weight: normal; color: #555; }
.expired .countdown { color: #a00; }
form { display: inline-block; margin: 0.25rem 1rem 0.25rem 0; vertical-align: top; }
input[type=text] { width: 40ch; }
button.approve { background: #0b6b2f; color: #fff; border: 0; padding: 0.45rem 0.9rem; font-weight: bold; }
button.approve:disabled { background: #999; }
button.reject { background: #8a1010; color: #fff; border: 0; padding: 0.45rem 0.9rem; }
.flash { padding: 0.6rem; border: 1px solid; white-space: pre-wrap; font-family: monospace; }
.flash.ok { background: #e8f6ec; border-color: #0b6b2f; }
.flash.error { background: #fbeaea; border-color: #8a1010; }
.problems { color: #8a1010; }
`;

/** The countdown: rewrites each [data-expires] once a second; at zero, marks it expired and disables its approve button. */
const SCRIPT = `
(function () {
  function left(s) { var m = Math.floor(s / 60); return (m > 0 ? m + " min " : "") + (s % 60) + " s"; }
  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll("[data-expires]").forEach(function (el) {
      // Expired from the very second the server counts it so (now >= expiresAt), not a second early.
      var s = Number(el.getAttribute("data-expires")) - now;
      var item = el.closest("article");
      if (s > 0) { el.textContent = "expires in " + left(Math.ceil(s)); return; }
      el.textContent = "EXPIRED: it can no longer be approved";
      if (item) {
        item.classList.add("expired");
        item.querySelectorAll("button.approve").forEach(function (b) { b.disabled = true; b.textContent = "Expired: cannot be approved"; });
      }
    });
  }
  tick();
  setInterval(tick, 1000);
})();
`;

export function renderPage(input: PageInput): string {
  const n = escapeHtml(input.nonce);
  const body: string[] = [];
  body.push(
    "<header><h1>hostward: pending approvals</h1>",
    `<p>Approving signs with ${escapeHtml(input.approver)}; the key stays in the <code>hostward approvals</code> process (or ssh-agent), never in this page.</p>`,
    `<pre class="signer">${escapeHtml(input.signer)}</pre>`,
    `<p>Broker configuration: <code>${escapeHtml(input.configDir)}</code>. Page made at ${escapeHtml(iso(input.now))}. <a href="/">Reload</a> to see new proposals.</p></header>`,
  );
  if (input.flash) body.push(`<p role="status" class="flash ${input.flash.kind}">${escapeHtml(input.flash.text)}</p>`);
  if (input.problems.length > 0) {
    body.push(`<div class="problems"><p>${input.problems.length} record(s) could not be read:</p><ul>${input.problems.slice(0, 20).map((p) => `<li>${escapeHtml(p)}</li>`).join("")}</ul></div>`);
  }
  body.push(`<section id="pending"><h2>Pending (${input.pending.length})</h2>`);
  if (input.cut) body.push(`<p>Showing the ${input.cut.shown} newest of ${input.cut.total}; approve or reject some, then reload.</p>`);
  if (input.pending.length === 0) body.push('<p class="empty">Nothing is waiting for approval.</p>');
  for (const item of input.pending) body.push(article(item, input, false));
  body.push("</section>");
  if (input.expired.length > 0) {
    body.push(`<section id="expired"><h2>Expired in the last hour (${input.expired.length})</h2><p>These can no longer be approved: ask for a new proposal.</p>`);
    for (const item of input.expired) body.push(article(item, input, true));
    body.push("</section>");
  }
  return (
    "<!DOCTYPE html>\n" +
    `<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="same-origin">` +
    `<title>hostward approvals (${input.pending.length} pending)</title><style nonce="${n}">${STYLE}</style></head>` +
    `<body>${body.join("\n")}<script nonce="${n}">${SCRIPT}</script></body></html>\n`
  );
}

/** A short page for a refusal or a used link (no form, no script). */
export function messagePage(title: string, text: string, nonce: string): string {
  return (
    "<!DOCTYPE html>\n" +
    `<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="same-origin"><title>${escapeHtml(title)}</title>` +
    `<style nonce="${escapeHtml(nonce)}">body { font-family: system-ui, sans-serif; margin: 1.5rem; max-width: 80ch; }</style></head>` +
    `<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>\n`
  );
}
