// Broker configuration loading (broker/src/config): real files in a temporary directory; every
// problem reported as "FILE: field.path: what is wrong"; reload keeps the old config on error.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, loadBrokerConfig } from "../../broker/src/config/load";
import { ConfigStore } from "../../broker/src/config/store";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "hw-config-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const HOSTS = `hosts:
  - name: web1
    address: 10.0.0.1
    tags: [web, prod]
  - name: db1
    address: db1.example.org
    ports: {reader: 8443}
    certName: db1.internal
`;
const POLICY = `rules:
  - target: "*"
    allow: ["group:system", get_agent_info]
  - target: tag:web
    allow: [ping_hosts]
    deny: [get_load]
`;

function write(files: { hosts?: string; policy?: string; broker?: string }) {
  if (files.hosts !== undefined) writeFileSync(join(dir, "hosts.yaml"), files.hosts);
  if (files.policy !== undefined) writeFileSync(join(dir, "policy.yaml"), files.policy);
  if (files.broker !== undefined) writeFileSync(join(dir, "broker.yaml"), files.broker);
}

function problems(files: { hosts?: string; policy?: string; broker?: string }): string[] {
  write(files);
  try {
    loadBrokerConfig(dir);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("a valid directory", () => {
  it("loads with defaults applied", () => {
    write({ hosts: HOSTS, policy: POLICY });
    const c = loadBrokerConfig(dir);
    expect(c.hosts.map((h) => h.name)).toEqual(["web1", "db1"]);
    expect(c.hosts[0]).toEqual({ name: "web1", address: "10.0.0.1", ports: { reader: 7443, operator: 7444 }, tags: ["web", "prod"] });
    expect(c.hosts[1]).toMatchObject({ ports: { reader: 8443, operator: 7444 }, certName: "db1.internal", tags: [] });
    expect(c.policy.rules[0]).toEqual({ target: "*", allow: ["group:system", "get_agent_info"], deny: [] });
    expect(c.settings).toEqual({ fanout: { concurrency: 32, hostTimeoutMs: 10_000 }, maxOutputBytes: 262_144, approvalTtlSeconds: 900, audit: { lockWaitMs: 2_000 }, budgets: { proposalsPerSession: 20, proposalsPerHour: 60 }, notify: {}, metrics: { public: false } });
    expect(c.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it("reads broker.yaml when present", () => {
    write({ hosts: HOSTS, policy: POLICY, broker: `stateDir: ${dir}/state\nfanout: {concurrency: 4}\nmaxOutputBytes: 10000\n` });
    const c = loadBrokerConfig(dir);
    expect(c.settings).toEqual({ stateDir: `${dir}/state`, fanout: { concurrency: 4, hostTimeoutMs: 10_000 }, maxOutputBytes: 10_000, approvalTtlSeconds: 900, audit: { lockWaitMs: 2_000 }, budgets: { proposalsPerSession: 20, proposalsPerHour: 60 }, notify: {}, metrics: { public: false } });
  });

  it("accepts an empty inventory and an empty policy", () => {
    write({ hosts: "hosts: []\n", policy: "rules: []\n" });
    expect(loadBrokerConfig(dir).hosts).toEqual([]);
  });
});

describe("missing and unparsable files", () => {
  it("names the missing required files", () => {
    const p = problems({});
    expect(p).toEqual([`${join(dir, "hosts.yaml")}: cannot read: ENOENT`, `${join(dir, "policy.yaml")}: cannot read: ENOENT`]);
  });

  it("reports YAML syntax errors with the line", () => {
    const p = problems({ hosts: "hosts:\n  - name: [unclosed\n", policy: POLICY });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(new RegExp(`^${join(dir, "hosts.yaml")}: line \\d+, column \\d+: not valid YAML`));
  });

  it("refuses duplicate YAML keys", () => {
    const p = problems({ hosts: "hosts: []\nhosts: []\n", policy: POLICY });
    expect(p[0]).toContain("not valid YAML");
  });

  it("an empty hosts.yaml says hosts is required", () => {
    expect(problems({ hosts: "", policy: POLICY })).toEqual([`${join(dir, "hosts.yaml")}: hosts: Invalid input: expected array, received undefined`]);
  });
});

describe("hosts.yaml", () => {
  it("refuses unknown keys, naming them and where", () => {
    const p = problems({ hosts: "hosts:\n  - name: a\n    address: 10.0.0.1\n    adress: x\n", policy: "rules: []\n" });
    expect(p).toEqual([`${join(dir, "hosts.yaml")}: hosts.0: unknown key "adress"`]);
  });

  it("refuses unknown top-level keys", () => {
    expect(problems({ hosts: "hosts: []\nextra: 1\n", policy: "rules: []\n" })[0]).toBe(`${join(dir, "hosts.yaml")}: (top level): unknown key "extra"`);
  });

  it("refuses duplicate host names, pointing at both", () => {
    const p = problems({ hosts: "hosts:\n  - {name: a, address: 10.0.0.1}\n  - {name: b, address: 10.0.0.2}\n  - {name: a, address: 10.0.0.3}\n", policy: "rules: []\n" });
    expect(p).toEqual([`${join(dir, "hosts.yaml")}: hosts.2.name: duplicate host name "a" (first defined at hosts.0)`]);
  });

  it.each([
    ["name: -web", "hosts.0.name", "must start with a letter or digit"],
    ["name: 'web 1'", "hosts.0.name", "no spaces"],
    ["name: 'a,b'", "hosts.0.name", 'no spaces, ","'],
    ["name: 'tag:x'", "hosts.0.name", '":"'],
    ["name: '*'", "hosts.0.name", '"*"'],
  ])("refuses a bad host name (%s)", (line, field, message) => {
    const p = problems({ hosts: `hosts:\n  - ${line}\n    address: 10.0.0.1\n`, policy: "rules: []\n" });
    expect(p[0]).toContain(`hosts.yaml: ${field}: `);
    expect(p[0]).toContain(message);
  });

  it("refuses a bad address, port and tag", () => {
    const p = problems({
      hosts: "hosts:\n  - name: a\n    address: '-oProxyCommand=x'\n    ports: {reader: 70000}\n    tags: ['bad tag']\n",
      policy: "rules: []\n",
    });
    expect([...new Set(p.map((x) => x.split(": ")[1]))]).toEqual(["hosts.0.address", "hosts.0.ports.reader", "hosts.0.tags.0"]);
    expect(p[0]).toContain('must not start with "-"');
  });

  it("refuses a wrong type", () => {
    expect(problems({ hosts: "hosts:\n  - {name: a, address: 10.0.0.1, tags: web}\n", policy: "rules: []\n" })[0]).toContain(
      "hosts.0.tags: Invalid input: expected array, received string",
    );
  });
});

describe("policy.yaml", () => {
  it("refuses an unknown tool, naming the rule and position", () => {
    const p = problems({ hosts: HOSTS, policy: "rules:\n  - target: '*'\n    allow: [get_load, get_lod]\n" });
    expect(p).toEqual([`${join(dir, "policy.yaml")}: rules.0.allow.1: unknown tool "get_lod" (tools are listed in docs/catalog.md)`]);
  });

  it("refuses an unknown group in deny", () => {
    const p = problems({ hosts: HOSTS, policy: "rules:\n  - target: '*'\n    deny: ['group:disks']\n" });
    expect(p).toEqual([`${join(dir, "policy.yaml")}: rules.0.deny.0: unknown group "disks" (groups: system, services, network, logs, health, actions)`]);
  });

  it("refuses a rule naming a host not in the inventory", () => {
    const p = problems({ hosts: HOSTS, policy: "rules:\n  - target: web9\n    allow: ['*']\n" });
    expect(p).toEqual([`${join(dir, "policy.yaml")}: rules.0.target: unknown host "web9" (not in hosts.yaml)`]);
  });

  it("accepts a tag no host carries yet", () => {
    write({ hosts: HOSTS, policy: "rules:\n  - target: tag:future\n    allow: ['*']\n" });
    expect(loadBrokerConfig(dir).policy.rules).toHaveLength(1);
  });

  it("refuses malformed targets and tool references", () => {
    const p = problems({ hosts: HOSTS, policy: "rules:\n  - target: 'web1,db1'\n    allow: ['Get Load']\n" });
    expect(p).toEqual([
      `${join(dir, "policy.yaml")}: rules.0.target: target must be one host name, "tag:NAME" or "*"`,
      `${join(dir, "policy.yaml")}: rules.0.allow.0: must be a tool name (snake_case), "group:NAME" or "*"`,
    ]);
  });

  it("refuses unknown keys in a rule", () => {
    expect(problems({ hosts: HOSTS, policy: "rules:\n  - target: '*'\n    allows: ['*']\n" })).toEqual([`${join(dir, "policy.yaml")}: rules.0: unknown key "allows"`]);
  });

  it("checks tool names even when hosts.yaml is broken, reporting both files at once", () => {
    const p = problems({ hosts: "hosts: nope\n", policy: "rules:\n  - target: '*'\n    allow: [nope]\n" });
    expect(p).toHaveLength(2);
    expect(p[0]).toContain("hosts.yaml: hosts:");
    expect(p[1]).toContain('policy.yaml: rules.0.allow.0: unknown tool "nope"');
  });
});

describe("people: users.jsonl and policy's users/groups", () => {
  const HASH = "ab".repeat(32);
  const line = (o: Record<string, unknown>) => JSON.stringify({ name: "alice", groups: ["oncall"], sha256: HASH, created: "2026-01-01T00:00:00.000Z", ...o });

  it("loads users.jsonl (optional: absent is no users) and rules naming users and groups, even ones the file lacks", () => {
    write({ hosts: HOSTS, policy: `rules:\n  - {target: "*", allow: [get_load], users: [alice, carol@example.org], groups: [oncall, nobody-yet]}\n` });
    expect(loadBrokerConfig(dir).users).toEqual([]);
    writeFileSync(join(dir, "users.jsonl"), `# a comment\n${line({})}\n\n${line({ name: "bob", groups: [], sha256: "cd".repeat(32), expires: "2027-01-01T00:00:00Z" })}\n`);
    const c = loadBrokerConfig(dir);
    expect(c.users.map((u) => [u.name, u.groups, u.expires])).toEqual([["alice", ["oncall"], undefined], ["bob", [], "2027-01-01T00:00:00Z"]]);
    expect(c.policy.rules[0]).toMatchObject({ users: ["alice", "carol@example.org"], groups: ["oncall", "nobody-yet"] });
  });

  it("refuses bad users.jsonl lines, naming the line and the field", () => {
    writeFileSync(join(dir, "users.jsonl"), [line({}), "not json", line({ name: "-x" }), line({ name: "al:ice" }), line({ sha256: "xyz" }), line({}), line({ name: "eve", sha256: "ef".repeat(32), extra: 1 }), line({ name: "eve2", sha256: "12".repeat(32), groups: ["On Call"] })].join("\n"));
    const p = problems({ hosts: HOSTS, policy: POLICY });
    const file = join(dir, "users.jsonl");
    expect(p).toEqual(
      expect.arrayContaining([
        `${file}: line 2: not a JSON object (one user a line; "#" starts a comment)`,
        `${file}: line 3: name: user name must not start with "-"`,
        expect.stringContaining(`${file}: line 4: name: user name is not valid`),
        expect.stringContaining(`${file}: line 5: sha256: must be 64 lower-case hex digits`),
        `${file}: line 6: name: duplicate user "alice" (first at line 1)`,
        `${file}: line 6: sha256: the same token as line 1`,
        `${file}: line 7: (top level): unknown key "extra"`,
        expect.stringContaining(`${file}: line 8: groups.0: group is not valid`),
      ]),
    );
  });

  it("refuses empty or malformed users/groups in a rule", () => {
    const p = problems({ hosts: HOSTS, policy: `rules:\n  - {target: "*", allow: [get_load], users: []}\n  - {target: "*", allow: [get_load], groups: ["-oncall"], users: ["a b"]}\n` });
    const file = join(dir, "policy.yaml");
    expect(p).toEqual(
      expect.arrayContaining([
        `${file}: rules.0.users: list at least one user, or leave users out`,
        `${file}: rules.1.groups.0: group must not start with "-"`,
        expect.stringContaining(`${file}: rules.1.users.0: user name is not valid`),
      ]),
    );
  });

  it("a reload reports the people added and removed", () => {
    write({ hosts: HOSTS, policy: POLICY });
    writeFileSync(join(dir, "users.jsonl"), `${line({})}\n`);
    const store = new ConfigStore(loadBrokerConfig(dir));
    writeFileSync(join(dir, "users.jsonl"), `${line({ name: "bob", sha256: "cd".repeat(32) })}\n`);
    const r = store.reload();
    expect(r.ok && r.changes).toMatchObject({ usersAdded: ["bob"], usersRemoved: ["alice"], policyChanged: false });
    expect(store.current.users.map((u) => u.name)).toEqual(["bob"]);
  });
});

