// The broker's MCP Apps view: the approval view (ui://hostward/approval), which propose_action's
// result links. Its HTML is one self-contained document (script and style inline, a strict CSP,
// no network) that scripts/build-views.mjs bundles from broker/app/ with esbuild and defines into
// the broker bundle; sdk.ts serves it with the MCP Apps MIME type and an empty CSP allowlist.
// The view gets its data through the MCP Apps protocol (the host hands it propose_action's
// result) and decides through approve_in_app (tools/actions.ts), never by URL.

declare const HOSTWARD_APPROVAL_VIEW: string | undefined;

export const APPROVAL_VIEW_URI = "ui://hostward/approval";

/** The view's HTML, or undefined in a broker run from source (not bundled by scripts/build.mjs). */
export function approvalViewHtml(): string | undefined {
  return typeof HOSTWARD_APPROVAL_VIEW === "string" ? HOSTWARD_APPROVAL_VIEW : undefined;
}
