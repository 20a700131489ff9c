// Strict grammars for every kind of value a caller may send. Both the broker (MCP input) and the
// agent (gRPC request) validate with these, so a value that reaches an argv slot or a file API has
// already been proved to match. Every grammar refuses: a leading "-", NUL, control characters
// (newline included), and anything longer than its stated bound.
import { isIP } from "node:net";
import { z } from "zod";

// eslint-disable-next-line no-control-regex -- this class is the control characters every grammar refuses
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * A string refusing control characters and a leading "-", then matching `re` — as a regex check,
 * so the JSON Schema that MCP clients see carries it as `pattern` (a model writes a valid value
 * from the schema alone).
 */
export function token(what: string, re: RegExp, max: number, hint: string) {
  return z
    .string()
    .max(max, { message: `${what} is longer than ${max} characters` })
    .refine((s) => !CONTROL.test(s), { message: `${what} contains a control character (NUL, newline, …)` })
    .refine((s) => !s.startsWith("-"), { message: `${what} must not start with "-"` })
    .regex(re, { message: `${what} is not valid: ${hint}` });
}

const UNIT_SUFFIXES = [
  "service", "socket", "target", "timer", "mount", "automount", "swap", "path", "slice", "scope", "device",
];

/** A systemd unit name: "nginx", "nginx.service", "getty@tty1.service". No globs. */
export const unitName = token(
  "unit name",
  new RegExp(String.raw`^[A-Za-z0-9:_.@\\-]{1,250}$`),
  256,
  "letters, digits and : _ . @ - \\ only, no globs or spaces (e.g. nginx.service)",
);

/** Canonical form: a name without a known unit suffix gets ".service" (as systemctl does). */
export function canonicalUnit(name: string): string {
  const dot = name.lastIndexOf(".");
  const suffix = dot >= 0 ? name.slice(dot + 1) : "";
  return UNIT_SUFFIXES.includes(suffix) ? name : `${name}.service`;
}

/** The suffix of a unit name as systemd reads it ("service" for "nginx", "socket" for "nginx.socket"). */
export function unitType(name: string): string {
  const canonical = canonicalUnit(name);
  return canonical.slice(canonical.lastIndexOf(".") + 1);
}

/**
 * A service unit for the service actions, canonicalised: "nginx" becomes "nginx.service" in the
 * parsed value, so what the human approves, what is signed and audited and what the host runs are
 * the same name; a unit of another type (nginx.socket, backup.timer, home.mount …) is refused
 * where the action is proposed, naming the field, instead of only by the host.
 */
export const serviceUnitName = unitName
  .refine((s) => CONTROL.test(s) || s.startsWith("-") || unitType(s) === "service", {
    message: "unit is not a service: this action acts on .service units only (nginx or nginx.service)",
  })
  .overwrite(canonicalUnit);

/** A podman container name or (partial) ID. */
export const containerName = token(
  "container name",
  /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/,
  128,
  "letters, digits and _ . - only, starting with a letter or digit",
);

/**
 * An absolute path without ".." or "." segments and without "//" (an empty segment): one spelling
 * per file, so what policy, audit and the human read is the path that is opened. A trailing "/"
 * (a directory, "/var/log/") is accepted. The agent re-checks the opened file.
 */
export const absolutePath = token("path", /^\//, 4096, "an absolute path starting with /")
  .refine((p) => !p.split("/").some((seg) => seg === ".." || seg === "."), {
    message: 'path must not contain "." or ".." segments',
  })
  .refine((p) => !p.includes("//"), { message: 'path must not contain "//" (an empty segment)' });

const HOST_LABEL = String.raw`[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?`;
const DNS_LABEL = String.raw`[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?`;
const HOST_DNS = new RegExp(String.raw`^${HOST_LABEL}(?:\.${HOST_LABEL})*\.?$`);
const DNS_DNS = new RegExp(String.raw`^${DNS_LABEL}(?:\.${DNS_LABEL})*\.?$`);
// A last label of digits or 0x-hex: inet_aton reads "127.1", "2130706433" and "0x7f.0.0.1" as
// 127.0.0.1, so such a name is an address and must be written as one.
const NUMERIC_LAST_LABEL = /(?:^|\.)(?:[0-9]+|0[xX][0-9A-Fa-f]*)\.?$/;

/**
 * Exactly a DNS name or exactly an IP literal (node:net's isIP): the name a resolver reads is the
 * one policy and audit show. No "127.1" (an address in disguise), no "1.2.3.4.5" or "256.1.1.1",
 * no ":::::" or "a..b" (the address alphabet, but no address).
 */
function nameOrAddress(dns: RegExp): (s: string) => boolean {
  return (s) => isIP(s) !== 0 || (dns.test(s) && !NUMERIC_LAST_LABEL.test(s));
}

/**
 * An inventory name or tag (broker hosts.yaml): no ",", ":", "*" or spaces, which carry meaning in
 * target selectors.
 */
const label = (what: string) =>
  z
    .string()
    .max(63, { message: `${what} is longer than 63 characters` })
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, {
      message: `${what} must start with a letter or digit and contain only letters, digits, _ . - (no spaces, ",", ":" or "*")`,
    });

