// tools/list as an MCP client sees it: one tool per catalog diagnostic (generic over the catalog),
// with input/output schemas and honest annotations, plus the fleet tools. Through the built
// broker and the SDK's real client over stdio.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diagnostics } from "../../proto/catalog/diagnostics/index";
import { catalogHash } from "../../proto/catalog/hash";
import { TOOL_SCHEMAS } from "../../broker/src/mcp/tool-schemas.gen";
import { createTestPki } from "../support/pki";
import { createBrokerDir } from "./helpers/broker-dir";
import { connectBroker, type BrokerSession } from "./helpers/mcp-client";

type ListedTool = Awaited<ReturnType<BrokerSession["client"]["listTools"]>>["tools"][number];

let dir: string;
let session: BrokerSession;
let tools: ListedTool[];
let bd: ReturnType<typeof createBrokerDir>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hw-tools-"));
  const pki = await createTestPki(join(dir, "pki"));
  bd = createBrokerDir(join(dir, "cfg"), pki);
  bd.writeHosts([{ name: "web1", port: 9 }]);
  bd.writePolicy([]);
  session = await connectBroker(bd.dir, dir);
  tools = (await session.client.listTools()).tools;
});

afterAll(async () => {
  await session?.close();
  rmSync(dir, { recursive: true, force: true });
});

const FLEET = ["list_hosts", "describe_host", "ping_hosts", "plan", "reload_config", "compare_hosts"];
const ACTION_TOOLS = ["propose_action", "get_action", "list_actions", "cancel_action", "execute_action"];
const ROLLOUT_TOOLS = ["propose_rollout", "execute_rollout", "get_rollout", "cancel_rollout"];
/** MCP Apps tools (visibility ["app"]): hosts offer them to their views, not to the model. */
const APP_TOOLS = ["approve_in_app"];

describe("tools/list", () => {
  it("lists every catalog diagnostic and the fleet tools, once each", () => {
    const names = tools.map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.sort()).toEqual([...diagnostics.map((d) => d.name), ...FLEET, ...ACTION_TOOLS, ...ROLLOUT_TOOLS, ...APP_TOOLS].sort());
  });

  it.each(diagnostics.map((d) => [d.name, d] as const))("%s: schemas and annotations from the catalog", (name, def) => {
    const tool = tools.find((t) => t.name === name)!;
    expect(tool.title).toBe(def.title);
    expect(tool.description).toContain(def.summary);
    expect(tool.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: def.openWorld ?? false });
    const input = tool.inputSchema as { type: string; properties: Record<string, { type?: string; description?: string }>; required?: string[]; additionalProperties?: boolean };
    expect(input.type).toBe("object");
    expect(input.additionalProperties).toBe(false);
    expect(input.properties.target).toMatchObject({ type: "string" });
    expect(input.properties.target?.description).toContain("tag:NAME");
    expect(input.required).toContain("target");
    for (const key of Object.keys(def.input.shape)) expect(input.properties).toHaveProperty(key);
    expect(input.properties.view).toEqual({ type: "string", enum: ["summary", "hosts"] });
    expect(input.properties.page).toMatchObject({ type: "string" });
    expect(input.required).not.toContain("view");
    const output = tool.outputSchema as { properties: Record<string, { items?: { properties: Record<string, unknown> } }> };
    expect(Object.keys(output.properties)).toEqual(expect.arrayContaining(["results", "summary", "fleet", "page"]));
    expect(Object.keys(output.properties.results!.items!.properties)).toEqual(expect.arrayContaining(["host", "ok", "data", "error"]));
  });

  it("network probes say they reach beyond the host", () => {
    const open = tools.filter((t) => t.annotations?.openWorldHint).map((t) => t.name);
    expect(open.sort()).toEqual(diagnostics.filter((d) => d.openWorld).map((d) => d.name).sort());
  });

  it("action tools: only get/list are read-only, only execute_action is destructive, none the model is offered approves", () => {
    for (const name of ACTION_TOOLS) {
      const t = tools.find((x) => x.name === name)!;
      expect(t.outputSchema).toBeDefined();
      expect(t.annotations).toMatchObject({
        readOnlyHint: name === "get_action" || name === "list_actions",
        destructiveHint: name === "execute_action",
        openWorldHint: false,
      });
    }
    // The approval view's button (mcp-apps.test.ts): app-only, gated like the approval dialog.
    const approving = tools.filter((t) => /approve|reject/.test(t.name));
    expect(approving.map((t) => [t.name, (t._meta?.ui as { visibility?: string[] } | undefined)?.visibility])).toEqual([["approve_in_app", ["app"]]]);
  });

  it("roll-out tools: only get_rollout is read-only, only execute_rollout destructive; none approves", () => {
    for (const name of ROLLOUT_TOOLS) {
      const t = tools.find((x) => x.name === name)!;
      expect(t.outputSchema, name).toBeDefined();
      expect(t.annotations, name).toMatchObject({ readOnlyHint: name === "get_rollout", destructiveHint: name === "execute_rollout", openWorldHint: false });
    }
  });

  it("fleet tools: read-only except reload_config, none open-world", () => {
    for (const name of FLEET) {
      const t = tools.find((x) => x.name === name)!;
      expect(t.outputSchema).toBeDefined();
      expect(t.annotations).toMatchObject({ readOnlyHint: name !== "reload_config", openWorldHint: false, destructiveHint: false });
    }
  });
});

