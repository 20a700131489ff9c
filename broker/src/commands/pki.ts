// hostward pki init | issue-agent | issue-client: the private CA without an openssl binary.
// hostward pki issue-user | revoke-user | users: team mode's people (config/users.ts).
// Everything is reported on stderr (stdout stays free for `hostward serve`'s MCP channel); only
// --help goes to stdout.
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { printable } from "../../../shared/printable";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { IMPACTS, keyIdOf, publicKeyBlob, type Impact } from "../../../proto/catalog/approval";
import { formatOpenSshPrivateKey, openSshPublicLine } from "../approval/private-key";
import { configFiles, defaultConfigDir } from "../paths";
import type { z } from "zod";
import { describeIssues } from "../../../shared/zod-issues";
import { groupName, MAX_USERS, newUserToken, personName, readUsersFile, userTokenHash, writeUsersFile, type UserEntry } from "../config/users";
import {
  createCa,
  describeCertificate,
  issueAgentCerts,
  issueClientCert,
  LIMITS,
  PkiError,
  ROLES,
  writePem,
  type PemPair,
  type Role,
} from "../pki/index";

const USAGE = `Usage:
  hostward pki init [--dir DIR] [--force]
      Create the CA (DIR/ca.crt, DIR/ca.key). Refuses to replace an existing CA without --force.
  hostward pki issue-agent HOST [--dns NAME]... [--ip ADDR]... [--days N] [--out DIR] [--dir DIR]
      Issue a host's two server certificates, one key each: the reader's and the operator's
      (serverAuth only; SAN DNS HOST + each --dns, SAN IP each --ip, SAN URI
      urn:hostward:role:ROLE; default ${LIMITS.agentDays.default} days). Writes OUT/reader.crt,
      OUT/reader.key, OUT/operator.crt, OUT/operator.key and OUT/ca.crt (default OUT:
      DIR/agents/HOST). Install them on the host under /etc/hostward/tls/ with the same names
      (keys root-owned, mode 0600).
  hostward pki issue-client --role reader|operator [--name NAME] [--hours N] [--out DIR] [--dir DIR]
      Issue the broker's client certificate for one role (clientAuth only, SAN URI
      urn:hostward:role:ROLE; default ${LIMITS.clientHours.default} h, at most ${LIMITS.clientHours.max} h).
      Writes OUT/ROLE.crt, OUT/ROLE.key and OUT/ca.crt (default OUT: the broker's TLS directory).

  hostward pki approver-key NAME [--max-impact LOW|MEDIUM|HIGH] [--identity PERSON] [--out DIR]
      Make an ed25519 approver key pair for \`hostward approve --key\` (or ssh-add it and use --agent):
      OUT/NAME (private, OpenSSH format, mode 0600), OUT/NAME.pub, and OUT/NAME.approver, the line
      to install on each host as /etc/hostward/approvers/NAME.pub (root-owned, 0644). The key approves
      actions up to --max-impact (default LOW). --identity names the person the key belongs to
      (identity="PERSON": the hosts refuse it on PERSON's own requests, and keys naming one person
      count once; \`hostward approve\` records it as approverIdentity when the line is in
      DIR/approvers). Default OUT: DIR/approvers. Never overwrites.

  hostward pki revoke (CERTFILE | --serial HEX | --fingerprint sha256:HEX) [--reason TEXT] [--dir DIR]
      Revoke a certificate (a leaked broker client certificate, a retired host's): adds its serial
      (or fingerprint) to DIR/revoked.list and prints the line. Distribute the file to every host
      as /etc/hostward/revoked.list (root-owned, mode 0644, e.g. with scp or your configuration
      management); the agents re-read it within a second, no restart, and refuse the certificate
      (PERMISSION_DENIED, "revoked on this host"). Then issue a new certificate.

  hostward pki issue-user NAME [--group GROUP]... [--expires DAYS] [--config DIR]
      Team mode (serve --http): a bearer token for one person, printed once on stdout. Only its
      SHA-256 is kept, with NAME and the groups, in DIR/users.jsonl (mode 0600). Calls made with it
      are recorded as NAME (requester mcp:http:CLIENT:NAME); policy.yaml rules may name NAME or a
      GROUP. Refuses a NAME already there. Reload the broker (SIGHUP or reload_config) to apply.
  hostward pki revoke-user NAME [--config DIR]
      Removes NAME from DIR/users.jsonl; after a reload its token is refused (401).
  hostward pki users [--config DIR]
      Lists the people of DIR/users.jsonl (names, groups, dates; never a hash).

DIR is the CA directory (default: the "pki" directory inside the broker configuration directory);
for the user commands, the broker configuration directory (default: ${defaultConfigDir()}).
`;

