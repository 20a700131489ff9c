// `hostward init`, `hostward hosts add|remove|list` and `hostward inventory import`: the built CLI
// on real files. The Ansible import is compared with Ansible's own reading of the same inventory
// (`ansible-inventory --list`, Debian's ansible package, which .ci/run installs): the same hosts,
// the same addresses, the same group memberships (tags).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostward } from "./cli";

let dir: string;
let n = 0;
const hasAnsible = spawnSync("ansible-inventory", ["--version"], { encoding: "utf8" }).status === 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "hostward-inventory-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh `hostward init` configuration directory. */
async function fresh(): Promise<string> {
  const config = join(dir, `config-${++n}`);
  const r = await hostward(["init", "--config", config]);
  expect(r.code, r.stderr).toBe(0);
  return config;
}

type Host = { name: string; address: string; tags: string[]; ports: { reader: number; operator: number }; certName?: string };
const hostsOf = (config: string) => (parseYaml(readFileSync(join(config, "hosts.yaml"), "utf8")) as { hosts: Host[] }).hosts;

const INI = `# a fleet as Ansible lists it
bastion ansible_host=192.0.2.1

[web]
web[01:03].example.org
web-eu ansible_host=192.0.2.50 ansible_user=deploy

[db]
db1 ansible_host=192.0.2.10 http_port='80 81'

[prod:children]
web
db

[prod:vars]
ntp_server=ntp.example.org
`;

const YAML_INVENTORY = `all:
  hosts:
    bastion:
      ansible_host: 192.0.2.1
  children:
    web:
      hosts:
        web[01:03].example.org:
        web-eu: { ansible_host: 192.0.2.50 }
    prod:
      children:
        web:
        db:
          hosts:
            db1: { ansible_host: 192.0.2.10 }
`;

/** What Ansible itself makes of an inventory: host → {address, groups (without all/ungrouped)}. */
function ansibleView(file: string): Map<string, { address: string; tags: string[] }> {
  const list = JSON.parse(execFileSync("ansible-inventory", ["-i", file, "--list"], { encoding: "utf8", env: { ...process.env, ANSIBLE_INVENTORY_UNPARSED_WARNING: "False" } })) as Record<string, { hosts?: string[]; children?: string[] }> & {
    _meta: { hostvars: Record<string, { ansible_host?: string }> };
  };
  const groupsOf = new Map<string, Set<string>>();
  const visit = (group: string, ancestors: string[]) => {
    const g = list[group];
    for (const h of g?.hosts ?? []) {
      const set = groupsOf.get(h) ?? new Set<string>();
      for (const a of [group, ...ancestors]) if (a !== "all" && a !== "ungrouped") set.add(a);
      groupsOf.set(h, set);
    }
    for (const c of g?.children ?? []) visit(c, [group, ...ancestors]);
  };
  visit("all", []);
  return new Map([...groupsOf].map(([h, tags]) => [h, { address: list._meta.hostvars[h]?.ansible_host ?? h, tags: [...tags].sort() }]));
}

describe("hostward init", () => {
  it("writes a working configuration: CA, the broker's reader certificate, empty inventory, starter policy; keeps what exists", async () => {
    const config = await fresh();
    for (const f of ["pki/ca.crt", "pki/ca.key", "tls/ca.crt", "tls/reader.crt", "tls/reader.key", "hosts.yaml", "policy.yaml"]) expect(existsSync(join(config, f)), f).toBe(true);
    expect(statSync(join(config, "pki/ca.key")).mode & 0o077).toBe(0);
    expect(statSync(join(config, "tls/reader.key")).mode & 0o077).toBe(0);
    expect(hostsOf(config)).toEqual([]);
    const ca = readFileSync(join(config, "pki/ca.crt"), "utf8");
    const again = await hostward(["init", "--config", config]);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/kept \(already there\)/);
    expect(readFileSync(join(config, "pki/ca.crt"), "utf8")).toBe(ca);
    // The broker loads what init wrote (list_hosts answers through MCP).
    const call = await hostward(["call", "list_hosts", "--config", config]);
    expect(call.code, call.stderr).toBe(0);
    expect(call.stdout).toContain('"count":0');
  });
});

