// A private network for the e2e suite, made only of namespaces this suite creates: a "client"
// namespace holding a bridge, and one namespace per container joined to the bridge by a veth pair.
// Nothing is created in the host's namespace, so the test addresses (198.18.0.0/15, reserved for
// network benchmark tests, RFC 2544) exist nowhere else and no packet can reach a real network.
// The broker runs inside the client namespace (`ip netns exec`), the agents in the containers.
//
//   const net = await createNetwork("hwe2e-123-fleet", 7, ["web1", "web2", "db1"]);
//   net.clientNs                      // "hwe2e-123-fleet-cli"
//   net.hosts.web1.address / .nsPath  // "198.18.7.11" / "/run/netns/hwe2e-123-fleet-web1"
//   await net.destroy();
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { run, runOk } from "./run";

/** `ip netns exec NS` bind-mounts each entry of /etc/netns/NS/ over /etc/ for that command only. */
export const NETNS_ETC = "/etc/netns";

interface NetHost {
  ns: string;
  nsPath: string;
  address: string;
}

export interface Network {
  clientNs: string;
  clientAddress: string;
  hosts: Record<string, NetHost>;
  /**
   * A file that programs run with `ip netns exec CLIENT` see at /etc/RELATIVE (and nothing else
   * does): e.g. "ssh/ssh_config", since ssh reads ~/.ssh/config from the passwd entry's home, not
   * from $HOME. Removed with the network.
   */
  etcFile(relative: string, contents: string): void;
  destroy(): Promise<void>;
}

const ip = (...args: string[]) => runOk("ip", args, { timeoutMs: 10_000 });

/** Deletes a namespace; its veth ends die with it (and their peers with them). */
export async function deleteNetns(ns: string): Promise<void> {
  await run("ip", ["netns", "delete", ns], { timeoutMs: 10_000 });
}

export async function listNetns(): Promise<string[]> {
  const r = await run("ip", ["netns", "list"], { timeoutMs: 10_000 });
  return r.stdout
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n.length > 0);
}

export interface NetworkOptions {
  /** The /24's first three octets instead of 198.18.SUBNET (e.g. "10.0.0" for the README's
   *  addresses: they exist only inside these namespaces too). */
  base?: string;
  /** The last octet of the first host (default 11); host i gets first + i. */
  firstHost?: number;
}

/** `subnet` picks 198.18.SUBNET.0/24 (0..255): the client is .1, host i is .(11 + i). */
export async function createNetwork(prefix: string, subnet: number, hostNames: readonly string[], opts: NetworkOptions = {}): Promise<Network> {
  const clientNs = `${prefix}-cli`;
  const base = opts.base ?? `198.18.${subnet}`;
  const first = opts.firstHost ?? 11;
  const created: string[] = [];
  const destroy = async () => {
    for (const ns of created.reverse()) await deleteNetns(ns);
    rmSync(join(NETNS_ETC, clientNs), { recursive: true, force: true });
  };
  const etcFile = (relative: string, contents: string) => {
    const file = join(NETNS_ETC, clientNs, relative);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, contents);
  };
  try {
    await ip("netns", "add", clientNs);
    created.push(clientNs);
    await ip("-n", clientNs, "link", "set", "lo", "up");
    await ip("-n", clientNs, "link", "add", "br0", "type", "bridge");
    await ip("-n", clientNs, "addr", "add", `${base}.1/24`, "dev", "br0");
    await ip("-n", clientNs, "link", "set", "br0", "up");
    const hosts: Record<string, NetHost> = {};
    for (const [i, name] of hostNames.entries()) {
      const ns = `${prefix}-${name}`;
      await ip("netns", "add", ns);
      created.push(ns);
      const address = `${base}.${first + i}`;
      // Both ends are created directly inside their namespaces: the host's never sees them.
      await ip("-n", clientNs, "link", "add", `vh${i}`, "type", "veth", "peer", "name", "eth0", "netns", ns);
      await ip("-n", clientNs, "link", "set", `vh${i}`, "master", "br0", "up");
      await ip("-n", ns, "link", "set", "lo", "up");
      await ip("-n", ns, "addr", "add", `${address}/24`, "dev", "eth0");
      await ip("-n", ns, "link", "set", "eth0", "up");
      hosts[name] = { ns, nsPath: `/run/netns/${ns}`, address };
    }
    return { clientNs, clientAddress: `${base}.1`, hosts, etcFile, destroy };
  } catch (err) {
    await destroy();
    throw err;
  }
}