class UsageError extends Error {}

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

function wholeNumber(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]{1,6}$/.test(text)) throw new UsageError(`${flag} must be a whole number (got ${JSON.stringify(text)})`);
  return Number(text);
}

function caFiles(dir: string) {
  return { cert: join(dir, "ca.crt"), key: join(dir, "ca.key") };
}

function readCa(dir: string): PemPair {
  const files = caFiles(dir);
  for (const file of [files.cert, files.key]) {
    if (!existsSync(file)) throw new PkiError(`no CA in ${dir} (${file} is missing): run "hostward pki init" first`);
  }
  return { cert: readFileSync(files.cert, "utf8"), key: readFileSync(files.key, "utf8") };
}

function reportCertificate(path: string, pem: string): void {
  const facts = describeCertificate(pem);
  say(`  ${path}  ${facts.subject}${facts.sans.length ? `  [${facts.sans.join(", ")}]` : ""}  expires ${facts.notAfter.toISOString()}`);
}

function writePairs(dir: string, pairs: ReadonlyArray<[base: string, pair: PemPair]>, ca: PemPair): void {
  say("wrote:");
  for (const [base, pair] of pairs) {
    const certPath = join(dir, `${base}.crt`);
    const keyPath = join(dir, `${base}.key`);
    writePem(keyPath, pair.key, { private: true });
    writePem(certPath, pair.cert, { private: false });
    reportCertificate(certPath, pair.cert);
    say(`  ${keyPath}  (private key, mode 0600)`);
  }
  const caPath = join(dir, "ca.crt");
  writePem(caPath, ca.cert, { private: false });
  reportCertificate(caPath, ca.cert);
}

async function init(argv: string[], defaultDir: string): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { dir: { type: "string" }, force: { type: "boolean", default: false } },
    allowPositionals: false,
    strict: true,
  });
  const dir = values.dir ?? defaultDir;
  const files = caFiles(dir);
  const existing = [files.cert, files.key].filter((f) => existsSync(f));
  if (existing.length > 0 && !values.force) {
    say(`hostward pki init: ${existing.join(" and ")} already exist; pass --force to replace the CA (every certificate it issued stops being trusted)`);
    return 1;
  }
  const ca = await createCa();
  writePem(files.key, ca.key, { private: true });
  writePem(files.cert, ca.cert, { private: false });
  say("wrote:");
  reportCertificate(files.cert, ca.cert);
  say(`  ${files.key}  (CA private key, mode 0600: keep it off the hosts)`);
  return 0;
}

async function issueAgent(argv: string[], defaultDir: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      dns: { type: "string", multiple: true, default: [] },
      ip: { type: "string", multiple: true, default: [] },
      days: { type: "string" },
      out: { type: "string" },
      dir: { type: "string" },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new UsageError(`issue-agent takes exactly one HOST (got ${positionals.length})`);
  const host = positionals[0] as string;
  const days = wholeNumber("--days", values.days);
  const dir = values.dir ?? defaultDir;
  const ca = readCa(dir);
  const pairs = await issueAgentCerts(ca, { host, dns: values.dns, ips: values.ip, ...(days !== undefined && { validityDays: days }) });
  const out = values.out ?? join(dir, "agents", host);
  writePairs(out, ROLES.map((role) => [role, pairs[role]] as [string, PemPair]), ca);
  say(`install on ${host} (as root): ca.crt, reader.crt, operator.crt (0644) and reader.key, operator.key (0600) in /etc/hostward/tls/`);
  return 0;
}

