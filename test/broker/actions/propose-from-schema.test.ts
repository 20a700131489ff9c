// issue 13 part 4, "the model's first proposal validates": arguments for propose_action written
// from the JSON Schema that tools/list advertises ALONE (test/support/schema-example.ts, no catalog
// import) are accepted for every action, through the BUILT broker and the SDK's real Client over
// stdio with a real operator agent (propose_action learns its key and asks its helper, in direct
// mode, for the impact preview): the broker and the agent accept every proposal's arguments; it is
// recorded PENDING, or refused only by the host for a host reason (the generated unit is not on its
// allowlist, there is no podman here …), never for its arguments. Generic over the catalog: a new
// action is a new union branch, and is covered here.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { actions } from "../../../proto/catalog/actions/index";
import { configFiles } from "../../../broker/src/paths";
import { startAgent, type TestAgent } from "../../support/agent";
import { createTestPki } from "../../support/pki";
import { HELPER_BUNDLE, makeApprover, makeHost } from "../../actions/support";
import { exampleFor, type JsonSchema } from "../../support/schema-example";
import { createBrokerDir } from "../helpers/broker-dir";
import { call, connectBroker, textOf, type BrokerSession } from "../helpers/mcp-client";

let root: string;
let operator: TestAgent;
let session: BrokerSession;
let branches: JsonSchema[];
let input: JsonSchema;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "hw-propose-schema-"));
  const bd = createBrokerDir(join(root, "cfg"), undefined);
  bd.writeBroker({ budgets: { proposalsPerSession: 1000, proposalsPerHour: 1000 } });
  const pki = await createTestPki(join(root, "pki"));
  const host = makeHost([makeApprover("HIGH")], "units: [nginx.service, unbound.service, caddy.service, worker.service, backup.service]\nreboot: true\njournal: true\npackageCache: true\n");
  operator = await startAgent({
    role: "operator",
    pki,
    dir: join(root, "operator"),
    config: { helper: { mode: "direct", path: HELPER_BUNDLE, approversDir: host.approversDir, stateDir: host.stateDir, actionsFile: host.actionsFile, agentCert: host.agentCert } },
  });
  bd.writeHosts([{ name: "web1", port: 9, operatorPort: operator.port }]);
  bd.writePolicy([{ target: "*", allow: ["group:actions"] }]);
  const files = configFiles(bd.dir);
  writeFileSync(files.caCert, pki.ca.cert);
  for (const role of ["reader", "operator"] as const) {
    writeFileSync(files.clientCert(role), pki.clients[role].cert);
    writeFileSync(files.clientKey(role), pki.clients[role].key, { mode: 0o600 });
  }
  session = await connectBroker(bd.dir, root);
  const tool = (await session.client.listTools()).tools.find((t) => t.name === "propose_action")!;
  input = tool.inputSchema as JsonSchema;
  const request = input.properties!.request!;
  branches = request.oneOf ?? request.anyOf ?? [];
});

afterAll(async () => {
  await session?.close();
  await operator?.stop();
  rmSync(root, { recursive: true, force: true });
});

/**
 * Accepted: recorded PENDING, or refused by the host's own preview for a host reason (after the
 * broker and the operator agent validated the arguments: neither said INVALID_ARGUMENT).
 */
function expectAccepted(r: Awaited<ReturnType<typeof call>>, what: string): "PENDING" | "host" {
  if (!r.isError) {
    expect(r.structuredContent, what).toMatchObject({ state: "PENDING" });
    return "PENDING";
  }
  expect(textOf(r), what).toMatch(/^not proposed: web1 could not preview \w+ .*the host's helper refused the preview \((NOT_ALLOWLISTED|BAD_REQUEST)\)/);
  expect(textOf(r), what).not.toMatch(/INVALID_ARGUMENT|invalid argument/);
  return "host";
}

const pending: string[] = [];

/** The action a branch is for: its `action` property's const. */
const actionOf = (branch: JsonSchema) => branch.properties?.action?.const as string;

describe("propose_action's advertised schema", () => {
  it("is an object at the top level (no top-level oneOf/anyOf, which clients refuse) with request a union of one branch per action", () => {
    expect(input.type).toBe("object");
    expect(input.oneOf ?? input.anyOf).toBeUndefined();
    expect(input.required).toEqual(expect.arrayContaining(["target", "request", "reason"]));
    expect(branches.map(actionOf)).toEqual(actions.map((a) => a.name));
  });

  it.each(actions.map((a) => [a.name]))("%s: arguments written from the schema alone are accepted and recorded PENDING", async (name) => {
    const branch = branches.find((b) => actionOf(b) === name)!;
    // The whole input from the schema, but `request` from this action's branch (a model picks one).
    const args = { ...(exampleFor({ ...input, properties: { ...input.properties, request: branch } }) as Record<string, unknown>), target: "web1" };
    const r = await call(session, "propose_action", args);
    if (expectAccepted(r, `${JSON.stringify(args)} → ${textOf(r)}`) === "PENDING") expect(r.structuredContent).toMatchObject({ action: name, host: "web1" });
  });

  it.each(actions.map((a) => [a.name]))("%s: the example the branch advertises is accepted too", async (name) => {
    const branch = branches.find((b) => actionOf(b) === name)!;
    for (const example of branch.examples ?? []) {
      const r = await call(session, "propose_action", { target: "web1", request: example, reason: "advertised example" });
      if (expectAccepted(r, `${JSON.stringify(example)} → ${textOf(r)}`) === "PENDING") pending.push(name);
    }
  });

  it("the advertised examples that this machine can preview are recorded PENDING (a positive control for the check above)", () => {
    // No systemd, podman, journal or package cache here; these need none of them or are allowlisted.
    expect(pending).toEqual(expect.arrayContaining(["restart_service", "flush_dns_cache", "rotate_logs", "reboot_system"]));
  });

  it("refuses a parameter of another action or an unknown action, naming the field under request", async () => {
    const unknown = await call(session, "propose_action", { target: "web1", request: { action: "format_disk" }, reason: "x" });
    expect(unknown.isError).toBe(true);
    expect(textOf(unknown)).toContain("request.action");
    const extra = await call(session, "propose_action", { target: "web1", request: { action: "flush_dns_cache", unit: "nginx" }, reason: "x" });
    expect(extra.isError).toBe(true);
    expect(textOf(extra)).toContain('"request.unit"');
  });
});
