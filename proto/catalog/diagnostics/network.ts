// Network diagnostics: interfaces, routes, sockets and DNS configuration read from /proc, /sys and
// /etc (nothing spawned), and probes made from the host (TCP connect, DNS query, HTTP request)
// that never reach link-local or metadata addresses unless the agent config allows them.
import { isIP } from "node:net";
import { z } from "zod";
import { defineDiagnostic } from "../define";
import { count, dnsName, hostName, ipAddress, tcpPort } from "../grammar";

const MAX_PROBE_PORTS = 10;
export const MAX_SOCKETS = 2000;
export const MAX_ROUTES = 2000;

/** An http:// or https:// URL without credentials, bounded. */
export const httpUrl = z
  .string()
  .max(2048, { message: "url is longer than 2048 characters" })
  // eslint-disable-next-line no-control-regex -- refuses the C0 control characters and DEL in a URL, on purpose
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), { message: "url contains a control character (NUL, newline, …)" })
  .refine((s) => /^https?:\/\//i.test(s), { message: "url must start with http:// or https://" })
  .refine((s) => URL.canParse(s), { message: "url is not a valid URL" })
  .refine((s) => !URL.canParse(s) || (new URL(s).username === "" && new URL(s).password === ""), {
    message: "url must not contain credentials (user:password@)",
  })
  .refine((s) => !URL.canParse(s) || new URL(s).hostname !== "", { message: "url has no host" });

const nullableInt = z.number().int().nullable();

export const getNetworkInterfaces = defineDiagnostic({
  name: "get_network_interfaces",
  group: "network",
  title: "Network interfaces",
  summary:
    "Every network interface with its state, MTU, MAC, addresses and byte/error counters (from /sys/class/net). Use it to see whether a link is up and carrying traffic.",
  input: () => z.strictObject({}),
  output: () => z.object({
    interfaces: z.array(
      z.object({
        name: z.string(),
        operState: z.string().describe("up, down, unknown (loopback), dormant, …"),
        mtu: nullableInt,
        macAddress: z.string().nullable(),
        speedMbps: nullableInt.describe("link speed; null for virtual links or when down"),
        addresses: z.array(
          z.object({
            family: z.enum(["IPv4", "IPv6"]),
            address: z.string(),
            cidr: z.string().nullable(),
            internal: z.boolean(),
          }),
        ),
        rxBytes: nullableInt,
        txBytes: nullableInt,
        rxErrors: nullableInt,
        txErrors: nullableInt,
      }),
    ),
  }),
  limits: ["No arguments; reads /sys/class/net, nothing spawned; at most 512 interfaces."],
  examples: [{ description: "Which links are up", input: {} }],
});

const route = z.object({
  family: z.enum(["ipv4", "ipv6"]),
  destination: z.string().describe("network in CIDR form; 0.0.0.0/0 or ::/0 is the default route"),
  gateway: z.string().nullable().describe("null for a directly connected network"),
  interface: z.string(),
  metric: z.number().int(),
  flags: z.array(z.string()).describe("up, gateway, host, reject, dynamic, modified, addrconf, default, expires"),
});

export const getRoutingTable = defineDiagnostic({
  name: "get_routing_table",
  group: "network",
  title: "Routing table",
  summary: "The IPv4 and IPv6 main routing tables (from /proc/net/route and /proc/net/ipv6_route) and the default gateways.",
  input: () => z.strictObject({}),
  output: () => z.object({
    routes: z.array(route),
    defaultRoutes: z.array(z.object({ family: z.enum(["ipv4", "ipv6"]), gateway: z.string().nullable(), interface: z.string() })),
    truncated: z.boolean(),
  }),
  limits: [`No arguments; reads /proc only, nothing spawned; at most ${MAX_ROUTES} routes.`],
  examples: [{ description: "Where does traffic leave the host", input: {} }],
});

const socketOwner = {
  pid: nullableInt.describe("owning process; null when the agent may not read its /proc/PID/fd"),
  process: z.string().nullable(),
};

export const getListeningPorts = defineDiagnostic({
  name: "get_listening_ports",
  group: "network",
  title: "Listening ports",
  summary:
    "TCP sockets in LISTEN state and unconnected UDP sockets, with the owning process where the agent can see it (from /proc/net). Use it to check that a service listens where expected.",
  input: () => z.strictObject({
    protocol: z.enum(["all", "tcp", "udp"]).default("all"),
  }),
  output: () => z.object({
    sockets: z.array(
      z.object({
        protocol: z.enum(["tcp", "tcp6", "udp", "udp6"]),
        address: z.string().describe("local address; 0.0.0.0 or :: means every address"),
        port: z.number().int(),
        ...socketOwner,
      }),
    ),
    total: z.number().int(),
    truncated: z.boolean(),
  }),
  volatile: ["sockets[].pid"],
  limits: [`Reads /proc only, nothing spawned; at most ${MAX_SOCKETS} sockets.`],
  examples: [
    { description: "Everything listening", input: {} },
    { description: "TCP listeners only", input: { protocol: "tcp" } },
  ],
});

export const getActiveConnections = defineDiagnostic({
  name: "get_active_connections",
  group: "network",
  title: "Active TCP connections",
  summary:
    "Established TCP connections (IPv4 and IPv6) with local and remote endpoints and the owning process where visible, optionally only those using one port.",
  input: () => z.strictObject({
    limit: count(1, 1000, 100),
    port: tcpPort.optional().describe("only connections whose local or remote port is this"),
  }),
  output: () => z.object({
    connections: z.array(
      z.object({
        protocol: z.enum(["tcp", "tcp6"]),
        localAddress: z.string(),
        localPort: z.number().int(),
        remoteAddress: z.string(),
        remotePort: z.number().int(),
        ...socketOwner,
      }),
    ),
    total: z.number().int().describe("established connections matching the filter"),
    truncated: z.boolean(),
  }),
  volatile: ["connections[].pid"],
  limits: ["Reads /proc only, nothing spawned; limit at most 1000 (default 100)."],
  examples: [
    { description: "Connections to or from the database port", input: { port: 5432 } },
    { description: "Up to 500 connections", input: { limit: 500 } },
  ],
});

export const getDnsConfig = defineDiagnostic({
  name: "get_dns_config",
  group: "network",
  title: "DNS client configuration",
  summary:
    "The host's resolver configuration: /etc/resolv.conf name servers, search domains and options, whether it points at a local stub (systemd-resolved's 127.0.0.53), the nsswitch.conf hosts line and the /etc/hosts entry count.",
  input: () => z.strictObject({}),
  output: () => z.object({
    resolvConf: z
      .object({
        path: z.string(),
        symlinkTarget: z.string().nullable().describe("e.g. /run/systemd/resolve/stub-resolv.conf"),
        nameservers: z.array(z.string()),
        search: z.array(z.string()),
        domain: z.string().nullable(),
        options: z.array(z.string()),
      })
      .nullable()
      .describe("null when /etc/resolv.conf is missing"),
    localStub: z
      .enum(["systemd-resolved", "loopback"])
      .nullable()
      .describe("systemd-resolved: 127.0.0.53/127.0.0.54; loopback: another local resolver (unbound, dnsmasq); null: remote servers"),
    nsswitchHosts: z.array(z.string()).nullable().describe("sources of the hosts database, in order"),
    hostsFileEntries: nullableInt.describe("address lines in /etc/hosts"),
  }),
  limits: ["No arguments; reads three files in /etc (64 KiB each at most), nothing spawned."],
  examples: [{ description: "Which resolvers does the host use", input: {} }],
});

export const testConnectivity = defineDiagnostic({
  name: "test_connectivity",
  group: "network",
  title: "Test TCP connectivity",
  summary:
    "From the host, resolves a name once and opens a TCP connection to 1–10 ports of it, reporting per port open / refused / timeout / unreachable with the connect time. Use it to tell a firewall from a stopped service.",
  input: () => z.strictObject({
    host: hostName.describe("host name or IP address to connect to"),
    ports: z
      .array(tcpPort)
      .min(1, { message: "ports must list at least one port" })
      .max(MAX_PROBE_PORTS, { message: `ports lists more than ${MAX_PROBE_PORTS} ports` })
      .refine((p) => new Set(p).size === p.length, { message: "ports lists a port twice" }),
    timeoutMs: count(100, 10_000, 2000).describe("per probe"),
  }),
  output: () => z.object({
    host: z.string(),
    address: z.string().describe("the address connected to (the first the name resolved to)"),
    resolved: z.array(z.string()).describe("every address the name resolved to; all passed the address policy"),
    resolveMs: z.number(),
    results: z.array(
      z.object({
        port: z.number().int(),
        status: z.enum(["open", "refused", "timeout", "unreachable", "error"]),
        connectMs: z.number().nullable().describe("time to connect, or to fail"),
        error: z.string().nullable(),
      }),
    ),
  }),
  limits: [
    `At most ${MAX_PROBE_PORTS} ports, probed concurrently; per-probe timeout 100–10000 ms (default 2000).`,
    "The name is resolved once with the host's resolver; every resolved address must pass the agent's address policy (no link-local or metadata addresses unless allowed; never unspecified, multicast or broadcast).",
    "TCP connect only; no data is sent.",
  ],
  openWorld: true,
  examples: [
    { description: "Can this host reach the database", input: { host: "db.internal.example", ports: [5432] } },
    { description: "Web ports of a peer, short timeout", input: { host: "10.0.0.12", ports: [80, 443], timeoutMs: 500 } },
  ],
});

const DNS_RECORD_TYPES = ["A", "AAAA", "CNAME", "MX", "NS", "TXT", "SRV", "PTR", "SOA"] as const;

export const dnsLookup = defineDiagnostic({
  name: "dns_lookup",
  group: "network",
  title: "DNS lookup",
  summary:
    "From the host, queries DNS for one record type of a name (PTR of an IP address is a reverse lookup), through the host's resolvers or one given server. Reports NXDOMAIN, no data, SERVFAIL and timeouts as a status, not an error.",
  input: () => z.strictObject({
    name: dnsName.describe("name to resolve, or an IP address for PTR"),
    recordType: z.enum(DNS_RECORD_TYPES).default("A"),
    server: ipAddress
      .refine((s) => isIP(s) !== 0, { message: "server is not an IPv4 or IPv6 address (no port, no name)" })
      .optional().describe("resolver IP address to ask (port 53); absent: the host's configured resolvers"),
    timeoutMs: count(100, 10_000, 3000).describe("whole lookup, retries included"),
  }),
  output: () => z.object({
    name: z.string(),
    recordType: z.enum(DNS_RECORD_TYPES),
    server: z.string().nullable().describe("null: the host's resolvers"),
    status: z.enum(["NOERROR", "NXDOMAIN", "NODATA", "SERVFAIL", "REFUSED", "TIMEOUT", "ERROR"]),
    answers: z.array(
      z.object({
        value: z.string().describe('the record as text, e.g. "10 mail.example.org" for MX'),
        ttl: z.number().int().nullable().describe("seconds; given for A and AAAA only"),
        fields: z.record(z.string(), z.union([z.string(), z.number()])).nullable().describe("MX, SRV, SOA fields"),
      }),
    ),
    truncated: z.boolean().describe("more than 100 answers; the rest were dropped"),
    durationMs: z.number(),
    error: z.string().nullable(),
  }),
  limits: [
    "Timeout 100–10000 ms for the whole lookup (default 3000); at most 100 answers, TXT values cut at 4096 characters.",
    "A given server must pass the agent's address policy (link-local refused unless allowed).",
  ],
  openWorld: true,
  examples: [
    { description: "Mail servers of a domain", input: { name: "example.org", recordType: "MX" } },
    { description: "Ask one resolver directly", input: { name: "www.example.org", recordType: "AAAA", server: "10.0.0.53" } },
  ],
});

const HTTP_BODY_READ_BYTES = 64 * 1024;

export const checkHttp = defineDiagnostic({
  name: "check_http",
  group: "network",
  title: "Check an HTTP endpoint",
  summary:
    "From the host, one GET or HEAD request to an http:// or https:// URL: status, a few headers, timings (DNS, connect, TLS, first byte, total) and the TLS certificate's subject, issuer, expiry and whether it verified. Redirects are reported, not followed; the body is not returned.",
  input: () => z.strictObject({
    url: httpUrl.describe("http:// or https:// URL without credentials"),
    method: z.enum(["GET", "HEAD"]).default("GET"),
    timeoutMs: count(100, 15_000, 5000).describe("whole request"),
    insecureSkipVerify: z.boolean().default(false).describe("still read the response when the certificate does not verify (verification is reported either way)"),
  }),
  output: () => z.object({
    url: z.string(),
    method: z.enum(["GET", "HEAD"]),
    address: z.string().describe("the address connected to (vetted by the address policy)"),
    status: nullableInt.describe("HTTP status; null when no response arrived"),
    statusText: z.string().nullable(),
    httpVersion: z.string().nullable(),
    headers: z.object({
      contentType: z.string().nullable(),
      contentLength: z.string().nullable(),
      server: z.string().nullable(),
      location: z.string().nullable(),
    }),
    redirect: z.string().nullable().describe("absolute target of a 3xx Location; not followed"),
    timings: z
      .object({
        dnsMs: z.number(),
        connectMs: z.number().nullable(),
        tlsMs: z.number().nullable(),
        ttfbMs: z.number().nullable(),
        totalMs: z.number(),
      })
      .describe("milliseconds since the start, cumulative (like curl's time_namelookup … time_total)"),
    bodyBytesRead: z.number().int(),
    bodyTruncated: z.boolean().describe(`more than ${HTTP_BODY_READ_BYTES} bytes of body; the rest was not read`),
    tls: z
      .object({
        verified: z.boolean(),
        verifyError: z.string().nullable(),
        protocol: z.string().nullable(),
        subject: z.string().nullable(),
        issuer: z.string().nullable(),
        subjectAltNames: z.string().nullable(),
        validFrom: z.string().nullable(),
        validTo: z.string().nullable(),
        daysLeft: nullableInt,
      })
      .nullable(),
    error: z
      .object({
        kind: z.enum(["timeout", "refused", "reset", "unreachable", "tls", "protocol", "other"]),
        message: z.string(),
      })
      .nullable(),
  }),
  limits: [
    "http and https only, no credentials in the URL; one request, no redirects followed, no body returned.",
    `Body read at most ${HTTP_BODY_READ_BYTES} bytes; timeout 100–15000 ms for the whole request (default 5000).`,
    "The name is resolved first and every address must pass the agent's address policy; the request goes to that vetted address (no second resolution).",
  ],
  openWorld: true,
  examples: [
    { description: "Is the site up, and when does its certificate expire", input: { url: "https://www.example.org/" } },
    { description: "Health endpoint on a local port, HEAD only", input: { url: "http://127.0.0.1:8080/healthz", method: "HEAD", timeoutMs: 1000 } },
  ],
});

export const networkDiagnostics = [
  getNetworkInterfaces,
  getRoutingTable,
  getListeningPorts,
  getActiveConnections,
  getDnsConfig,
  testConnectivity,
  dnsLookup,
  checkHttp,
] as const;
