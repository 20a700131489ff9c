// The approval view (MCP Apps, ui://hostward/approval): runs in the host's sandboxed iframe,
// bundled by scripts/build-views.mjs into one HTML document with a strict CSP (no network, no
// eval, only this script and its style). It shows the request a human decides on — from the
// broker's own answer to propose_action, which the host hands it (ui/notifications/tool-result),
// never from the model's arguments (tool-input) — and its buttons call approve_in_app through the
// host, which the broker gates exactly like its approval dialog.
//
// Every value is written with textContent (never as HTML) and escaped as in the terminal
// (shared/printable.ts): identifiers ASCII-only, free text with controls, bidi overrides and
// invisible characters shown as \uXXXX. The reason is the model's own words and is shown last,
// in a box that says so.
import { App, PostMessageTransport, applyDocumentTheme, type McpUiHostContext } from "@modelcontextprotocol/ext-apps";
import { z } from "zod";
import { canonicalJson } from "../../shared/canonical-json";
import { printable } from "../../shared/printable";

/** The fields of propose_action's answer the view reads (broker/src/mcp/tools/actions.ts proposeOutput). */
const proposal = z.object({
  id: z.string().regex(/^act-[0-9a-f]{12}$/),
  state: z.string(),
  host: z.string(),
  action: z.string(),
  params: z.record(z.string(), z.unknown()),
  impact: z.string(),
  requester: z.string(),
  expiresAt: z.string(),
  reason: z.string().optional(),
  preview: z.array(z.string()).optional(),
  runs: z.array(z.string()).optional(),
  howToApprove: z.string().optional(),
  appApproval: z.object({ offered: z.boolean(), why: z.string().optional(), shown: z.string() }).optional(),
});
type Proposal = z.infer<typeof proposal>;

const decided = z.object({ id: z.string(), state: z.string(), outcome: z.enum(["approved", "rejected"]) });

const id = (text: string) => printable(text, { ascii: true });
const free = (text: string) => printable(text);

/** An element with text children only (strings become Text nodes: nothing is parsed as HTML). */
function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: { class?: string; testid?: string } = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (attrs.class) e.className = attrs.class;
  if (attrs.testid) e.dataset.testid = attrs.testid;
  for (const c of children) e.append(c);
  return e;
}

const root = document.getElementById("view")!;
const app = new App({ name: "hostward-approval-view", version: "1" }, {}, { autoResize: true });

function show(...nodes: Node[]): void {
  root.replaceChildren(...nodes);
}

function message(text: string, kind: "info" | "error" = "info"): HTMLElement {
  return el("p", { class: `message ${kind}`, testid: "message" }, text);
}

function field(name: string, value: string, testid: string): HTMLElement[] {
  return [el("dt", {}, name), el("dd", { testid }, value)];
}

function lines(items: readonly string[], prefix: string, testid: string, none: string): HTMLElement {
  if (items.length === 0) return el("p", { class: "none", testid }, none);
  return el("ul", { class: "lines", testid }, ...items.map((line) => el("li", {}, `${prefix}${line}`)));
}

function expiry(p: Proposal): string {
  const at = Date.parse(p.expiresAt);
  if (Number.isNaN(at)) return id(p.expiresAt);
  const minutes = Math.round((at - Date.now()) / 60_000);
  return `${id(p.expiresAt)} (${minutes > 0 ? `in ${minutes} min` : "passed"}; the approval is valid until then, once)`;
}

function render(p: Proposal): void {
  const state = el("span", { class: `state state-${id(p.state).toLowerCase()}`, testid: "state" }, id(p.state));
  const details = el(
    "dl",
    { class: "fields" },
    ...field("host", id(p.host), "host"),
    ...field("action", id(p.action), "action"),
    ...field("params", id(canonicalJson(p.params)), "params"),
    ...field("impact", id(p.impact), "impact"),
    ...field("requester", id(p.requester), "requester"),
    ...field("expires", expiry(p), "expires"),
  );
  const preview = el(
    "section",
    {},
    el("h2", {}, "What it touches, from the host's facts"),
    el("p", { class: "note" }, '"quoted": text the host reported, not verified'),
    lines((p.preview ?? []).map(free), "", "preview", "(no impact preview: it cannot be approved; propose it again)"),
  );
  const plan = el("section", {}, el("h2", {}, "Runs on the host, in order"), lines((p.runs ?? []).map(id), "$ ", "runs", "(nothing: no step of the plan applies on this host)"));
  // The model's words: last, in their own box, as text.
  const reason = el(
    "section",
    { class: "reason", testid: "reason-box" },
    el("h2", {}, "The model's words"),
    el("p", { class: "note" }, "Its stated reason for asking. Not verified; it changes nothing of the above."),
    el("blockquote", { testid: "reason" }, free(p.reason ?? "(none)")),
  );
  const decision = el("section", { class: "decision", testid: "decision" });
  show(
    el("header", {}, el("h1", {}, `Action request ${id(p.id)} `, state)),
    el("p", { class: "note" }, "Nothing runs until it is approved and execute_action is called: once, on this host, before the expiry."),
    details,
    preview,
    plan,
    reason,
    decision,
  );
  renderDecision(p, decision, state);
}

