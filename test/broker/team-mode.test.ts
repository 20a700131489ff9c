// Team mode (issue 16 part 3, "people, not tokens"): `hostward pki issue-user` gives each person a
// token kept only as a hash; the BUILT broker's `serve --http` (a real socket, the SDK's real HTTP
// client) knows who each call is from: the audit records name the user, policy rules name users and
// groups, the proposal's requester ends in the user's name, and the real host helper (a real
// operator agent, direct mode) refuses the approval of a key whose identity is the requester's.
import type { ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { userTokenHash } from "../../broker/src/config/users";
import { configFiles } from "../../broker/src/paths";
import { parseApproverLine, parseOpenSshPrivateKey } from "../../proto/catalog/approval";
import type { Approver } from "../actions/support";
import type { TestAgent } from "../support/agent";
import { runCli } from "./actions/cli-support";
import { startOperatorFleet } from "./actions/operator-fleet";
import { brokerEnv, spawnHttpBroker, type BrokerDir } from "./helpers/broker-dir";

interface ToolResult {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content: Array<{ type: string; text?: string }>;
}

const OS_USER = userInfo().username;
const text = (r: ToolResult) => r.content.map((c) => c.text ?? "").join("\n");

let root: string;
let bd: BrokerDir;
let operator: TestAgent;
let stdio: Client;
let http: { child: ChildProcess; url: string; stderr: () => string };
const tokens: Record<string, string> = {};
const keyFiles: Record<string, string> = {};
const approvers: Record<string, Approver> = {};

/** An approver key whose line names its person, made by the real `hostward pki approver-key --identity`. */
async function approver(name: string): Promise<Approver> {
  const out = join(root, "keys");
  const made = await runCli(["pki", "approver-key", name, "--identity", name, "--max-impact", "MEDIUM", "--out", out], { HOME: root });
  expect(made.code, made.stderr).toBe(0);
  const line = made.stdout.trim();
  expect(line).toMatch(new RegExp(`^max-impact="MEDIUM",identity="${name}" ssh-ed25519 \\S+ ${name}$`));
  keyFiles[name] = join(out, name);
  return { privateKey: parseOpenSshPrivateKey(readFileSync(keyFiles[name], "utf8")).privateKey, keyId: parseApproverLine(line).keyId, line };
}

async function issue(name: string, ...flags: string[]): Promise<string> {
  const r = await runCli(["pki", "issue-user", name, ...flags, "--config", bd.dir], { HOME: root });
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toContain("shown once");
  return r.stdout.trim();
}

async function connect(token: string, name = "team-test"): Promise<Client> {
  const client = new Client({ name, version: "1.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(http.url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  return client;
}

async function as<T>(token: string, run: (call: (name: string, args: Record<string, unknown>) => Promise<ToolResult>) => Promise<T>): Promise<T> {
  const client = await connect(token);
  try {
    return await run(async (name, args) => (await client.callTool({ name, arguments: args })) as ToolResult);
  } finally {
    await client.close();
  }
}

const INIT = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } } };

function raw(authorization: string | undefined): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const u = new URL(http.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...(authorization && { authorization }) } },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(INIT));
  });
}

