// Network diagnostics: /proc, /sys and /etc read directly; probes with node:net, node:dns and
// node:http(s) after the address policy approved every address. Nothing is spawned.
import { probeBudget } from "../net/probe-budget";
import { isIP } from "node:net";
import { MAX_ROUTES, MAX_SOCKETS, networkDiagnostics } from "../../../proto/catalog/diagnostics/network";
import { checkAddress, type AddressPolicy } from "../address-policy";
import { dnsQuery } from "../net/dns-query";
import { checkHttpUrl } from "../net/http-check";
import { readInterfaces } from "../net/interfaces";
import { readSocketTables, type SocketEntry, type SocketTable } from "../net/proc-net-sockets";
import {
  countHostsEntries,
  localStubKind,
  parseNsswitchHosts,
  parseResolvConf,
  readSmallFile,
  symlinkTarget,
} from "../net/resolver-config";
import { resolveVetted } from "../net/resolve-vetted";
import { defaultRoutes, readRoutes } from "../net/routes";
import { findSocketOwners } from "../net/socket-owners";
import { probeTcp } from "../net/tcp-probe";
import { DiagnosticError, type DiagnosticContext, type HandlerMap } from "./context";

function policyOf(ctx: DiagnosticContext): AddressPolicy {
  return { allowLinkLocal: ctx.config.network.allowLinkLocal, allowLoopback: ctx.config.network.allowLoopback };
}

/** Adds the owning pid/process name to sockets (null where /proc/PID/fd is not readable). */
async function withOwners<T extends SocketEntry>(sockets: T[]): Promise<(T & { pid: number | null; process: string | null })[]> {
  const owners = await findSocketOwners(sockets.map((s) => s.inode));
  return sockets.map((s) => {
    const o = owners.get(s.inode);
    return { ...s, pid: o?.pid ?? null, process: o?.process ?? null };
  });
}

const TABLES: Record<"all" | "tcp" | "udp", SocketTable[]> = {
  all: ["tcp", "tcp6", "udp", "udp6"],
  tcp: ["tcp", "tcp6"],
  udp: ["udp", "udp6"],
};

export const networkHandlers: HandlerMap<typeof networkDiagnostics> = {
  async get_network_interfaces() {
    const { interfaces } = await readInterfaces();
    return { interfaces };
  },

  async get_routing_table() {
    const routes = await readRoutes();
    return { routes: routes.slice(0, MAX_ROUTES), defaultRoutes: defaultRoutes(routes), truncated: routes.length > MAX_ROUTES };
  },

  async get_listening_ports(input) {
    const all = await readSocketTables(TABLES[input.protocol]);
    // TCP: LISTEN. UDP has no listen state: an unconnected socket (remote port 0) receives.
    const listening = all
      .filter((s) => (s.protocol.startsWith("tcp") ? s.state === "LISTEN" : s.remotePort === 0))
      .sort((a, b) => a.localPort - b.localPort || a.protocol.localeCompare(b.protocol));
    const shown = await withOwners(listening.slice(0, MAX_SOCKETS));
    return {
      sockets: shown.map((s) => ({ protocol: s.protocol, address: s.localAddress, port: s.localPort, pid: s.pid, process: s.process })),
      total: listening.length,
      truncated: listening.length > MAX_SOCKETS,
    };
  },

  async get_active_connections(input) {
    const all = await readSocketTables(["tcp", "tcp6"]);
    const established = all.filter(
      (s) => s.state === "ESTABLISHED" && (input.port === undefined || s.localPort === input.port || s.remotePort === input.port),
    );
    const shown = await withOwners(established.slice(0, input.limit));
    return {
      connections: shown.map((s) => ({
        protocol: s.protocol as "tcp" | "tcp6",
        localAddress: s.localAddress,
        localPort: s.localPort,
        remoteAddress: s.remoteAddress,
        remotePort: s.remotePort,
        pid: s.pid,
        process: s.process,
      })),
      total: established.length,
      truncated: established.length > input.limit,
    };
  },

  async get_dns_config() {
    const [resolv, target, nsswitch, hosts] = await Promise.all([
      readSmallFile("/etc/resolv.conf"),
      symlinkTarget("/etc/resolv.conf"),
      readSmallFile("/etc/nsswitch.conf"),
      readSmallFile("/etc/hosts"),
    ]);
    const parsed = resolv === null ? null : parseResolvConf(resolv);
    return {
      resolvConf: parsed === null ? null : { path: "/etc/resolv.conf", symlinkTarget: target, ...parsed },
      localStub: parsed === null ? null : localStubKind(parsed.nameservers),
      nsswitchHosts: nsswitch === null ? null : parseNsswitchHosts(nsswitch),
      hostsFileEntries: hosts === null ? null : countHostsEntries(hosts),
    };
  },

  async test_connectivity(input, ctx) {
    const vetted = await resolveVetted(input.host, policyOf(ctx), { field: "host", timeoutMs: input.timeoutMs, signal: ctx.signal });
    // Counted by the address connected to: two names of one address are one target.
    probeBudget(ctx.config).spend(vetted.address, input.ports.length);
    const results = await Promise.all(input.ports.map((port) => probeTcp(vetted.address, vetted.family, port, input.timeoutMs, ctx.signal)));
    return {
      host: input.host,
      address: vetted.address,
      resolved: vetted.resolved,
      resolveMs: Math.round(vetted.resolveMs * 100) / 100,
      results,
    };
  },

  async dns_lookup(input, ctx) {
    if (input.server !== undefined) {
      if (isIP(input.server) === 0) {
        throw new DiagnosticError("INVALID_ARGUMENT", `server: ${JSON.stringify(input.server)} is not an IP address`);
      }
      const verdict = checkAddress(input.server, policyOf(ctx));
      if (!verdict.allowed) throw new DiagnosticError("PERMISSION_DENIED", `server: refused: ${verdict.reason}`);
    }
    const r = await dnsQuery(input.name, input.recordType, { server: input.server, timeoutMs: input.timeoutMs, signal: ctx.signal });
    return {
      name: input.name,
      recordType: input.recordType,
      server: input.server ?? null,
      status: r.status,
      answers: r.answers,
      truncated: r.truncated,
      durationMs: r.durationMs,
      error: r.error,
    };
  },

  async check_http(input, ctx) {
    return checkHttpUrl(input.url, {
      method: input.method,
      timeoutMs: input.timeoutMs,
      insecureSkipVerify: input.insecureSkipVerify,
      policy: policyOf(ctx),
      budget: probeBudget(ctx.config),
      signal: ctx.signal,
      userAgent: `hostward-agent/${ctx.agent.version}`,
    });
  },
};