async function issueClient(argv: string[], defaultDir: string, defaultTlsDir: string): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      role: { type: "string" },
      name: { type: "string" },
      hours: { type: "string" },
      out: { type: "string" },
      dir: { type: "string" },
    },
    allowPositionals: false,
    strict: true,
  });
  if (values.role === undefined) throw new UsageError(`issue-client needs --role ${ROLES.join("|")}`);
  if (!ROLES.includes(values.role as Role)) throw new UsageError(`--role must be ${ROLES.join(" or ")} (got ${JSON.stringify(values.role)})`);
  const role = values.role as Role;
  const hours = wholeNumber("--hours", values.hours);
  const ca = readCa(values.dir ?? defaultDir);
  const pair = await issueClientCert(ca, {
    role,
    ...(values.name !== undefined && { name: values.name }),
    ...(hours !== undefined && { validityHours: hours }),
  });
  writePairs(values.out ?? defaultTlsDir, [[role, pair]], ca);
  return 0;
}

/** Creates `file` with `data`; refuses to replace an existing file. */
function writeNew(file: string, data: string, mode: number): void {
  let fd: number;
  try {
    fd = openSync(file, "wx", mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new PkiError(`${file} already exists; not overwriting it`);
    throw new PkiError(`cannot write ${file}: ${(err as Error).message}`);
  }
  try {
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/** `hostward pki revoke`: one line added to DIR/revoked.list (the format of agent/src/server/revocation.ts). */
async function revoke(argv: string[], defaultDir: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { serial: { type: "string" }, fingerprint: { type: "string" }, reason: { type: "string" }, dir: { type: "string" } },
    allowPositionals: true,
    strict: true,
  });
  const given = [positionals.length > 0, values.serial !== undefined, values.fingerprint !== undefined].filter(Boolean).length;
  if (given !== 1 || positionals.length > 1) throw new UsageError("revoke takes exactly one of CERTFILE, --serial HEX or --fingerprint sha256:HEX");
  let entry: string;
  let about: string;
  if (positionals[0] !== undefined) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(readFileSync(positionals[0]));
    } catch (err) {
      throw new PkiError(`${positionals[0]} is not a readable PEM certificate: ${(err as Error).message}`);
    }
    entry = `serial ${cert.serialNumber.toLowerCase()}`;
    about = `${cert.subject.replace(/\n/g, ", ")}, valid until ${new Date(cert.validTo).toISOString()}`;
  } else if (values.serial !== undefined) {
    if (!/^[0-9A-Fa-f:]{1,128}$/.test(values.serial)) throw new UsageError(`--serial must be hex (got ${JSON.stringify(values.serial)})`);
    entry = `serial ${values.serial.replace(/:/g, "").toLowerCase()}`;
    about = "by serial";
  } else {
    const fp = (values.fingerprint ?? "").replace(/^sha256:/i, "").replace(/:/g, "").toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(fp)) throw new UsageError(`--fingerprint must be sha256:<64 hex> (got ${JSON.stringify(values.fingerprint)})`);
    entry = `sha256 ${fp}`;
    about = "by fingerprint";
  }
  const reason = values.reason === undefined ? "" : `, reason: ${printable(values.reason, { ascii: true }).slice(0, 200)}`;
  const line = `${entry}  # ${printable(about, { ascii: true })}, revoked ${new Date().toISOString()}${reason}`;
  const dir = values.dir ?? defaultDir;
  const file = join(dir, "revoked.list");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const header = existsSync(file) ? "" : "# hostward revocation list (hostward pki revoke). Install on every host as /etc/hostward/revoked.list,\n# root-owned, mode 0644; the agents re-read it without a restart.\n";
  appendFileSync(file, `${header}${line}\n`, { mode: 0o644 });
  say(`revoked: ${line}`);
  say(`copy ${file} to every host as /etc/hostward/revoked.list (root-owned, 0644), e.g.:`);
  say(`  scp ${file} HOST: && ssh HOST sudo install -m 0644 revoked.list /etc/hostward/revoked.list`);
  process.stdout.write(`${line}\n`);
  return 0;
}