describe("broker.yaml", () => {
  it.each([
    ["fanout: {concurrency: 0}", "fanout.concurrency"],
    ["fanout: {hostTimeoutMs: 5}", "fanout.hostTimeoutMs"],
    ["maxOutputBytes: 12", "maxOutputBytes"],
    ["stateDir: relative/dir", "stateDir"],
    ["logfile: /tmp/x", "(top level)"],
  ])("refuses %s", (text, field) => {
    const p = problems({ hosts: HOSTS, policy: POLICY, broker: `${text}\n` });
    expect(p).toHaveLength(1);
    expect(p[0]).toContain(`broker.yaml: ${field}: `);
  });
});

describe("ConfigStore.reload", () => {
  it("swaps in a valid new configuration and reports what changed", () => {
    write({ hosts: HOSTS, policy: POLICY });
    const store = new ConfigStore(loadBrokerConfig(dir));
    const seen: string[][] = [];
    store.onChange((_c, changes) => seen.push(changes.added));
    write({ hosts: `${HOSTS}  - {name: web3, address: 10.0.0.3}\n` });
    const r = store.reload();
    expect(r.ok).toBe(true);
    expect(r.ok && r.changes).toEqual({ added: ["web3"], removed: [], changed: [], policyChanged: false, settingsChanged: false, usersAdded: [], usersRemoved: [] });
    expect(store.current.hosts.map((h) => h.name)).toEqual(["web1", "db1", "web3"]);
    expect(seen).toEqual([["web3"]]);
  });

  it("keeps the old configuration when the new one is invalid", () => {
    write({ hosts: HOSTS, policy: POLICY });
    const store = new ConfigStore(loadBrokerConfig(dir));
    const before = store.current;
    write({ hosts: `${HOSTS}  - {name: web1, address: 10.0.0.9}\n`, policy: "rules:\n  - target: '*'\n    allow: [bogus]\n" });
    const r = store.reload();
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problems).toHaveLength(2);
    expect(store.current).toBe(before);
  });

  it("reports changed and removed hosts and a policy change", () => {
    write({ hosts: HOSTS, policy: POLICY });
    const store = new ConfigStore(loadBrokerConfig(dir));
    write({ hosts: "hosts:\n  - name: web1\n    address: 10.0.0.99\n    tags: [web, prod]\n", policy: "rules: []\n" });
    const r = store.reload();
    expect(r.ok && r.changes).toEqual({ added: [], removed: ["db1"], changed: ["web1"], policyChanged: true, settingsChanged: false, usersAdded: [], usersRemoved: [] });
  });
});
