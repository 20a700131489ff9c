// Resolve a caller's host once and vet every address with the address policy. Probes then
// connect to the vetted address itself, so a second resolution (DNS rebinding between check and
// connect) cannot send them elsewhere.
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { assertAddressesAllowed, type AddressPolicy } from "../address-policy";
import { DiagnosticError } from "../diagnostics/context";

const MAX_RESOLVED = 32;

export interface VettedHost {
  /** Every address the name resolved to (IP literal: itself), each allowed by the policy. */
  resolved: string[];
  /** The address to connect to: the first one, as the policy judged it (mapped IPv6 → IPv4). */
  address: string;
  family: 4 | 6;
  resolveMs: number;
}

export interface ResolveOptions {
  /** Field name for errors ("host", "url"). */
  field: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

function withDeadline<T>(p: Promise<T>, ms: number, what: string, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fail = (message: string) => reject(new DiagnosticError("UNAVAILABLE", message));
    const timer = setTimeout(() => fail(`${what} took longer than ${ms} ms`), ms);
    const onAbort = () => fail(`${what} was cancelled`);
    signal?.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    });
  });
}

export async function resolveVetted(host: string, policy: AddressPolicy, opts: ResolveOptions): Promise<VettedHost> {
  const started = performance.now();
  const literal = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  let addresses: string[];
  if (isIP(literal) !== 0) {
    addresses = [literal];
  } else {
    try {
      const found = await withDeadline(
        lookup(host, { all: true, verbatim: true }),
        opts.timeoutMs,
        `resolving ${JSON.stringify(host)}`,
        opts.signal,
      );
      addresses = [...new Set(found.map((a) => a.address))].slice(0, MAX_RESOLVED);
    } catch (err) {
      if (err instanceof DiagnosticError) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? "error";
      if (code === "EAI_AGAIN") {
        throw new DiagnosticError("UNAVAILABLE", `${opts.field}: resolving ${JSON.stringify(host)} failed temporarily (EAI_AGAIN)`);
      }
      throw new DiagnosticError("NOT_FOUND", `${opts.field}: ${JSON.stringify(host)} does not resolve (${code})`);
    }
    if (addresses.length === 0) throw new DiagnosticError("NOT_FOUND", `${opts.field}: ${JSON.stringify(host)} has no address`);
  }
  const verdicts = assertAddressesAllowed(addresses, policy, opts.field, literal);
  const first = verdicts[0]!;
  return { resolved: addresses, address: first.address, family: first.family, resolveMs: performance.now() - started };
}