describe("hostward hosts", () => {
  it("add, list, remove; an existing host is kept unless --replace; the file keeps its comments", async () => {
    const config = await fresh();
    writeFileSync(join(config, "hosts.yaml"), "# my fleet, do not lose this comment\nhosts: []\n");
    expect((await hostward(["hosts", "add", "web1", "--address", "10.0.0.5", "--tag", "web", "--config", config])).code).toBe(0);
    expect((await hostward(["hosts", "add", "db1", "--address", "db1.example.org", "--reader-port", "9443", "--config", config])).code).toBe(0);
    expect(hostsOf(config)).toEqual([
      { name: "web1", address: "10.0.0.5", tags: ["web"] },
      { name: "db1", address: "db1.example.org", ports: { reader: 9443, operator: 7444 }, tags: [] },
    ]);
    expect(readFileSync(join(config, "hosts.yaml"), "utf8")).toContain("# my fleet, do not lose this comment");
    const clash = await hostward(["hosts", "add", "web1", "--address", "10.0.0.6", "--config", config]);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toMatch(/web1 is already in .* with other settings; pass --replace/);
    expect((await hostward(["hosts", "add", "web1", "--address", "10.0.0.6", "--replace", "--config", config])).code).toBe(0);
    expect(hostsOf(config)[0]?.address).toBe("10.0.0.6");
    const list = await hostward(["hosts", "list", "--config", config]);
    expect(list.stdout.split("\n").filter(Boolean)).toEqual(["web1\t10.0.0.6\treader 7443 operator 7444\t-", "db1\tdb1.example.org\treader 9443 operator 7444\t-"]);
    expect((await hostward(["hosts", "remove", "db1", "--config", config])).code).toBe(0);
    expect(hostsOf(config).map((h) => h.name)).toEqual(["web1"]);
  });

  it("refuses bad input naming the field, and leaves the file as it was", async () => {
    const config = await fresh();
    const before = readFileSync(join(config, "hosts.yaml"), "utf8");
    const bad = await hostward(["hosts", "add", "web 1", "--address", "10.0.0.5", "--config", config]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/host "web 1": name: host name must start with a letter or digit/);
    const badAddress = await hostward(["hosts", "add", "web1", "--address=-x", "--config", config]);
    expect(badAddress.stderr).toMatch(/address:/);
    const badPort = await hostward(["hosts", "add", "web1", "--address", "10.0.0.5", "--reader-port", "99999", "--config", config]);
    expect(badPort.stderr).toMatch(/--reader-port must be a TCP port/);
    expect(readFileSync(join(config, "hosts.yaml"), "utf8")).toBe(before);
  });

  it("a --config directory that does not exist is an error naming it", async () => {
    const missing = join(dir, "no-such-config");
    const r = await hostward(["hosts", "list", "--config", missing]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the configuration directory ${missing} (--config) does not exist; create it with: hostward init --config ${missing}`);
    const env = await hostward(["hosts", "list"], { env: { HOSTWARD_CONFIG: missing } });
    expect(env.stderr).toContain(`${missing} ($HOSTWARD_CONFIG) does not exist`);
  });
});

describe("hostward inventory import --ansible", () => {
  for (const [format, text] of [
    ["INI", INI],
    ["YAML", YAML_INVENTORY],
  ] as const) {
    it(`reads a ${format} inventory as Ansible does: hosts, ranges, ansible_host, groups and parent groups as tags`, async () => {
      const config = await fresh();
      const file = join(dir, `inventory-${n}.${format === "YAML" ? "yml" : "ini"}`);
      writeFileSync(file, text);
      const r = await hostward(["inventory", "import", "--ansible", file, "--config", config]);
      expect(r.code, r.stderr).toBe(0);
      const ours = new Map(hostsOf(config).map((h) => [h.name, { address: h.address, tags: h.tags }]));
      expect([...ours.keys()].sort()).toEqual(["bastion", "db1", "web-eu", "web01.example.org", "web02.example.org", "web03.example.org"]);
      expect(ours.get("web02.example.org")).toEqual({ address: "web02.example.org", tags: ["prod", "web"] });
      expect(ours.get("db1")).toEqual({ address: "192.0.2.10", tags: ["db", "prod"] });
      expect(ours.get("bastion")).toEqual({ address: "192.0.2.1", tags: [] });
      if (hasAnsible) expect(ours).toEqual(ansibleView(file));
    });
  }

  it.runIf(hasAnsible)("agrees with ansible-inventory on both formats (differential check: Debian's ansible is installed)", () => {
    const ini = join(dir, "same.ini");
    const yml = join(dir, "same.yml");
    writeFileSync(ini, INI);
    writeFileSync(yml, YAML_INVENTORY);
    expect(ansibleView(ini)).toEqual(ansibleView(yml));
  });

  it("--only-tag, --tag, --dry-run; existing hosts kept unless --replace", async () => {
    const config = await fresh();
    const file = join(dir, "fleet.ini");
    writeFileSync(file, INI);
    const dry = await hostward(["inventory", "import", "--ansible", file, "--only-tag", "db", "--tag", "imported", "--dry-run", "--config", config]);
    expect(dry.code, dry.stderr).toBe(0);
    expect((parseYaml(dry.stdout) as { hosts: Host[] }).hosts.map((h) => [h.name, h.tags])).toEqual([["db1", ["db", "imported", "prod"]]]);
    expect(hostsOf(config)).toEqual([]);
    await hostward(["hosts", "add", "db1", "--address", "10.9.9.9", "--config", config]);
    const kept = await hostward(["inventory", "import", "--ansible", file, "--only-tag", "db", "--config", config]);
    expect(kept.stderr).toMatch(/kept\s+db1 .*--replace to change it/);
    expect(hostsOf(config)[0]?.address).toBe("10.9.9.9");
    await hostward(["inventory", "import", "--ansible", file, "--only-tag", "db", "--replace", "--config", config]);
    expect(hostsOf(config)[0]?.address).toBe("192.0.2.10");
  });

  it("says what is wrong with a bad inventory, naming the file and line or path", async () => {
    const config = await fresh();
    const bad = join(dir, "bad.ini");
    writeFileSync(bad, "[web\nweb1\n");
    expect((await hostward(["inventory", "import", "--ansible", bad, "--config", config])).stderr).toMatch(/bad\.ini:1: "\[web" is not a section header/);
    const badYaml = join(dir, "bad.yml");
    writeFileSync(badYaml, "all:\n  host:\n    web1:\n");
    expect((await hostward(["inventory", "import", "--ansible", badYaml, "--config", config])).stderr).toMatch(/bad\.yml: all: unknown key "host"/);
    const underscore = join(dir, "underscore.ini");
    writeFileSync(underscore, "[_internal]\nweb1 ansible_host=192.0.2.7\n");
    const warned = await hostward(["inventory", "import", "--ansible", underscore, "--config", config]);
    expect(warned.code).toBe(0);
    expect(warned.stderr).toMatch(/group "_internal" is not a valid hostward tag/);
    expect((await hostward(["inventory", "import", "--ansible", join(dir, "none.ini"), "--config", config])).stderr).toMatch(/cannot read .*none\.ini \(ENOENT\)/);
  });
});

describe("hostward inventory import --ssh-config", () => {
  it("takes each concrete Host alias with its HostName, follows Include, skips patterns and says so for Match", async () => {
    const config = await fresh();
    const home = join(dir, `home-${n}`);
    mkdirSync(join(home, ".ssh", "config.d"), { recursive: true });
    writeFileSync(
      join(home, ".ssh", "config"),
      ["Host web1", "  HostName 10.0.0.5", "  User admin", "", "Host db1 db2", "  HostName %h.internal.example.org", "", "Host *.example.org", "  User ops", "", "Match host bastion", "  User root", "", "Include config.d/*.conf", ""].join("\n"),
    );
    writeFileSync(join(home, ".ssh", "config.d", "more.conf"), "Host cache1\n  HostName=10.0.0.9\n");
    const r = await hostward(["inventory", "import", "--ssh-config", "--tag", "ssh", "--config", config], { env: { HOME: home } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/a Match block is not evaluated/);
    expect(hostsOf(config).map((h) => [h.name, h.address, h.tags])).toEqual([
      ["web1", "10.0.0.5", ["ssh"]],
      ["db1", "db1.internal.example.org", ["ssh"]],
      ["db2", "db2.internal.example.org", ["ssh"]],
      ["cache1", "10.0.0.9", ["ssh"]],
    ]);
  });
});
