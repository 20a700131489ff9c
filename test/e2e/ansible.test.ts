// A fleet rolled out the way fleets already are: Debian's `ansible` (the controller, in the client
// namespace) runs packaging/ansible/site.yml over SSH against a Debian 12 and a Debian 13 container
// booted with systemd, in a network namespace this test creates; the role issues each host's
// certificate with the installed `hostward` CLI on the controller, installs the package with apt
// (the distribution's nodejs comes with it), installs approver keys and the allowlist, checks,
// starts and waits. A second run changes nothing. Then `hostward inventory import --ansible` reads
// the same inventory into hosts.yaml and one call fans out to both hosts through the broker.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Container } from "./support/container";
import { record } from "./support/measurements";
import type { Network } from "./support/netns";
import { cliPath, currentVersion, debPath } from "./support/packages";
import { ROOT } from "./support/paths";
import type { Suite } from "./support/rootfs";
import { CLEAN_PATH, describeRun, run, type RunResult } from "./support/run";
import { createScope, requirePackages } from "./support/scope";
import { createWorkstation, prepareSshHost, SSH_USER, type Workstation } from "./support/ssh";
import { activeState, UNITS } from "./support/units";

const HOSTS: Array<{ name: string; suite: Suite }> = [
  { name: "web1", suite: "bookworm" },
  { name: "web2", suite: "trixie" },
];

const scope = createScope("ansible");
let net: Network;
const containers = new Map<string, Container>();
let ws: Workstation;
let env: Record<string, string>;
let work: string;
let inventory: string;
let config: string;

/** A command on the controller (the client namespace), as argv. */
function controller(argv: string[], timeoutMs = 300_000): Promise<RunResult> {
  return run("ip", ["netns", "exec", net.clientNs, ...argv], { cwd: work, env, timeoutMs });
}
async function controllerOk(argv: string[], timeoutMs?: number): Promise<RunResult> {
  const r = await controller(argv, timeoutMs);
  if (r.code !== 0) throw new Error(describeRun("", argv, r));
  return r;
}

/** PLAY RECAP counters per host: {web1: {ok, changed, failed, …}}. */
function recap(out: string): Record<string, Record<string, number>> {
  const hosts: Record<string, Record<string, number>> = {};
  for (const m of out.matchAll(/^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$/gm)) {
    hosts[m[1] as string] = Object.fromEntries([...(m[2] as string).matchAll(/(\w+)=(\d+)/g)].map((x) => [x[1], Number(x[2])]));
  }
  return hosts;
}