/** A host's inventory name (what `target` and propose_action name). */
export const hostLabel = label("host name");
/** An inventory tag (`tag:NAME` in a target). */
export const tagLabel = label("tag");

/** The longest target selector the host tools take (broker/src/targets.ts targetArgument). */
export const MAX_TARGET_LENGTH = 4096;

/**
 * A target selector's syntax, as the host tools read it (broker/src/targets.ts resolveTargets): a
 * comma list (spaces around commas ignored) of host names, `tag:NAME` and `*`. Whether the hosts
 * exist is the broker's to say when it resolves the selector against its inventory.
 */
export const targetSelector = z
  .string()
  .min(1, { message: "target must not be empty" })
  .max(MAX_TARGET_LENGTH, { message: `target is longer than ${MAX_TARGET_LENGTH} characters` })
  .refine((s) => !CONTROL.test(s), { message: "target contains a control character (NUL, newline, …)" })
  .refine((s) => s.split(",").every((p) => targetElementOk(p.trim())), {
    message: 'target must be a host name, "tag:NAME", "*" or a comma list of those ("web1,tag:db")',
  });

function targetElementOk(part: string): boolean {
  if (part === "*") return true;
  if (part.startsWith("tag:")) return tagLabel.safeParse(part.slice(4)).success;
  return hostLabel.safeParse(part).success;
}

/** A DNS host name (RFC 1123 labels) or an IPv4/IPv6 literal. */
export const hostName = token("host", new RegExp(`${HOST_DNS.source}|^[0-9A-Fa-f:.]{2,45}$`), 253, "a DNS name (letters, digits, - and .) or an IP address").refine(
  nameOrAddress(HOST_DNS),
  { message: "host is neither a DNS name nor an IP address (IPv4 as a.b.c.d, IPv6 without brackets or port)" },
);

/** A DNS name to resolve; also allows "_" labels (SRV: _sip._tcp.example.org). */
export const dnsName = token("name", new RegExp(`${DNS_DNS.source}|^[0-9A-Fa-f:.]{2,45}$`), 253, "a DNS name (letters, digits, _ - and .) or an IP address").refine(
  nameOrAddress(DNS_DNS),
  { message: "name is neither a DNS name nor an IP address (IPv4 as a.b.c.d, IPv6 without brackets)" },
);

/** An IPv4 or IPv6 literal. */
export const ipAddress = token("server", /^[0-9A-Fa-f:.]{2,45}$/, 45, "an IPv4 or IPv6 address").refine((s) => isIP(s) !== 0, {
  message: "server is not an IPv4 or IPv6 address (no port, no brackets)",
});

/** A user name as useradd accepts it. */
export const userName = token("user", /^[a-z_][a-z0-9_.-]{0,31}\$?$/, 33, "a POSIX user name (e.g. www-data)");

/** A literal substring (free text, but no control characters and bounded). */
export function literalText(what: string, max = 256) {
  return z
    .string()
    .min(1, { message: `${what} must not be empty` })
    .max(max, { message: `${what} is longer than ${max} characters` })
    .refine((s) => !CONTROL.test(s), { message: `${what} contains a control character (NUL, newline, …)` });
}

/**
 * A journal time specification as journalctl --since/--until accept it, restricted to a safe
 * subset: relative ("-1h", "-30min", "-2d"), "now", "today", "yesterday", or an absolute
 * "YYYY-MM-DD[ HH:MM[:SS]]".
 */
export const journalTime = z
  .string()
  .max(32, { message: "time is longer than 32 characters" })
  .refine((s) => /^(?:-\d{1,6}(?:s|sec|m|min|h|d|w)|now|today|yesterday|\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2}(?::\d{2})?)?)$/.test(s), {
    message: 'time must be relative ("-1h", "-30min", "-2d"), "now", "today", "yesterday" or "YYYY-MM-DD[ HH:MM[:SS]]"',
  });

export const PRIORITIES = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"] as const;
export const priority = z.enum(PRIORITIES);

/** A journal cursor as journalctl prints it ("s=…;i=…;b=…;m=…;t=…;x=…"). */
export const journalCursor = token("cursor", /^[A-Za-z0-9=;]{1,512}$/, 512, "a journal cursor from a previous page");

export const tcpPort = z.number().int().min(1).max(65535);

/** A bounded count with a default: 0 from proto means "use the default". */
export function count(min: number, max: number, def: number) {
  return z.number().int().min(min).max(max).default(def);
}