function renderDecision(p: Proposal, box: HTMLElement, state: HTMLElement): void {
  const offered = p.state === "PENDING" && p.appApproval?.offered === true && Date.parse(p.expiresAt) > Date.now();
  const terminal = `Approve it in a terminal: hostward approve ${id(p.id)}`;
  if (!offered) {
    const why = p.state !== "PENDING" ? `it is ${id(p.state)}` : (p.appApproval?.why ?? (Date.parse(p.expiresAt) > Date.now() ? "the broker did not offer it" : "it has expired"));
    box.replaceChildren(
      el("p", { class: "readonly", testid: "read-only" }, `Read only: this view cannot decide it (${free(why)}).`),
      ...(p.state === "PENDING" ? [el("p", { class: "terminal", testid: "terminal" }, terminal), ...(p.howToApprove ? [el("p", { class: "note" }, free(p.howToApprove))] : [])] : []),
    );
    return;
  }
  const shown = p.appApproval!.shown;
  const approve = el("button", { class: "approve", testid: "approve" }, "Approve");
  const reject = el("button", { class: "reject", testid: "reject" }, "Reject");
  const why = el("input", { testid: "reject-reason" });
  why.type = "text";
  why.maxLength = 500;
  why.placeholder = "why it is rejected (optional)";
  const status = el("p", { class: "status", testid: "status" });
  const decide = async (yes: boolean) => {
    approve.disabled = reject.disabled = why.disabled = true;
    status.replaceChildren(yes ? "Signing the approval..." : "Rejecting...");
    const args: Record<string, unknown> = { id: p.id, approve: yes, shown };
    if (!yes && why.value.trim() !== "") args.reason = why.value.trim();
    try {
      const result = await app.callServerTool({ name: "approve_in_app", arguments: args });
      const out = decided.safeParse(result.structuredContent);
      if (result.isError || !out.success) {
        const text = result.content.map((c) => (c.type === "text" ? c.text : "")).join(" ");
        status.replaceChildren(message(free(text || "the broker refused it"), "error"));
        approve.disabled = reject.disabled = why.disabled = false;
        return;
      }
      state.textContent = id(out.data.state);
      state.className = `state state-${id(out.data.state).toLowerCase()}`;
      box.replaceChildren(
        message(
          out.data.outcome === "approved"
            ? `APPROVED, signed with the broker's dialog key. It runs when execute_action {"id":"${id(p.id)}"} is called, once, before the expiry.`
            : "REJECTED: it can never run.",
        ),
      );
      // Tell the model, where the host lets a view add to its context (it learns nothing it could not read with get_action).
      if (app.getHostCapabilities()?.updateModelContext) {
        await app
          .updateModelContext({ content: [{ type: "text", text: `The user ${out.data.outcome} action request ${p.id} in the approval view; it is ${out.data.state}.` }] })
          .catch(() => undefined);
      }
    } catch (err) {
      status.replaceChildren(message(`not sent: ${free((err as Error).message)}`, "error"));
      approve.disabled = reject.disabled = why.disabled = false;
    }
  };
  approve.addEventListener("click", () => void decide(true));
  reject.addEventListener("click", () => void decide(false));
  box.replaceChildren(
    el("p", { class: "ask" }, `Approve ${id(p.action)} on ${id(p.host)}? Your click is signed with the broker's dialog key (impact up to policy's elicitation.maxImpact).`),
    el("div", { class: "buttons" }, approve, reject, why),
    status,
  );
}

app.ontoolresult = (params) => {
  if (params.isError) {
    const text = (params.content ?? []).map((c) => (c.type === "text" ? c.text : "")).join(" ");
    show(message(`Not proposed: ${free(text)}`, "error"));
    return;
  }
  const p = proposal.safeParse(params.structuredContent);
  if (!p.success) {
    show(message("This result holds no action request the view can show.", "error"));
    return;
  }
  render(p.data);
};

const theme = (ctx: McpUiHostContext | undefined) => {
  if (ctx?.theme) applyDocumentTheme(ctx.theme);
};
app.onhostcontextchanged = (ctx) => theme(ctx);

show(message("Waiting for the broker's answer..."));
void app
  .connect(new PostMessageTransport(window.parent, window.parent))
  .then(() => theme(app.getHostContext()))
  .catch((err: unknown) => show(message(`cannot reach the host: ${free((err as Error).message)}`, "error")));