beforeAll(async () => {
  requirePackages();
  net = await scope.network(6, HOSTS.map((h) => h.name));
  work = join(scope.dir, "controller");
  mkdirSync(work, { recursive: true });
  ws = await createWorkstation(join(work, "home"), net);
  await Promise.all(
    HOSTS.map(async (h) => {
      const c = await scope.container(h.name, net.hosts[h.name]?.nsPath, h.suite);
      containers.set(h.name, c);
      await prepareSshHost(c, ws.publicKey);
      ws.addHost(net.hosts[h.name]?.address ?? "", net.hosts[h.name]?.address ?? "");
    }),
  );
  const prefix = join(work, "npm-global");
  env = {
    HOME: ws.home,
    PATH: `${join(prefix, "bin")}:${CLEAN_PATH}`,
    LANG: "C.UTF-8",
    npm_config_prefix: prefix,
    npm_config_offline: "true",
    ANSIBLE_NOCOLOR: "1",
    ANSIBLE_RETRY_FILES_ENABLED: "0",
    ANSIBLE_PYTHON_INTERPRETER: "auto_silent",
    ANSIBLE_LOCAL_TEMP: join(ws.home, ".ansible", "tmp"),
  };
  // The controller: the hostward CLI from its release tarball, a configuration with its CA.
  copyFileSync(cliPath(), join(work, `hostward-${currentVersion()}.tgz`));
  await controllerOk(["npm", "install", "-g", `./hostward-${currentVersion()}.tgz`]);
  await controllerOk(["hostward", "init"]);
  config = join(ws.home, ".config", "hostward");
  await controllerOk(["hostward", "pki", "approver-key", "alice", "--max-impact", "MEDIUM", "--out", join(work, "approvers")]);
  inventory = join(work, "inventory.ini");
  writeFileSync(
    inventory,
    [
      "[web]",
      ...HOSTS.map((h) => `${h.name} ansible_host=${net.hosts[h.name]?.address}`),
      "",
      "[fleet:children]",
      "web",
      "",
      "[all:vars]",
      `ansible_user=${SSH_USER}`,
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(work, "vars.json"),
    JSON.stringify({
      hostward_agent_deb: debPath(),
      hostward_approvers: [join(work, "approvers", "alice.approver")],
      hostward_actions: { units: ["nginx.service"], containers: [], reboot: false },
    }),
  );
}, 600_000);
afterAll(() => scope.close());

const playbook = () => controller(["ansible-playbook", "-i", inventory, join(ROOT, "packaging", "ansible", "site.yml"), "-e", `@${join(work, "vars.json")}`], 600_000);

describe("the Ansible role rolls hostward-agent out to a Debian 12 and a Debian 13 host", () => {
  test("the first run installs, enrols and starts both hosts", async () => {
    const t0 = Date.now();
    const r = await playbook();
    const seconds = (Date.now() - t0) / 1000;
    if (r.code !== 0) throw new Error(`ansible-playbook failed:\n${r.stdout.slice(-8000)}\n${r.stderr.slice(-4000)}`);
    record(`ansible roll-out, ${HOSTS.length} hosts (first run), s`, Number(seconds.toFixed(1)));
    const counts = recap(r.stdout);
    for (const h of HOSTS) {
      expect(counts[h.name]?.failed, h.name).toBe(0);
      expect(counts[h.name]?.unreachable, h.name).toBe(0);
      expect(counts[h.name]?.changed, h.name).toBeGreaterThan(0);
      const c = containers.get(h.name) as Container;
      for (const unit of UNITS) expect(await activeState(c, unit), `${h.name} ${unit}`).toBe("active");
      expect((await c.execOk(["dpkg-query", "-W", "-f", "${Version}", "nodejs"])).stdout).toMatch(h.suite === "bookworm" ? /^18\./ : /^20\./);
      for (const role of ["reader", "operator"]) expect((await c.execOk(["stat", "-c", "%U %a", `/etc/hostward/tls/${role}.key`])).stdout.trim()).toBe("root 600");
      expect(readFileSync(c.path("/etc/hostward/approvers/alice.pub"), "utf8")).toBe(readFileSync(join(work, "approvers", "alice.approver"), "utf8"));
      expect(parseYaml(readFileSync(c.path("/etc/hostward/actions.yaml"), "utf8"))).toEqual({ units: ["nginx.service"], containers: [], reboot: false });
      // The certificate the controller issued, with the inventory name and ansible_host.
      for (const role of ["reader", "operator"]) expect(readFileSync(c.path(`/etc/hostward/tls/${role}.crt`), "utf8")).toBe(readFileSync(join(config, "pki", "agents", h.name, `${role}.crt`), "utf8"));
      await c.execOk(["hostward-agent", "check"]);
    }
  });

  test("a second run changes nothing", async () => {
    const t0 = Date.now();
    const r = await playbook();
    if (r.code !== 0) throw new Error(`ansible-playbook (second run) failed:\n${r.stdout.slice(-8000)}`);
    record(`ansible roll-out, ${HOSTS.length} hosts (second run, nothing to do), s`, Number(((Date.now() - t0) / 1000).toFixed(1)));
    const counts = recap(r.stdout);
    for (const h of HOSTS) expect(counts[h.name], h.name).toMatchObject({ changed: 0, failed: 0, unreachable: 0 });
  });

  test("hostward inventory import --ansible writes the same hosts, and one call fans out to both through the broker", async () => {
    await controllerOk(["hostward", "inventory", "import", "--ansible", inventory]);
    const hosts = (parseYaml(readFileSync(join(config, "hosts.yaml"), "utf8")) as { hosts: Array<{ name: string; address: string; tags: string[] }> }).hosts;
    expect(hosts.map((h) => [h.name, h.address, h.tags])).toEqual(HOSTS.map((h) => [h.name, net.hosts[h.name]?.address, ["fleet", "web"]]));
    const r = await controllerOk(["hostward", "call", "get_system_info", "target=tag:fleet", "--json"], 60_000);
    const results = (JSON.parse(r.stdout) as { results: Array<{ host: string; ok: boolean; data?: { hostname: string } }> }).results;
    expect(results.map((x) => [x.host, x.ok, x.data?.hostname])).toEqual(HOSTS.map((h) => [h.name, true, h.name]));
    const nginx = await controllerOk(["hostward", "call", "get_service_status", "target=tag:web", "unit=nginx", "--json"], 60_000);
    expect((JSON.parse(nginx.stdout) as { summary: { ok: number } }).summary.ok).toBe(HOSTS.length);
    expect(existsSync(join(config, "hosts.yaml"))).toBe(true);
  });
});