// issue 13 part 5: tools/list is read in every conversation. Its schemas come from the generated
// module (prepared at build time) and its size has a budget, so growth is a decision, not drift.
describe("tools/list size and source", () => {
  /**
   * Bytes of the tools/list result as JSON. Was 161,554 before issue 13 (the same paragraph in 32
   * descriptions, a described per-host envelope, $schema and safe-integer bounds everywhere);
   * raise it only for something a model needs — each new action adds its branch to propose_action
   * (113,611 with the 7 actions; 121,906 with the 18 of issue 13 and the preview in action views).
   * Issue 14 added answers sized for a fleet: `view` and `page` in the input of every diagnostic
   * and of ping_hosts, `fleet` and `page` in their output (~150 bytes each, 33 tools) and
   * compare_hosts (2,141): 121,827 → 128,919, so the budget grew by 7,000. The roll-out tools
   * (propose/execute/get/cancel_rollout; propose_rollout takes `params` as an object checked
   * server-side rather than repeating propose_action's 18-branch union) and the fixes of the same
   * change: → 134,881, so 136,000. Issue 15's approval view (MCP Apps): propose_action's
   * `_meta.ui` and `appApproval` (the view's offer and digest), and the app-only approve_in_app
   * that hosts do not offer the model but list: → 136,763, so 138,000. Issue 16's
   * get_agent_metrics (a host agent's own counters, as a diagnostic rather than a listening port
   * or a file: the shared per-host envelope is most of its
   * ~2,100 bytes: 140,194 with its first wording, under 140,000 trimmed), so 141,000.
   */
  const BUDGET_BYTES = 141_000;

  it(`stays within ${BUDGET_BYTES} bytes, every tool keeping its output schema and annotations`, () => {
    const bytes = Buffer.byteLength(JSON.stringify({ tools }));
    expect(bytes).toBeLessThanOrEqual(BUDGET_BYTES);
    for (const t of tools) {
      expect(t.outputSchema, t.name).toBeDefined();
      expect(Object.keys(t.annotations ?? {}), t.name).toEqual(expect.arrayContaining(["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"]));
    }
  });

  it("advertises the schemas of tool-schemas.gen.ts, one entry per tool", () => {
    expect(Object.keys(TOOL_SCHEMAS).sort()).toEqual(tools.map((t) => t.name).sort());
    for (const t of tools) {
      expect(t.inputSchema, t.name).toEqual(TOOL_SCHEMAS[t.name]!.input);
      expect(t.outputSchema, t.name).toEqual(TOOL_SCHEMAS[t.name]!.output);
    }
  });

  it("the bundle's catalog hash, defined at build time, is the one the catalog computes", () => {
    const start = bd.audit().find((r) => r.event === "broker.start")!;
    expect(start.catalogHash).toBe(catalogHash(diagnostics));
  });

  it("says once, in the server's instructions, what the descriptions no longer repeat", () => {
    const instructions = session.client.getInstructions() ?? "";
    for (const said of ["tag:NAME", "one result per host", "POLICY_DENIED", "nextCursor", "truncated", "view", "summary", "outliers", "MAD", "page", "compare_hosts"]) {
      expect(instructions).toContain(said);
    }
    for (const t of tools) expect(t.description, t.name).not.toContain("Runs on the hosts selected by");
  });
});