async function approverKey(argv: string[], defaultDir: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { "max-impact": { type: "string", default: "LOW" }, identity: { type: "string" }, out: { type: "string" }, dir: { type: "string" } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new UsageError(`approver-key takes exactly one NAME (got ${positionals.length})`);
  const name = positionals[0] as string;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name)) throw new UsageError(`NAME must be 1-63 letters, digits, _ . - (got ${JSON.stringify(name)})`);
  const maxImpact = values["max-impact"] as string;
  if (!(IMPACTS as readonly string[]).includes(maxImpact)) throw new UsageError(`--max-impact must be ${IMPACTS.join(", ")} (got ${JSON.stringify(maxImpact)})`);
  const out = values.out ?? join(values.dir ?? defaultDir, "approvers");
  mkdirSync(out, { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync("ed25519");
  const publicLine = openSshPublicLine(privateKey, name);
  const identity = values.identity === undefined ? undefined : checked(personName, values.identity);
  const approverLine = `max-impact="${maxImpact as Impact}"${identity !== undefined ? `,identity="${identity}"` : ""} ${publicLine}`;
  const files = { key: join(out, name), pub: join(out, `${name}.pub`), approver: join(out, `${name}.approver`) };
  for (const f of Object.values(files)) if (existsSync(f)) throw new PkiError(`${f} already exists; not overwriting it`);
  writeNew(files.key, formatOpenSshPrivateKey(privateKey, name), 0o600);
  writeNew(files.pub, `${publicLine}\n`, 0o644);
  writeNew(files.approver, `${approverLine}\n`, 0o644);
  say("wrote:");
  say(`  ${files.key}  (private key, mode 0600: keep it with the approver, never on a host; or ssh-add it and delete the file)`);
  say(`  ${files.pub}  ${keyIdOf(publicKeyBlob(privateKey))}`);
  say(`  ${files.approver}`);
  say(`install on each host (root-owned, mode 0644) as /etc/hostward/approvers/${name}.pub:`);
  process.stdout.write(`${approverLine}\n`);
  return 0;
}

function usersFileOf(config: string | undefined): { file: string; users: UserEntry[] } {
  const file = configFiles(config ?? defaultConfigDir()).users;
  const read = readUsersFile(file);
  if (read.problems.length > 0) throw new PkiError(`${file} is not valid, so it is not changed:\n  ${read.problems.join("\n  ")}`);
  return { file, users: read.users };
}

function checked<T>(schema: z.ZodType<T>, value: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new UsageError(describeIssues(r.error));
  return r.data;
}

async function issueUser(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { group: { type: "string", multiple: true, default: [] }, expires: { type: "string" }, config: { type: "string" } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new UsageError(`issue-user takes exactly one NAME (got ${positionals.length})`);
  const name = checked(personName, positionals[0] as string);
  const groups = [...new Set(values.group.map((g) => checked(groupName, g)))];
  if (groups.length > 64) throw new UsageError("at most 64 --group per user");
  const days = wholeNumber("--expires", values.expires);
  if (days !== undefined && (days < 1 || days > 3650)) throw new UsageError(`--expires must be 1 to 3650 days (got ${days})`);
  const configDir = values.config ?? defaultConfigDir();
  if (!existsSync(configDir)) throw new PkiError(`${configDir} does not exist (hostward init creates the broker configuration directory)`);
  const { file, users } = usersFileOf(configDir);
  if (users.some((u) => u.name === name)) throw new PkiError(`${file} already has a user ${JSON.stringify(name)}; revoke it first (hostward pki revoke-user ${name}) to issue a new token`);
  if (users.length >= MAX_USERS) throw new PkiError(`${file} already has ${MAX_USERS} users, the most it may`);
  const token = newUserToken();
  const now = new Date();
  const entry: UserEntry = {
    name,
    groups,
    sha256: userTokenHash(token),
    created: now.toISOString(),
    ...(days !== undefined && { expires: new Date(now.getTime() + days * 86_400_000).toISOString() }),
  };
  writeUsersFile(file, [...users, entry]);
  say(`added ${JSON.stringify(name)}${groups.length ? ` (groups ${groups.join(", ")})` : ""}${entry.expires ? `, expires ${entry.expires}` : ""} to ${file} (only the token's SHA-256 is kept)`);
  say("the token is shown once, on stdout, below: give it to that person only; it cannot be shown again (revoke and issue a new one if it is lost).");
  say(`their MCP client sends it as the header  Authorization: Bearer <token>; reload the broker (SIGHUP or reload_config) to accept it.`);
  process.stdout.write(`${token}\n`);
  return 0;
}

async function revokeUser(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { config: { type: "string" } }, allowPositionals: true, strict: true });
  if (positionals.length !== 1) throw new UsageError(`revoke-user takes exactly one NAME (got ${positionals.length})`);
  const name = checked(personName, positionals[0] as string);
  const { file, users } = usersFileOf(values.config);
  if (!users.some((u) => u.name === name)) throw new PkiError(`${file} has no user ${JSON.stringify(name)} (see hostward pki users)`);
  writeUsersFile(file, users.filter((u) => u.name !== name));
  say(`revoked ${JSON.stringify(name)}: removed from ${file}. Reload the broker (SIGHUP or reload_config): from then on the token is refused (401).`);
  return 0;
}

