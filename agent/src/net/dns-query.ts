// One DNS query with node:dns's Resolver (c-ares): no dig, no shell. The whole lookup, retries
// included, is bounded by a deadline after which the query is cancelled. Answers are returned as
// text plus typed fields; "no such name", "no data", SERVFAIL and timeouts are statuses.
import { Resolver } from "node:dns/promises";
import { isIP } from "node:net";

export type RecordType = "A" | "AAAA" | "CNAME" | "MX" | "NS" | "TXT" | "SRV" | "PTR" | "SOA";
type DnsStatus = "NOERROR" | "NXDOMAIN" | "NODATA" | "SERVFAIL" | "REFUSED" | "TIMEOUT" | "ERROR";

const MAX_ANSWERS = 100;
const MAX_TXT_CHARS = 4096;

interface DnsAnswer {
  value: string;
  ttl: number | null;
  fields: Record<string, string | number> | null;
}

export interface DnsQueryResult {
  status: DnsStatus;
  answers: DnsAnswer[];
  durationMs: number;
  error: string | null;
  truncated: boolean;
}

export interface DnsQueryOptions {
  /** A resolver IP (port 53); undefined: the host's resolv.conf servers. */
  server?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

const STATUS_BY_CODE: Record<string, DnsStatus> = {
  ENOTFOUND: "NXDOMAIN",
  ENODATA: "NODATA",
  ESERVFAIL: "SERVFAIL",
  EREFUSED: "REFUSED",
  ETIMEOUT: "TIMEOUT",
  ECANCELLED: "TIMEOUT",
  ECONNREFUSED: "ERROR",
};

const plain = (value: string): DnsAnswer => ({ value, ttl: null, fields: null });

async function query(resolver: Resolver, name: string, type: RecordType): Promise<DnsAnswer[]> {
  switch (type) {
    case "A":
      return (await resolver.resolve4(name, { ttl: true })).map((r) => ({ value: r.address, ttl: r.ttl, fields: null }));
    case "AAAA":
      return (await resolver.resolve6(name, { ttl: true })).map((r) => ({ value: r.address, ttl: r.ttl, fields: null }));
    case "CNAME":
      return (await resolver.resolveCname(name)).map(plain);
    case "NS":
      return (await resolver.resolveNs(name)).map(plain);
    case "PTR":
      // An address is a reverse lookup (1.2.3.4 → 4.3.2.1.in-addr.arpa); a name is queried as is.
      return (isIP(name) ? await resolver.reverse(name) : await resolver.resolvePtr(name)).map(plain);
    case "MX":
      return (await resolver.resolveMx(name)).map((r) => ({
        value: `${r.priority} ${r.exchange}`,
        ttl: null,
        fields: { priority: r.priority, exchange: r.exchange },
      }));
    case "TXT":
      return (await resolver.resolveTxt(name)).map((chunks) => plain(chunks.join("").slice(0, MAX_TXT_CHARS)));
    case "SRV":
      return (await resolver.resolveSrv(name)).map((r) => ({
        value: `${r.priority} ${r.weight} ${r.port} ${r.name}`,
        ttl: null,
        fields: { priority: r.priority, weight: r.weight, port: r.port, target: r.name },
      }));
    case "SOA": {
      const s = await resolver.resolveSoa(name);
      return [
        {
          value: `${s.nsname} ${s.hostmaster} ${s.serial} ${s.refresh} ${s.retry} ${s.expire} ${s.minttl}`,
          ttl: null,
          fields: { ...s },
        },
      ];
    }
  }
}

export async function dnsQuery(name: string, type: RecordType, opts: DnsQueryOptions): Promise<DnsQueryResult> {
  // Two tries per server, each a third of the budget, and a hard stop at the budget.
  const resolver = new Resolver({ timeout: Math.max(50, Math.floor(opts.timeoutMs / 3)), tries: 2 });
  if (opts.server !== undefined) resolver.setServers([opts.server]);
  const started = performance.now();
  let timedOut = false;
  const cancel = () => {
    timedOut = true;
    resolver.cancel();
  };
  const timer = setTimeout(cancel, opts.timeoutMs);
  opts.signal?.addEventListener("abort", cancel, { once: true });
  const elapsed = () => Math.round((performance.now() - started) * 100) / 100;
  try {
    const answers = await query(resolver, name, type);
    return { status: "NOERROR", answers: answers.slice(0, MAX_ANSWERS), durationMs: elapsed(), error: null, truncated: answers.length > MAX_ANSWERS };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "";
    const status = timedOut ? "TIMEOUT" : (STATUS_BY_CODE[code] ?? "ERROR");
    const error = timedOut ? `no answer within ${opts.timeoutMs} ms` : `${code || "error"}: ${(err as Error).message}`;
    return { status, answers: [], durationMs: elapsed(), error, truncated: false };
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", cancel);
  }
}
