// Network diagnostics at the handler level, against real sockets on loopback only (127.0.0.0/8
// and ::1): TCP listeners, a UDP socket, an HTTP and an HTTPS server with a self-signed
// certificate, and a small DNS server on 127.53.x.y:53. The machine's own resolvers are never
// queried. Parsers of /proc/net and /etc files are also checked against fixed texts.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { webcrypto } from "node:crypto";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { readFileSync, readdirSync } from "node:fs";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  checkHttp,
  dnsLookup,
  getActiveConnections,
  getDnsConfig,
  getListeningPorts,
  getNetworkInterfaces,
  getRoutingTable,
  testConnectivity,
} from "../../proto/catalog/diagnostics/network";
import { DiagnosticError } from "../../agent/src/diagnostics/context";
import { networkHandlers as h } from "../../agent/src/diagnostics/network";
import { decodeHostOrderAddress, formatIPv6, prefixLength } from "../../agent/src/net/hex-address";
import { parseSocketTable } from "../../agent/src/net/proc-net-sockets";
import { countHostsEntries, localStubKind, parseNsswitchHosts, parseResolvConf } from "../../agent/src/net/resolver-config";
import { defaultRoutes, parseIPv4Routes, parseIPv6Routes } from "../../agent/src/net/routes";
import { rejectsWith, schemaErrors, testContext } from "../support/diagnostics";
import { describeAsRoot } from "../support/root";

// ---------------------------------------------------------------------------------------------
// Helpers

/** Counts TCP client sockets created while `fn` runs (node:net publishes each on this channel). */
async function clientSocketsDuring(fn: () => Promise<unknown>): Promise<number> {
  let n = 0;
  const onSocket = () => n++;
  subscribe("net.client.socket", onSocket);
  try {
    await fn().catch(() => undefined);
  } finally {
    unsubscribe("net.client.socket", onSocket);
  }
  return n;
}

const openSockets = new WeakMap<Server, Set<Socket>>();

/** Listens on a free loopback port and remembers accepted sockets so close() can end them. */
function listen(server: Server | HttpServer | HttpsServer, host = "127.0.0.1"): Promise<number> {
  const sockets = new Set<Socket>();
  openSockets.set(server, sockets);
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as AddressInfo).port)));
}

function close(server: Server | HttpServer | HttpsServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    for (const s of openSockets.get(server) ?? []) s.destroy();
  });
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await close(s);
  return port;
}

const selfComm = readFileSync("/proc/self/comm", "utf8").trim();

// ---------------------------------------------------------------------------------------------
// Parsers, on fixed texts

describe("hex addresses of /proc/net", () => {
  it("decodes IPv4 in little-endian words", () => {
    expect(decodeHostOrderAddress("0100007F", true)).toBe("127.0.0.1");
    expect(decodeHostOrderAddress("010200C0", true)).toBe("192.0.2.1");
    expect(decodeHostOrderAddress("00000000", true)).toBe("0.0.0.0");
    expect(decodeHostOrderAddress("7F000001", false)).toBe("127.0.0.1");
  });

  it("decodes IPv6 words and formats RFC 5952 text", () => {
    expect(decodeHostOrderAddress("00000000000000000000000001000000", true)).toBe("::1");
    expect(decodeHostOrderAddress("00000000000000000000000000000000", true)).toBe("::");
    expect(decodeHostOrderAddress("0000000000000000FFFF00000100007F", true)).toBe("::ffff:127.0.0.1");
    expect(decodeHostOrderAddress("B80D0120000000000000000001000000", true)).toBe("2001:db8::1");
    expect(formatIPv6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1])).toBe("2001:db8:0:1::1");
    expect(formatIPv6([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1])).toBe("2001:db8:1:0:1:1:1:1");
  });

  it("refuses malformed hex and computes prefix lengths", () => {
    expect(decodeHostOrderAddress("XYZ", true)).toBeNull();
    expect(decodeHostOrderAddress("0100", true)).toBeNull();
    expect(prefixLength("255.255.255.0")).toBe(24);
    expect(prefixLength("0.0.0.0")).toBe(0);
    expect(prefixLength("255.0.255.0")).toBeNull();
  });
});

describe("parseSocketTable", () => {
  const tcp = [
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
    "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0000000000000000 100 0 0 10 0",
    "   1: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 23456 1 0000000000000000 20 4 30 10 -1",
    "   garbage line",
  ].join("\n");

  it("reads endpoints, state, uid and inode, skipping malformed lines", () => {
    const e = parseSocketTable(tcp, "tcp");
    expect(e).toHaveLength(2);
    expect(e[0]).toMatchObject({ protocol: "tcp", localAddress: "127.0.0.1", localPort: 8080, remoteAddress: "0.0.0.0", remotePort: 0, state: "LISTEN", uid: 1000, inode: 12345 });
    expect(e[1]).toMatchObject({ localPort: 50000, remotePort: 8080, state: "ESTABLISHED", inode: 23456 });
  });

  it("reads the IPv6 table", () => {
    const tcp6 = [
      "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 100 0 0 10 0",
    ].join("\n");
    expect(parseSocketTable(tcp6, "tcp6")[0]).toMatchObject({ localAddress: "::1", localPort: 22, remoteAddress: "::", state: "LISTEN" });
  });
});