async function listUsers(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: "string" } }, allowPositionals: false, strict: true });
  const { file, users } = usersFileOf(values.config);
  say(`${users.length} user(s) in ${file}`);
  const now = Date.now();
  for (const u of users) {
    const expiry = u.expires === undefined ? "no expiry" : `${Date.parse(u.expires) <= now ? "EXPIRED" : "expires"} ${u.expires}`;
    process.stdout.write(`${u.name}\tgroups: ${u.groups.join(",") || "-"}\tcreated ${u.created}\t${expiry}\n`);
  }
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help" || rest.includes("--help")) {
    process.stdout.write(USAGE);
    return sub === undefined ? 2 : 0;
  }
  const files = configFiles(defaultConfigDir());
  try {
    switch (sub) {
      case "init":
        return await init(rest, files.pkiDir);
      case "issue-agent":
        return await issueAgent(rest, files.pkiDir);
      case "issue-client":
        return await issueClient(rest, files.pkiDir, files.tlsDir);
      case "approver-key":
        return await approverKey(rest, files.pkiDir);
      case "revoke":
        return await revoke(rest, files.pkiDir);
      case "issue-user":
        return await issueUser(rest);
      case "revoke-user":
        return await revokeUser(rest);
      case "users":
        return await listUsers(rest);
      default:
        throw new UsageError(`unknown subcommand ${JSON.stringify(sub)} (init, issue-agent, issue-client, approver-key, revoke, issue-user, revoke-user, users)`);
    }
  } catch (err) {
    // parseArgs throws TypeError with code ERR_PARSE_ARGS_* for unknown or malformed options.
    const code = (err as { code?: string }).code;
    if (err instanceof UsageError || (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"))) {
      say(`hostward pki: ${(err as Error).message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof PkiError) {
      say(`hostward pki: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
