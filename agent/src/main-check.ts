// Entry point of `hostward-agent` (dist/agent/hostward-agent.cjs, installed as
// /usr/bin/hostward-agent): host-side commands for enrollment. `check` validates the
// configuration, the certificates and their permissions, and says exactly what is wrong;
// `enroll DIR` installs the certificates `hostward pki issue-agent` wrote, checks, and starts.
// Exit codes: 0 ready, 1 a problem was found, 64 usage.
import { parseArgs } from "node:util";
import { VERSION } from "../../proto/catalog/version";
import { enroll, EnrollError, ENROLL_USAGE } from "./check/enroll";
import { formatFindings } from "./check/findings";
import { DEFAULT_CONFIG_FILE, runCheck, UNIT_TLS_DIR } from "./check/run-check";
import { ROLE_NAMES, type RoleName } from "../../shared/cert-names";

const USAGE = `hostward-agent ${VERSION}: host-side commands of the hostward agent

Usage:
  hostward-agent check [--config FILE] [--role reader|operator] [--tls-dir DIR]
                              is this host ready for hostward-reader/-operator.service?
${ENROLL_USAGE}  hostward-agent --help | --version

check validates the configuration (default ${DEFAULT_CONFIG_FILE}), the TLS directory and files
(DIR/ca.crt, and per role DIR/reader.crt + reader.key and DIR/operator.crt + operator.key; DIR
is ${UNIT_TLS_DIR} unless the configuration names other files), their owner and permissions (the
keys root's, mode 0600), and that each certificate is current, carries serverAuth, a DNS or IP
name and its own role (urn:hostward:role:ROLE), matches its key (each role its own) and was issued
by the CA. --role checks one role's files only (each unit runs that before it starts). Run it as
root. Exit 0 when ready, 1 otherwise.
`;

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    process.stderr.write(`hostward-agent: ${(err as Error).message}\n\n${USAGE}`);
    return 64;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (command === "enroll") {
    if (rest.length !== 1) {
      process.stderr.write(`hostward-agent: enroll takes exactly one DIR (got ${rest.length})\n\n${USAGE}`);
      return 64;
    }
    try {
      return await enroll({
        source: rest[0] as string,
        configFile: values.config,
        keepSource: values.keep,
        noStart: values["no-start"],
        out: (text) => process.stdout.write(text),
      });
    } catch (err) {
      if (!(err instanceof EnrollError)) throw err;
      process.stderr.write(`hostward-agent enroll: ${err.message}\n`);
      return 1;
    }
  }
  if (command !== "check" || rest.length !== 0 || values.keep || values["no-start"]) {
    process.stderr.write(`hostward-agent: ${positionals.length === 0 ? "a command is required" : `unknown command ${JSON.stringify(positionals.join(" "))}`}\n\n${USAGE}`);
    return 64;
  }
  const role = values.role;
  if (role !== undefined && !(ROLE_NAMES as readonly string[]).includes(role)) {
    process.stderr.write(`hostward-agent: --role must be ${ROLE_NAMES.join(" or ")} (got ${JSON.stringify(role)})\n\n${USAGE}`);
    return 64;
  }
  const findings = runCheck({ configFile: values.config, ...(role !== undefined && { roles: [role as RoleName] }), ...(values["tls-dir"] !== undefined && { tlsDir: values["tls-dir"] }) });
  process.stdout.write(formatFindings(findings));
  return findings.count("error") === 0 ? 0 : 1;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      config: { type: "string" },
      role: { type: "string" },
      "tls-dir": { type: "string" },
      keep: { type: "boolean" },
      "no-start": { type: "boolean" },
      help: { type: "boolean" },
      version: { type: "boolean" },
    },
    allowPositionals: true,
    strict: true,
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`hostward-agent: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