async function startHttp(): Promise<typeof http> {
  // No HOSTWARD_HTTP_TOKEN: team mode, every caller is a person.
  const { child, url, stderr } = await spawnHttpBroker(bd.dir, brokerEnv(root));
  return { child, url, stderr };
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "hw-team-"));
  approvers.alice = await approver("alice");
  approvers.bob = await approver("bob");
  ({ operator, bd, client: stdio } = await startOperatorFleet({
    root,
    approvers: [approvers.alice, approvers.bob],
    policy: [
      { target: "web1", allow: ["get_load"] },
      // Only the on-call group may propose a restart; only the OS user running a stdio broker may propose a reload.
      { target: "web1", allow: ["restart_service"], groups: ["oncall"] },
      { target: "web1", allow: ["reload_service"], users: [OS_USER] },
      // Hosts tagged db are diagnosable by the on-call group only (so only they see them).
      { target: "tag:db", allow: ["get_load"], groups: ["oncall"] },
    ],
    clientName: "team-stdio",
  }));
  // The approver lines where `hostward pki approver-key` puts them by default (the CA's directory).
  const lines = join(configFiles(bd.dir).pkiDir, "approvers");
  mkdirSync(lines, { recursive: true });
  for (const name of ["alice", "bob"]) copyFileSync(join(root, "keys", `${name}.approver`), join(lines, `${name}.approver`));
  bd.writeHosts([{ name: "web1", port: 9, operatorPort: operator.port }, { name: "db1", port: 9, tags: ["db"] }]);
  tokens.alice = await issue("alice", "--group", "oncall");
  tokens.bob = await issue("bob", "--group", "dev");
  tokens.carol = await issue("carol", "--expires", "1");
  // carol's token has expired since (the file is the users file: edit her line's expiry into the past).
  const file = configFiles(bd.dir).users;
  writeFileSync(file, readFileSync(file, "utf8").replace(/("name":"carol".*"expires":")[^"]+"/, (_m, head: string) => `${head}2020-01-01T00:00:00.000Z"`), { mode: 0o600 });
  http = await startHttp();
}, 60_000);

afterAll(async () => {
  await stdio?.close();
  if (http) {
    http.child.kill("SIGTERM");
    await new Promise((resolve) => http.child.once("exit", resolve));
  }
  await operator?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe("tokens per person, issued by hostward pki, kept as hashes", () => {
  it("two people get two different tokens; users.jsonl is 0600 and holds their hashes, never a token", async () => {
    expect(tokens.alice).toMatch(/^hw_u_[A-Za-z0-9_-]{43}$/);
    expect(tokens.bob).toMatch(/^hw_u_[A-Za-z0-9_-]{43}$/);
    expect(tokens.alice).not.toBe(tokens.bob);
    const file = configFiles(bd.dir).users;
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = readFileSync(file, "utf8");
    for (const name of ["alice", "bob", "carol"]) {
      expect(stored).not.toContain(tokens[name]!);
      expect(stored).not.toContain(tokens[name]!.slice(5)); // nor its random part
      expect(stored).toContain(userTokenHash(tokens[name]!)); // positive control: the line is there
    }
    expect(stored).toContain('"expires":"2020-01-01T00:00:00.000Z"');
    const listed = await runCli(["pki", "users", "--config", bd.dir], { HOME: root });
    expect(listed.stdout).toMatch(/^alice\tgroups: oncall\t/m);
    expect(listed.stdout).toMatch(/^carol\t.*EXPIRED 2020/m);
    expect(listed.stdout).not.toContain(userTokenHash(tokens.alice!));
  });

  it("a name already there is refused; a name outside the grammar is refused", async () => {
    const again = await runCli(["pki", "issue-user", "alice", "--config", bd.dir], { HOME: root });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already has a user "alice"');
    expect(again.stdout).toBe("");
    const bad = await runCli(["pki", "issue-user", "al:ice", "--config", bd.dir], { HOME: root });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("user name is not valid");
    const badGroup = await runCli(["pki", "issue-user", "dave", "--group", "On Call", "--config", bd.dir], { HOME: root });
    expect(badGroup.code).toBe(2);
    expect(badGroup.stderr).toContain("group is not valid");
  });

  it("team mode: no shared token is generated", () => {
    expect(http.stderr()).toContain("team mode: 3 user token(s)");
    expect(existsSync(join(bd.stateDir, "http-token"))).toBe(false);
  });
});

describe("the HTTP transport knows each person", () => {
  it("each call's audit record names its user (and no token label)", async () => {
    for (const name of ["alice", "bob"]) await as(tokens[name]!, (call) => call("get_load", { target: "web1" }));
    const calls = bd.audit().filter((r) => r.event === "tool.call" && r.tool === "get_load" && (r.caller as { transport: string }).transport === "http");
    expect(calls.map((r) => (r.caller as { user?: string }).user)).toEqual(["alice", "bob"]);
    for (const r of calls) expect(r.caller).not.toHaveProperty("token");
  });

  it("a wrong, an expired, a missing token → 401 with a Bearer challenge; the expiry is named, never the token; nothing is audited", async () => {
    const before = bd.audit().length;
    const wrong = await raw(`Bearer hw_u_${"A".repeat(43)}`);
    expect(wrong.status).toBe(401);
    expect(wrong.headers["www-authenticate"]).toMatch(/^Bearer/);
    const expired = await raw(`Bearer ${tokens.carol}`);
    expect(expired.status).toBe(401);
    expect(expired.headers["www-authenticate"]).toMatch(/^Bearer/);
    expect((JSON.parse(expired.body) as { error: { message: string } }).error.message).toContain('the token of user "carol" expired at 2020-01-01T00:00:00.000Z');
    expect(expired.body).not.toContain(tokens.carol!.slice(5));
    expect((await raw(undefined)).status).toBe(401);
    // Positive control: alice's token is served.
    expect((await raw(`Bearer ${tokens.alice}`)).status).toBe(200);
    // Refusals are logged, not audited (anyone who reaches the port could grow the chain).
    expect(bd.audit().slice(before).filter((r) => r.event !== "broker.start")).toEqual([]);
  });
});

describe("policy rules name users and groups", () => {
  it("group oncall: alice may propose restart_service on web1, bob is refused naming the rule", async () => {
    const bob = await as(tokens.bob!, (call) => call("propose_action", { target: "web1", request: { action: "restart_service", unit: "nginx" }, reason: "nginx is failed" }));
    expect(bob.isError).toBe(true);
    expect(text(bob)).toContain('restart_service is not allowed on web1 for user "bob" (no rule allows it: rule 2 allows it only for groups "oncall")');
    const decision = bd.audit().findLast((r) => r.event === "policy.decision" && r.tool === "restart_service");
    expect(decision).toMatchObject({ decision: "deny", rule: null });
    // describe_host says the same per person.
    const seen = await as(tokens.bob!, (call) => call("describe_host", { name: "web1" }));
    expect(seen.structuredContent!.allowedTools).not.toContain("restart_service");
    const aliceSees = await as(tokens.alice!, (call) => call("describe_host", { name: "web1" }));
    expect(aliceSees.structuredContent!.allowedTools).toContain("restart_service");
    expect(aliceSees.structuredContent!.allowedTools).not.toContain("reload_service");
  });

  it("stdio's caller is the OS user: recorded in the audit, matched by users:, and the requester's last part", async () => {
    const seen = (await stdio.callTool({ name: "describe_host", arguments: { name: "web1" } })) as ToolResult;
    expect(seen.structuredContent!.allowedTools).toContain("reload_service");
    expect(seen.structuredContent!.allowedTools).not.toContain("restart_service");
    const rec = bd.audit().findLast((r) => r.tool === "describe_host" && (r.caller as { transport: string }).transport === "stdio");
    expect(rec?.caller).toMatchObject({ transport: "stdio", user: OS_USER });
    const proposed = (await stdio.callTool({ name: "propose_action", arguments: { target: "web1", request: { action: "reload_service", unit: "nginx" }, reason: "config changed" } })) as ToolResult;
    expect(proposed.isError, text(proposed)).toBeFalsy();
    // The person is the requester's last part over stdio too: four eyes means another person there as well.
    expect(proposed.structuredContent!.requester).toBe(`mcp:stdio:team-stdio/1.0:${OS_USER}`);
  });
});

describe("what each person sees (resources, per caller)", () => {
  it("db1 is listed and readable for alice (oncall), not for bob, naming him", async () => {
    const listed = async (token: string) => {
      const client = await connect(token);
      try {
        const { resources } = await client.listResources();
        const read = await client.readResource({ uri: "hostward://hosts/db1" }).then(
          (r) => ({ ok: true as const, text: JSON.stringify(r.contents) }),
          (err: Error) => ({ ok: false as const, text: err.message }),
        );
        return { uris: resources.map((r) => r.uri), read };
      } finally {
        await client.close();
      }
    };
    const alice = await listed(tokens.alice!);
    const bob = await listed(tokens.bob!);
    expect(alice.uris).toEqual(expect.arrayContaining(["hostward://hosts/web1", "hostward://hosts/db1"]));
    expect(bob.uris).toContain("hostward://hosts/web1");
    expect(bob.uris).not.toContain("hostward://hosts/db1");
    expect(alice.read.ok).toBe(true);
    expect(bob.read).toMatchObject({ ok: false });
    expect(bob.read.text).toContain('host "db1": policy allows no diagnostic there for user "bob"');
  });
});

describe("four eyes are two people", () => {
  it("alice's proposal approved with alice's own key is refused by the host (SELF_APPROVAL); approved with bob's it passes every approval check", async () => {
    const propose = () => as(tokens.alice!, (call) => call("propose_action", { target: "web1", request: { action: "restart_service", unit: "nginx" }, reason: "nginx is failed" }));
    const own = await propose();
    expect(own.isError, text(own)).toBeFalsy();
    const id = own.structuredContent!.id as string;
    // A 2025-era HTTP client is served statelessly (its clientInfo was in initialize only); the last ":" part is the person.
    expect(own.structuredContent!.requester).toBe("mcp:http:unknown-client:alice");

    const signed = await runCli(["approve", id, "--key", keyFiles.alice!, "--yes", "--config", bd.dir], { HOME: root });
    expect(signed.code, signed.stderr).toBe(0);
    // The approval record names the approver's person, from the key's approver line.
    expect(bd.audit().findLast((r) => r.event === "action.approved" && r.actionId === id)).toMatchObject({ approverIdentity: "alice", keyId: approvers.alice!.keyId });
    const refused = await as(tokens.alice!, (call) => call("execute_action", { id }));
    // The real helper on the host refuses it, naming the person.
    expect(refused.structuredContent).toMatchObject({ verdict: "FAILED", error: { code: "PERMISSION_DENIED" } });
    expect((refused.structuredContent!.error as { message: string }).message).toMatch(/helper refused \(SELF_APPROVAL, exit 95\): key \S+ belongs to "alice", who requested this action/);

    // Negative control: the same proposal approved by bob gets past the four-eyes check (this
    // machine has no systemd: the helper's pre-check then stops it).
    const other = await propose();
    const otherId = other.structuredContent!.id as string;
    const byBob = await runCli(["approve", otherId, "--key", keyFiles.bob!, "--yes", "--config", bd.dir], { HOME: root });
    expect(byBob.code, byBob.stderr).toBe(0);
    expect(bd.audit().findLast((r) => r.event === "action.approved" && r.actionId === otherId)).toMatchObject({ approverIdentity: "bob" });
    const ran = await as(tokens.alice!, (call) => call("execute_action", { id: otherId }));
    expect(text(ran)).not.toContain("SELF_APPROVAL");
    expect(text(ran)).toContain("systemd is not running");
  }, 60_000);
});

describe("revocation", () => {
  it("a revoked user's next request after a reload is refused; the others keep working", async () => {
    expect((await raw(`Bearer ${tokens.bob}`)).status).toBe(200);
    const revoked = await runCli(["pki", "revoke-user", "bob", "--config", bd.dir], { HOME: root });
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(readFileSync(configFiles(bd.dir).users, "utf8")).not.toContain('"name":"bob"');
    http.child.kill("SIGHUP");
    const deadline = Date.now() + 10_000;
    while (!bd.audit().some((r) => r.event === "config.reload" && r.via === "SIGHUP" && r.outcome === "OK")) {
      if (Date.now() > deadline) throw new Error(`no reload audited:\n${http.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(bd.audit().findLast((r) => r.event === "config.reload")).toMatchObject({ changes: { usersRemoved: ["bob"], usersAdded: [] } });
    expect((await raw(`Bearer ${tokens.bob}`)).status).toBe(401);
    expect((await raw(`Bearer ${tokens.alice}`)).status).toBe(200);
  });
});