describe("route parsers", () => {
  const v4 = [
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
    "eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0",
    "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0",
  ].join("\n");
  const v6 = [
    "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0",
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0",
    "00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo",
    "ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth0",
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo",
  ].join("\n");

  it("parses IPv4 routes with CIDR destinations, gateways and flags", () => {
    expect(parseIPv4Routes(v4)).toEqual([
      { family: "ipv4", destination: "0.0.0.0/0", gateway: "192.0.2.1", interface: "eth0", metric: 100, flags: ["up", "gateway"] },
      { family: "ipv4", destination: "192.0.2.0/24", gateway: null, interface: "eth0", metric: 0, flags: ["up"] },
    ]);
  });

  it("parses IPv6 routes and leaves out local addresses and the kernel's null entry", () => {
    expect(parseIPv6Routes(v6)).toEqual([
      { family: "ipv6", destination: "fd00::/64", gateway: null, interface: "eth0", metric: 256, flags: ["up"] },
      { family: "ipv6", destination: "::/0", gateway: "fd00::1", interface: "eth0", metric: 1024, flags: ["up", "gateway"] },
      { family: "ipv6", destination: "ff00::/8", gateway: null, interface: "eth0", metric: 256, flags: ["up"] },
    ]);
  });

  it("finds the default routes", () => {
    expect(defaultRoutes([...parseIPv4Routes(v4), ...parseIPv6Routes(v6)])).toEqual([
      { family: "ipv4", gateway: "192.0.2.1", interface: "eth0" },
      { family: "ipv6", gateway: "fd00::1", interface: "eth0" },
    ]);
  });
});

