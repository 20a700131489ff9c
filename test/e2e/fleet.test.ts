// Three hosts, three containers, three network namespaces on one private bridge: the broker fans a
// call on `tag:…` out to the hosts that carry the tag, each answer comes from its own container,
// and a host whose agent is stopped does not keep the others from answering.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connectBrokerInNetns, writeBrokerConfig, type BrokerSession } from "./support/broker";
import type { Container } from "./support/container";
import type { Network } from "./support/netns";
import { debPath } from "./support/packages";
import { createCliPki, installAgentCerts } from "./support/pki";
import { createScope, requirePackages } from "./support/scope";
import { aptInstall, mainPid, UNITS, unitReport, waitActive } from "./support/units";

const HOSTS = [
  { name: "web1", tags: ["web", "fleet"] },
  { name: "web2", tags: ["web", "fleet"] },
  { name: "db1", tags: ["db", "fleet"] },
] as const;

interface ServiceStatus {
  unit: string;
  activeState: string;
  mainPid: number | null;
}

const scope = createScope("fleet");
let net: Network;
const containers = new Map<string, Container>();
let broker: BrokerSession;

/** Boots one host, installs the package, enrols it and waits for both units. */
async function provision(name: string, pki: Awaited<ReturnType<typeof createCliPki>>): Promise<void> {
  const host = net.hosts[name];
  if (!host) throw new Error(`no namespace for ${name}`);
  const c = await scope.container(name, host.nsPath);
  containers.set(name, c);
  await aptInstall(c, debPath());
  await installAgentCerts(c, await pki.issueAgent(name, host.address));
  await c.execOk(["systemctl", "enable", "--now", ...UNITS]);
  await waitActive(c, UNITS).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${await unitReport(c, UNITS[0])}\n${await unitReport(c, UNITS[1])}`);
  });
}

beforeAll(async () => {
  requirePackages();
  net = await scope.network(3, HOSTS.map((h) => h.name));
  const pki = await createCliPki(join(scope.dir, "pki"));
  // Concurrently: each host spends most of its time waiting on tar, dpkg and systemd. allSettled:
  // every boot has registered its cleanup before afterAll runs, even when one of them failed.
  const provisioned = await Promise.allSettled(HOSTS.map((h) => provision(h.name, pki)));
  for (const p of provisioned) if (p.status === "rejected") throw p.reason;
  const config = await writeBrokerConfig(
    join(scope.dir, "broker"),
    pki,
    HOSTS.map((h) => ({ name: h.name, address: net.hosts[h.name]?.address ?? "", tags: [...h.tags] })),
  );
  broker = await connectBrokerInNetns(net.clientNs, config);
  scope.defer("broker", () => broker.close());
});
afterAll(() => scope.close());

const nginxPid = (name: string) => {
  const c = containers.get(name);
  if (!c) throw new Error(`no container ${name}`);
  return mainPid(c, "nginx.service");
};

describe("a fleet of three containers behind the broker", () => {
  test("get_service_status on tag:web reaches exactly web1 and web2, with the state systemd has there", async () => {
    const r = await broker.hostsOk<ServiceStatus>("get_service_status", { target: "tag:web", unit: "nginx" });
    expect(r.results.map((h) => h.host)).toEqual(["web1", "web2"]);
    expect(r.summary).toEqual({ hosts: 2, ok: 2, failed: 0, denied: 0 });
    for (const h of r.results) {
      expect(h.data?.activeState, h.host).toBe("active");
      // The main PID each agent reports is the one systemctl shows in that host's container.
      expect(h.data?.mainPid, h.host).toBe(await nginxPid(h.host));
    }
  });

  test("tag:fleet fans out to all three hosts, each answered by its own container", async () => {
    const r = await broker.hostsOk<ServiceStatus>("get_service_status", { target: "tag:fleet", unit: "nginx" });
    expect(r.results.map((h) => h.host)).toEqual(["web1", "web2", "db1"]);
    expect(r.summary.ok).toBe(3);
    // Each answer comes from its own container: the host name each agent reports is its machine name.
    const info = await broker.hostsOk<{ hostname: string }>("get_system_info", { target: "tag:fleet" });
    expect(info.results.map((h) => [h.host, h.data?.hostname])).toEqual([
      ["web1", "web1"],
      ["web2", "web2"],
      ["db1", "db1"],
    ]);
  });

  test("a runbook's unit argument completes with the units systemd has on that host, and a host's resource carries its live facts", async () => {
    await broker.hostsOk("get_load", { target: "web1" });
    const done = await broker.client.complete({
      ref: { type: "ref/prompt", name: "unit_failed" },
      argument: { name: "unit", value: "ngi" },
      context: { arguments: { host: "web1" } },
    });
    expect(done.completion.values).toContain("nginx.service");
    const all = await broker.client.complete({ ref: { type: "ref/prompt", name: "unit_failed" }, argument: { name: "unit", value: "hostward" }, context: { arguments: { host: "web1" } } });
    expect(all.completion.values).toEqual(expect.arrayContaining(["hostward-reader.service", "hostward-operator.service"]));
    const read = await broker.client.readResource({ uri: "hostward://hosts/web2" });
    const host = JSON.parse((read.contents[0] as { text: string }).text) as { facts: { hostname: string } };
    expect(host.facts.hostname).toBe("web2");
  });

  test("with db1's reader stopped, tag:fleet still answers for web1 and web2 and reports db1 unavailable", async () => {
    const db1 = containers.get("db1");
    if (!db1) throw new Error("no db1");
    await db1.execOk(["systemctl", "stop", "hostward-reader.service"]);
    const r = await broker.hosts<ServiceStatus>("get_service_status", { target: "tag:fleet", unit: "nginx" });
    expect(r.results.map((h) => [h.host, h.ok])).toEqual([
      ["web1", true],
      ["web2", true],
      ["db1", false],
    ]);
    expect(r.results[2]?.error?.code).toBe("UNAVAILABLE");
    expect(r.summary).toEqual({ hosts: 3, ok: 2, failed: 1, denied: 0 });
  });
});