describe("resolver configuration parsers", () => {
  it("parses resolv.conf: nameservers, the last search/domain, options, comments", () => {
    const r = parseResolvConf(
      ["# generated", "nameserver 127.0.0.53 ; stub", "domain old.example", "search a.example b.example", "options edns0 trust-ad", "options ndots:2", "nameserver ::1"].join("\n"),
    );
    expect(r).toEqual({ nameservers: ["127.0.0.53", "::1"], search: ["a.example", "b.example"], domain: null, options: ["edns0", "trust-ad", "ndots:2"] });
    expect(parseResolvConf("search x.example\ndomain y.example\n")).toMatchObject({ search: [], domain: "y.example" });
  });

  it("tells a systemd-resolved stub from another local resolver and from remote servers", () => {
    expect(localStubKind(["127.0.0.53"])).toBe("systemd-resolved");
    expect(localStubKind(["127.0.0.1"])).toBe("loopback");
    expect(localStubKind(["::1"])).toBe("loopback");
    expect(localStubKind(["10.0.0.2", "1.1.1.1"])).toBeNull();
  });

  it("reads the hosts line of nsswitch.conf and counts /etc/hosts entries", () => {
    expect(parseNsswitchHosts("passwd: files\nhosts:          files mymachines [NOTFOUND=return] dns # x\n")).toEqual(["files", "mymachines", "[NOTFOUND=return]", "dns"]);
    expect(parseNsswitchHosts("passwd: files\n")).toBeNull();
    expect(countHostsEntries("# c\n127.0.0.1 localhost\n\n::1 localhost ip6-localhost\nbogus\n")).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------
// Host state: interfaces, routes, sockets, DNS configuration

describe("get_network_interfaces", () => {
  it("lists every /sys/class/net link, with lo up and 127.0.0.1 on it", async () => {
    const r = getNetworkInterfaces.output.parse(await h.get_network_interfaces({}, testContext()));
    expect(r.interfaces.map((i) => i.name).sort()).toEqual(readdirSync("/sys/class/net").sort());
    const lo = r.interfaces.find((i) => i.name === "lo")!;
    expect(lo.mtu).toBe(Number(readFileSync("/sys/class/net/lo/mtu", "utf8")));
    expect(lo.addresses).toContainEqual({ family: "IPv4", address: "127.0.0.1", cidr: "127.0.0.1/8", internal: true });
    expect(lo.rxBytes).toBeGreaterThan(0);
    expect(lo.speedMbps).toBeNull();
  });
});

describe("get_routing_table", () => {
  it("returns routes whose interfaces exist, and default routes among them", async () => {
    const r = getRoutingTable.output.parse(await h.get_routing_table({}, testContext()));
    const links = new Set(readdirSync("/sys/class/net"));
    for (const route of r.routes) expect(links.has(route.interface), route.interface).toBe(true);
    const v4lines = readFileSync("/proc/net/route", "utf8").trim().split("\n").length - 1;
    expect(r.routes.filter((x) => x.family === "ipv4")).toHaveLength(v4lines);
    for (const d of r.defaultRoutes) expect(r.routes.some((x) => x.interface === d.interface && x.destination.endsWith("/0"))).toBe(true);
  });
});

describe("get_listening_ports and get_active_connections", () => {
  let tcp: Server;
  let tcp6: Server;
  let udp: UdpSocket;
  let tcpPort: number;
  let tcp6Port: number;
  let udpPort: number;
  let client: Socket;
  let clientPort: number;

  beforeAll(async () => {
    tcp = createServer((s) => s.on("error", () => undefined));
    tcpPort = await listen(tcp);
    tcp6 = createServer();
    tcp6Port = await listen(tcp6, "::1");
    udp = createSocket("udp4");
    await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", resolve));
    udpPort = udp.address().port;
    client = connect(tcpPort, "127.0.0.1");
    await new Promise((resolve) => client.once("connect", resolve));
    clientPort = client.localPort!;
  });

  afterAll(async () => {
    client.destroy();
    udp.close();
    await Promise.all([close(tcp), close(tcp6)]);
  });

  it("lists our TCP, TCP6 and UDP sockets with this process as owner", async () => {
    const r = getListeningPorts.output.parse(await h.get_listening_ports(getListeningPorts.input.parse({}), testContext()));
    expect(r.sockets).toContainEqual({ protocol: "tcp", address: "127.0.0.1", port: tcpPort, pid: process.pid, process: selfComm });
    expect(r.sockets).toContainEqual({ protocol: "tcp6", address: "::1", port: tcp6Port, pid: process.pid, process: selfComm });
    expect(r.sockets).toContainEqual({ protocol: "udp", address: "127.0.0.1", port: udpPort, pid: process.pid, process: selfComm });
    // The client socket is connected, not listening.
    expect(r.sockets.some((s) => s.port === clientPort)).toBe(false);
    expect(r.total).toBe(r.sockets.length);
    expect(r.truncated).toBe(false);
  });

  it("filters by protocol", async () => {
    const t = await h.get_listening_ports(getListeningPorts.input.parse({ protocol: "tcp" }), testContext());
    expect(t.sockets.every((s) => s.protocol.startsWith("tcp"))).toBe(true);
    expect(t.sockets.some((s) => s.port === tcpPort)).toBe(true);
    const u = await h.get_listening_ports(getListeningPorts.input.parse({ protocol: "udp" }), testContext());
    expect(u.sockets.every((s) => s.protocol.startsWith("udp"))).toBe(true);
    expect(u.sockets.some((s) => s.port === udpPort)).toBe(true);
  });

  it("shows both ends of an established loopback connection, filtered by port", async () => {
    const r = getActiveConnections.output.parse(await h.get_active_connections(getActiveConnections.input.parse({ port: tcpPort }), testContext()));
    expect(r.connections).toContainEqual({
      protocol: "tcp",
      localAddress: "127.0.0.1",
      localPort: clientPort,
      remoteAddress: "127.0.0.1",
      remotePort: tcpPort,
      pid: process.pid,
      process: selfComm,
    });
    expect(r.connections).toContainEqual(expect.objectContaining({ localPort: tcpPort, remotePort: clientPort, pid: process.pid }));
    expect(r.total).toBe(2);
    expect(r.connections.every((c) => c.localPort === tcpPort || c.remotePort === tcpPort)).toBe(true);
  });

  it("applies the limit and reports the total", async () => {
    const r = await h.get_active_connections(getActiveConnections.input.parse({ port: tcpPort, limit: 1 }), testContext());
    expect(r.connections).toHaveLength(1);
    expect(r.total).toBe(2);
    expect(r.truncated).toBe(true);
  });

  it("refuses bad input in the schema, naming the field", () => {
    expect(schemaErrors(getListeningPorts.input, { protocol: "sctp" })).toMatch(/^protocol: /);
    expect(schemaErrors(getActiveConnections.input, { port: 70000 })).toMatch(/^port: /);
    expect(schemaErrors(getActiveConnections.input, { limit: 1001 })).toMatch(/^limit: /);
    expect(schemaErrors(getActiveConnections.input, { limit: "5" })).toMatch(/^limit: /);
  });
});

describe("get_dns_config", () => {
  it("reports this host's resolv.conf, nsswitch hosts line and hosts entries", async () => {
    const r = getDnsConfig.output.parse(await h.get_dns_config({}, testContext()));
    const expected = readFileSync("/etc/resolv.conf", "utf8")
      .split("\n")
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
      .filter(Boolean);
    expect(r.resolvConf?.nameservers).toEqual(expected);
    expect(r.nsswitchHosts).toEqual(parseNsswitchHosts(readFileSync("/etc/nsswitch.conf", "utf8")));
    expect(r.hostsFileEntries).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------------------------
// test_connectivity

/** A listener whose accept queue is full (its thread never accepts): SYNs to it go unanswered. */
async function blackholePort(): Promise<{ port: number; stop: () => Promise<void> }> {
  const flag = new SharedArrayBuffer(4);
  const worker = new Worker(
    `const { parentPort, workerData } = require("node:worker_threads");
     const srv = require("node:net").createServer();
     srv.listen({ host: "127.0.0.1", port: 0, backlog: 1 }, () => {
       parentPort.postMessage(srv.address().port);
       Atomics.wait(new Int32Array(workerData), 0, 0, 30000); // blocks this thread: no accept()
     });`,
    { eval: true, workerData: flag },
  );
  const port = await new Promise<number>((resolve) => worker.once("message", resolve));
  const fillers: Socket[] = [];
  for (let i = 0; i < 4; i++) {
    const s = connect(port, "127.0.0.1");
    s.on("error", () => undefined);
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 100));
  return {
    port,
    stop: async () => {
      for (const s of fillers) s.destroy();
      Atomics.store(new Int32Array(flag), 0, 1);
      Atomics.notify(new Int32Array(flag), 0);
      await worker.terminate();
    },
  };
}

describe("test_connectivity", () => {
  let server: Server;
  let openPort: number;
  beforeAll(async () => {
    server = createServer((s) => s.destroy());
    openPort = await listen(server);
  });
  afterAll(() => close(server));

  const run = (input: unknown, c = testContext()) => h.test_connectivity(testConnectivity.input.parse(input), c);

  it("reports open and refused ports on 127.0.0.1 with connect times", async () => {
    const refused = await closedPort();
    const r = testConnectivity.output.parse(await run({ host: "127.0.0.1", ports: [openPort, refused], timeoutMs: 1000 }));
    expect(r.address).toBe("127.0.0.1");
    expect(r.resolved).toEqual(["127.0.0.1"]);
    expect(r.results).toEqual([
      { port: openPort, status: "open", connectMs: expect.any(Number), error: null },
      { port: refused, status: "refused", connectMs: expect.any(Number), error: "connection refused" },
    ]);
  });

  it("reports a timeout when the SYN is never answered, within the per-probe timeout", async () => {
    const hole = await blackholePort();
    try {
      const started = performance.now();
      const r = await run({ host: "127.0.0.1", ports: [hole.port, openPort], timeoutMs: 300 });
      const ms = performance.now() - started;
      expect(r.results[0]).toMatchObject({ port: hole.port, status: "timeout" });
      expect(r.results[0]!.connectMs).toBeGreaterThanOrEqual(290);
      expect(r.results[1]).toMatchObject({ port: openPort, status: "open" });
      // Probes run concurrently: the whole call takes one timeout, not one per port.
      expect(ms).toBeLessThan(1500);
    } finally {
      await hole.stop();
    }
  });

  it("resolves a name once (localhost from /etc/hosts) and connects to the vetted address", async () => {
    const r = await run({ host: "localhost", ports: [openPort] });
    expect(r.resolved).toContain(r.address);
    expect(["127.0.0.1", "::1"]).toContain(r.address);
  });

  it("connects over IPv6 loopback", async () => {
    const s6 = createServer((s) => s.destroy());
    const p6 = await listen(s6, "::1");
    try {
      const r = await run({ host: "::1", ports: [p6] });
      expect(r.results[0]!.status).toBe("open");
    } finally {
      await close(s6);
    }
  });

  it("refuses link-local, metadata, unspecified, broadcast and multicast addresses without opening a socket", async () => {
    for (const host of ["169.254.169.254", "169.254.1.1", "fe80::1", "0.0.0.0", "::", "255.255.255.255", "224.0.0.1", "::ffff:169.254.169.254"]) {
      let err: DiagnosticError | undefined;
      const sockets = await clientSocketsDuring(async () => {
        err = await rejectsWith(run({ host, ports: [80], timeoutMs: 100 }));
      });
      expect(err?.code, host).toBe("PERMISSION_DENIED");
      expect(err?.message, host).toMatch(/^host: refused/);
      expect(sockets, host).toBe(0);
    }
  });

  it("refuses loopback when the agent config says so, also through a name", async () => {
    const noLoop = testContext({ config: { network: { allowLoopback: false } } });
    expect((await rejectsWith(run({ host: "127.0.0.1", ports: [openPort] }, noLoop))).message).toMatch(/network\.allowLoopback/);
    expect((await rejectsWith(run({ host: "localhost", ports: [openPort] }, noLoop))).message).toMatch(/^host: refused \("localhost" resolves to/);
  });

  it("allows link-local when the agent config says so (address policy only; no packet sent here)", async () => {
    const { checkAddress } = await import("../../agent/src/address-policy");
    expect(checkAddress("169.254.169.254", testContext({ config: { network: { allowLinkLocal: true } } }).config.network).allowed).toBe(true);
  });

  it("refuses bad input in the schema, naming the field", () => {
    const t = testConnectivity.input;
    expect(schemaErrors(t, { host: "127.0.0.1", ports: [] })).toMatch(/^ports: ports must list at least one port/);
    expect(schemaErrors(t, { host: "127.0.0.1", ports: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] })).toMatch(/^ports: ports lists more than 10 ports/);
    expect(schemaErrors(t, { host: "127.0.0.1", ports: [80, 80] })).toMatch(/^ports: ports lists a port twice/);
    expect(schemaErrors(t, { host: "127.0.0.1", ports: [0] })).toMatch(/^ports\.0: /);
    expect(schemaErrors(t, { host: "127.0.0.1", ports: [65536] })).toMatch(/^ports\.0: /);
    expect(schemaErrors(t, { host: "127.0.0.1", ports: [80.5] })).toMatch(/^ports\.0: /);
    expect(schemaErrors(t, { host: "127.0.0.1", ports: [80], timeoutMs: 50 })).toMatch(/^timeoutMs: /);
    expect(schemaErrors(t, { host: "127.0.0.1", ports: [80], timeoutMs: 10001 })).toMatch(/^timeoutMs: /);
    for (const host of ["-oProxyCommand=x", "a;b", "$(id)", "`id`", "a b", "a\nb", "a\0b", "x".repeat(1024 * 1024), ""]) {
      expect(schemaErrors(t, { host, ports: [80] }), JSON.stringify(host.slice(0, 20))).toMatch(/^host: /);
    }
    expect(schemaErrors(t, { host: "127.0.0.1", ports: [80], count: 3 })).toMatch(/Unrecognized key/);
  });
});

// ---------------------------------------------------------------------------------------------
// dns_lookup against a small DNS server on 127.53.x.y:53

type RR = { type: number; data: Buffer; ttl?: number };

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, "").split(".").filter(Boolean);
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p)])), Buffer.from([0])]);
}
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u32 = (n: number) => Buffer.from([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
const T = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33 };

const ZONE: Record<string, RR[] | "SERVFAIL" | "SILENT"> = {
  [`www.test.:${T.A}`]: [
    { type: T.A, data: Buffer.from([192, 0, 2, 10]), ttl: 300 },
    { type: T.A, data: Buffer.from([192, 0, 2, 11]), ttl: 300 },
  ],
  [`www.test.:${T.AAAA}`]: [{ type: T.AAAA, data: Buffer.from("20010db8000000000000000000000010", "hex"), ttl: 120 }],
  [`alias.test.:${T.CNAME}`]: [{ type: T.CNAME, data: encodeName("www.test") }],
  [`test.:${T.NS}`]: [{ type: T.NS, data: encodeName("ns1.test") }],
  [`test.:${T.MX}`]: [{ type: T.MX, data: Buffer.concat([u16(10), encodeName("mail.test")]) }],
  [`test.:${T.TXT}`]: [{ type: T.TXT, data: Buffer.concat([Buffer.from([5]), Buffer.from("v=spf"), Buffer.from([8]), Buffer.from("1 -all x")]) }],
  [`_sip._tcp.test.:${T.SRV}`]: [{ type: T.SRV, data: Buffer.concat([u16(10), u16(5), u16(5060), encodeName("sip.test")]) }],
  [`test.:${T.SOA}`]: [
    { type: T.SOA, data: Buffer.concat([encodeName("ns1.test"), encodeName("hostmaster.test"), u32(2026112101), u32(7200), u32(900), u32(1209600), u32(300)]) },
  ],
  [`10.2.0.192.in-addr.arpa.:${T.PTR}`]: [{ type: T.PTR, data: encodeName("www.test") }],
  [`fail.test.:${T.A}`]: "SERVFAIL",
  [`silent.test.:${T.A}`]: "SILENT",
  [`nodata.test.:${T.MX}`]: [],
};

function parseQuestion(msg: Buffer): { id: number; name: string; type: number; end: number } | null {
  if (msg.length < 12) return null;
  let off = 12;
  const labels: string[] = [];
  while (off < msg.length && msg[off] !== 0) {
    const len = msg[off]!;
    labels.push(msg.subarray(off + 1, off + 1 + len).toString().toLowerCase());
    off += 1 + len;
  }
  off += 1;
  return { id: msg.readUInt16BE(0), name: `${labels.join(".")}.`, type: msg.readUInt16BE(off), end: off + 4 };
}

function answer(query: Buffer): Buffer | null {
  const q = parseQuestion(query);
  if (!q) return null;
  const entry = ZONE[`${q.name}:${q.type}`];
  if (entry === "SILENT") return null;
  const known = Object.keys(ZONE).some((k) => k.startsWith(`${q.name}:`));
  const rcode = entry === "SERVFAIL" ? 2 : entry === undefined && !known ? 3 : 0;
  const rrs = Array.isArray(entry) ? entry : [];
  const question = query.subarray(12, q.end);
  const header = Buffer.concat([u16(q.id), u16(0x8180 | rcode), u16(1), u16(rrs.length), u16(0), u16(0)]);
  const body = rrs.map((rr) => Buffer.concat([encodeName(q.name), u16(rr.type), u16(1), u32(rr.ttl ?? 60), u16(rr.data.length), rr.data]));
  return Buffer.concat([header, question, ...body]);
}

describeAsRoot("dns_lookup", "its test DNS server binds port 53 (on a 127.53.x.y address)", () => {
  const dnsAddress = `127.53.${process.pid % 250}.${1 + Math.floor(Math.random() * 250)}`;
  let dns: UdpSocket;
  const queries: string[] = [];

  beforeAll(async () => {
    dns = createSocket("udp4");
    dns.on("message", (msg, rinfo) => {
      const q = parseQuestion(msg);
      if (q) queries.push(`${q.name}:${q.type}`);
      const reply = answer(msg);
      if (reply) dns.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve, reject) => {
      dns.once("error", reject);
      dns.bind(53, dnsAddress, () => resolve());
    });
  });
  afterAll(() => dns.close());

  const run = (input: Record<string, unknown>, c = testContext()) => h.dns_lookup(dnsLookup.input.parse({ server: dnsAddress, timeoutMs: 2000, ...input }), c);

  it("resolves A records with TTLs through the given server", async () => {
    const r = dnsLookup.output.parse(await run({ name: "www.test" }));
    expect(r.status).toBe("NOERROR");
    expect(r.server).toBe(dnsAddress);
    expect(r.answers).toEqual([
      { value: "192.0.2.10", ttl: 300, fields: null },
      { value: "192.0.2.11", ttl: 300, fields: null },
    ]);
    expect(queries).toContain(`www.test.:${T.A}`);
  });

  it("resolves AAAA, CNAME, NS, MX, TXT, SRV and SOA", async () => {
    expect((await run({ name: "www.test", recordType: "AAAA" })).answers).toEqual([{ value: "2001:db8::10", ttl: 120, fields: null }]);
    expect((await run({ name: "alias.test", recordType: "CNAME" })).answers.map((a) => a.value)).toEqual(["www.test"]);
    expect((await run({ name: "test", recordType: "NS" })).answers.map((a) => a.value)).toEqual(["ns1.test"]);
    expect((await run({ name: "test", recordType: "MX" })).answers).toEqual([{ value: "10 mail.test", ttl: null, fields: { priority: 10, exchange: "mail.test" } }]);
    expect((await run({ name: "test", recordType: "TXT" })).answers.map((a) => a.value)).toEqual(["v=spf1 -all x"]);
    expect((await run({ name: "_sip._tcp.test", recordType: "SRV" })).answers).toEqual([
      { value: "10 5 5060 sip.test", ttl: null, fields: { priority: 10, weight: 5, port: 5060, target: "sip.test" } },
    ]);
    const soa = await run({ name: "test", recordType: "SOA" });
    expect(soa.answers[0]!.value).toBe("ns1.test hostmaster.test 2026112101 7200 900 1209600 300");
    expect(soa.answers[0]!.fields).toMatchObject({ nsname: "ns1.test", serial: 2026112101 });
  });

  it("does a reverse lookup for PTR of an IP address", async () => {
    const r = await run({ name: "192.0.2.10", recordType: "PTR" });
    expect(r.status).toBe("NOERROR");
    expect(r.answers.map((a) => a.value)).toEqual(["www.test"]);
    expect(queries).toContain(`10.2.0.192.in-addr.arpa.:${T.PTR}`);
  });

  it("reports NXDOMAIN, NODATA and SERVFAIL as statuses", async () => {
    expect((await run({ name: "missing.test" })).status).toBe("NXDOMAIN");
    expect((await run({ name: "nodata.test", recordType: "MX" })).status).toBe("NODATA");
    expect((await run({ name: "fail.test" })).status).toBe("SERVFAIL");
  });

  it("gives up at the timeout when the server never answers", async () => {
    const started = performance.now();
    const r = await run({ name: "silent.test", timeoutMs: 400 });
    const ms = performance.now() - started;
    expect(r.status).toBe("TIMEOUT");
    expect(r.answers).toEqual([]);
    expect(ms).toBeLessThan(1500);
  });

  it("refuses a link-local or metadata server and an unspecified one, without querying", async () => {
    const before = queries.length;
    for (const server of ["169.254.169.253", "169.254.169.254", "fe80::1", "0.0.0.0", "224.0.0.251"]) {
      const e = await rejectsWith(run({ name: "www.test", server }));
      expect(e.code, server).toBe("PERMISSION_DENIED");
      expect(e.message, server).toMatch(/^server: refused/);
    }
    expect(queries.length).toBe(before);
  });

  it("refuses a loopback server when the config disallows loopback", async () => {
    const e = await rejectsWith(run({ name: "www.test" }, testContext({ config: { network: { allowLoopback: false } } })));
    expect(e.message).toMatch(/network\.allowLoopback/);
  });

  it("refuses bad input in the schema, naming the field", () => {
    const d = dnsLookup.input;
    expect(schemaErrors(d, { name: "example.org", recordType: "ANY" })).toMatch(/^recordType: /);
    expect(schemaErrors(d, { name: "example.org", recordType: "AXFR" })).toMatch(/^recordType: /);
    expect(schemaErrors(d, { name: "example.org", server: "dns.google" })).toMatch(/^server: /);
    expect(schemaErrors(d, { name: "example.org", server: "127.0.0.1:5353" })).toMatch(/^server: /);
    expect(schemaErrors(d, { name: "example.org", timeoutMs: 99 })).toMatch(/^timeoutMs: /);
    for (const name of ["-x.example", "a;b", "$(id)", "a b", "a\nb", "x".repeat(300), ""]) {
      expect(schemaErrors(d, { name }), JSON.stringify(name.slice(0, 20))).toMatch(/^name: /);
    }
    expect(d.parse({ name: "example.org" })).toEqual({ name: "example.org", recordType: "A", timeoutMs: 3000 });
  });
});

// ---------------------------------------------------------------------------------------------
// check_http against real HTTP and HTTPS servers on 127.0.0.1

async function selfSignedCert(): Promise<{ cert: string; key: string }> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=hostward-test.local, O=hostward tests",
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 30 * 86_400_000),
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]["keys"],
    signingAlgorithm: alg,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "ip", value: "127.0.0.1" }, { type: "dns", value: "localhost" }])],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString("base64").replace(/(.{64})/g, "$1\n")}\n-----END PRIVATE KEY-----\n`;
  return { cert: cert.toString("pem"), key };
}

describe("check_http", () => {
  let http: HttpServer;
  let https: HttpsServer;
  let hang: Server;
  let httpPort: number;
  let httpsPort: number;
  let hangPort: number;
  const hits: string[] = [];

  beforeAll(async () => {
    const handler = (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => {
      hits.push(`${req.method} ${req.url}`);
      if (req.url === "/redirect") {
        res.writeHead(302, { Location: "/target" });
        res.end();
      } else if (req.url === "/big") {
        res.writeHead(200, { "Content-Type": "application/octet-stream" });
        res.end(Buffer.alloc(1024 * 1024, 0x61));
      } else if (req.url === "/slow-body") {
        res.writeHead(200, { "Content-Type": "text/plain" });
        res.write("partial");
      } else {
        res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", Server: "hostward-test", "X-Secret": "not returned" });
        res.end(req.method === "HEAD" ? undefined : "hello\n");
      }
    };
    http = createHttpServer(handler);
    httpPort = await listen(http);
    https = createHttpsServer(await selfSignedCert(), handler);
    httpsPort = await listen(https);
    // Accepts connections and never answers.
    hang = createServer(() => undefined);
    hangPort = await listen(hang);
  });

  afterAll(async () => {
    await Promise.all([close(http), close(https), close(hang)]);
  });

  const run = (input: Record<string, unknown>, c = testContext()) => h.check_http(checkHttp.input.parse(input), c);

  it("GETs a page: status, a subset of headers, timings, body counted not returned", async () => {
    const r = checkHttp.output.parse(await run({ url: `http://127.0.0.1:${httpPort}/health?x=1` }));
    expect(r.status).toBe(200);
    expect(r.statusText).toBe("OK");
    expect(r.address).toBe("127.0.0.1");
    expect(r.headers).toEqual({ contentType: "text/plain; charset=utf-8", contentLength: null, server: "hostward-test", location: null });
    expect(JSON.stringify(r)).not.toContain("not returned");
    expect(JSON.stringify(r)).not.toContain("hello");
    expect(r.bodyBytesRead).toBe(6);
    expect(r.bodyTruncated).toBe(false);
    expect(r.tls).toBeNull();
    expect(r.error).toBeNull();
    const t = r.timings;
    expect(t.tlsMs).toBeNull();
    expect(t.dnsMs).toBeLessThanOrEqual(t.connectMs!);
    expect(t.connectMs!).toBeLessThanOrEqual(t.ttfbMs!);
    expect(t.ttfbMs!).toBeLessThanOrEqual(t.totalMs);
    expect(hits).toContain("GET /health?x=1");
  });

  it("sends HEAD when asked", async () => {
    const r = await run({ url: `http://127.0.0.1:${httpPort}/head-check`, method: "HEAD" });
    expect(r.status).toBe(200);
    expect(r.method).toBe("HEAD");
    expect(r.bodyBytesRead).toBe(0);
    expect(hits).toContain("HEAD /head-check");
  });

  it("reports a redirect without following it", async () => {
    const r = await run({ url: `http://localhost:${httpPort}/redirect` });
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe("/target");
    expect(r.redirect).toBe(`http://localhost:${httpPort}/target`);
    expect(hits).not.toContain("GET /target");
  });

  it("reads at most 64 KiB of body", async () => {
    const r = await run({ url: `http://127.0.0.1:${httpPort}/big` });
    expect(r.status).toBe(200);
    expect(r.bodyBytesRead).toBe(64 * 1024);
    expect(r.bodyTruncated).toBe(true);
    expect(r.error).toBeNull();
  });

  it("times out on a server that never answers, within the timeout", async () => {
    const started = performance.now();
    const r = await run({ url: `http://127.0.0.1:${hangPort}/`, timeoutMs: 300 });
    const ms = performance.now() - started;
    expect(r.status).toBeNull();
    expect(r.error?.kind).toBe("timeout");
    expect(r.timings.connectMs).not.toBeNull();
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(1500);
  });

  it("keeps the status when the body does not finish in time", async () => {
    const r = await run({ url: `http://127.0.0.1:${httpPort}/slow-body`, timeoutMs: 300 });
    expect(r.status).toBe(200);
    expect(r.bodyBytesRead).toBe(7);
    expect(r.error?.kind).toBe("timeout");
  });

  it("reports a refused connection", async () => {
    const r = await run({ url: `http://127.0.0.1:${await closedPort()}/` });
    expect(r.status).toBeNull();
    expect(r.error?.kind).toBe("refused");
  });

  it("reports an unverified certificate and does not read the response by default", async () => {
    const before = hits.length;
    const r = checkHttp.output.parse(await run({ url: `https://127.0.0.1:${httpsPort}/` }));
    expect(r.status).toBeNull();
    expect(r.error?.kind).toBe("tls");
    expect(r.error?.message).toMatch(/certificate not trusted.*insecureSkipVerify/);
    expect(r.tls).toMatchObject({ verified: false, subject: expect.stringContaining("CN=hostward-test.local") });
    expect(r.tls?.verifyError).toMatch(/SELF_SIGNED/);
    expect(r.timings.tlsMs).not.toBeNull();
    expect(hits.length).toBe(before);
  });

  it("reads the response with insecureSkipVerify and still reports the certificate", async () => {
    const r = await run({ url: `https://localhost:${httpsPort}/tls`, insecureSkipVerify: true });
    expect(r.status).toBe(200);
    expect(r.error).toBeNull();
    expect(r.tls?.verified).toBe(false);
    expect(r.tls?.issuer).toContain("CN=hostward-test.local");
    expect(r.tls?.subjectAltNames).toContain("DNS:localhost");
    expect(r.tls?.protocol).toMatch(/^TLSv1\.[23]$/);
    expect(r.tls?.daysLeft).toBeGreaterThanOrEqual(29);
    expect(r.tls?.daysLeft).toBeLessThanOrEqual(30);
    expect(r.timings.tlsMs!).toBeGreaterThanOrEqual(r.timings.connectMs!);
  });

  it("reports a TLS error when the server does not speak TLS", async () => {
    const r = await run({ url: `https://127.0.0.1:${httpPort}/`, timeoutMs: 2000 });
    expect(r.status).toBeNull();
    expect(r.error?.kind).toBe("tls");
  });

  it("refuses link-local and metadata URLs in any spelling without opening a socket", async () => {
    for (const url of [
      "http://169.254.169.254/",
      "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
      "http://169.254.1.1:8080/",
      "http://[fe80::1]/",
      "http://[::ffff:169.254.169.254]/",
      "http://[::ffff:a9fe:a9fe]/",
      "http://2852039166/", // 169.254.169.254 as one decimal number
      "http://0xa9.0xfe.0xa9.0xfe/",
      "http://0251.0376.0251.0376/",
      "http://[fd00:ec2::254]/",
      "http://100.100.100.200/",
      "http://0.0.0.0/",
      "http://[::]:80/",
    ]) {
      let err: DiagnosticError | undefined;
      const sockets = await clientSocketsDuring(async () => {
        err = await rejectsWith(run({ url }));
      });
      expect(err?.code, url).toBe("PERMISSION_DENIED");
      expect(err?.message, url).toMatch(/^url: refused/);
      expect(sockets, url).toBe(0);
    }
  });

  it("applies the policy to the resolved addresses of a name", async () => {
    const e = await rejectsWith(run({ url: `http://localhost:${httpPort}/` }, testContext({ config: { network: { allowLoopback: false } } })));
    expect(e.message).toMatch(/^url: refused \("localhost" resolves to (127\.0\.0\.1|::1)\)/);
  });

  it("refuses other schemes, credentials and malformed URLs in the schema, naming url", () => {
    const c = checkHttp.input;
    expect(schemaErrors(c, { url: "file:///etc/passwd" })).toMatch(/^url: url must start with http:\/\/ or https:\/\//);
    expect(schemaErrors(c, { url: "ftp://127.0.0.1/" })).toMatch(/^url: url must start with http/);
    expect(schemaErrors(c, { url: "gopher://127.0.0.1:70/" })).toMatch(/^url: /);
    expect(schemaErrors(c, { url: "javascript:alert(1)" })).toMatch(/^url: /);
    expect(schemaErrors(c, { url: "http://user:secret@127.0.0.1/" })).toMatch(/^url: url must not contain credentials/);
    expect(schemaErrors(c, { url: "http://user@127.0.0.1/" })).toMatch(/credentials/);
    expect(schemaErrors(c, { url: "http://" })).toMatch(/^url: /);
    expect(schemaErrors(c, { url: "http://127.0.0.1/\nX-Injected: 1" })).toMatch(/control character/);
    expect(schemaErrors(c, { url: `http://127.0.0.1/${"a".repeat(1024 * 1024)}` })).toMatch(/longer than 2048/);
    expect(schemaErrors(c, { url: "http://127.0.0.1/", method: "POST" })).toMatch(/^method: /);
    expect(schemaErrors(c, { url: "http://127.0.0.1/", timeoutMs: 15001 })).toMatch(/^timeoutMs: /);
    expect(schemaErrors(c, { url: "http://127.0.0.1/", headers: {} })).toMatch(/Unrecognized key/);
  });

  it("re-checks the scheme in the handler too (defence in depth)", async () => {
    const { parseCheckUrl } = await import("../../agent/src/net/http-check");
    expect(() => parseCheckUrl("file:///etc/passwd")).toThrowError(/^url: scheme "file:" is not allowed/);
    expect(() => parseCheckUrl("http://a:b@127.0.0.1/")).toThrowError(/credentials/);
  });
});
