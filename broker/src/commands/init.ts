// hostward init [--config DIR]: a broker configuration directory that works, in one command —
// the private CA (DIR/pki/), the broker's reader client certificate (DIR/tls/), an empty inventory
// and a starter policy that allows the read-only diagnostics on every host in it (actions need a
// rule by name: a wildcard never covers them). Nothing that exists is replaced; what is there
// already is reported and kept. Everything is reported on stderr (stdout stays the MCP channel's).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { configFiles, defaultConfigDir } from "../paths";
import { createCa, describeCertificate, issueClientCert, writePem } from "../pki/index";

const USAGE = `Usage: hostward init [--config DIR]

Creates, unless they exist, in DIR (default ${defaultConfigDir()}; or $HOSTWARD_CONFIG):
  pki/ca.crt, pki/ca.key        the private CA (ECDSA P-256; keep ca.key off the hosts)
  tls/ca.crt, tls/reader.crt/.key   the broker's client certificate for the reader role (24 h;
                                renew with: hostward pki issue-client --role reader)
  hosts.yaml                    the inventory, empty (hostward hosts add, hostward inventory import)
  policy.yaml                   allows the read-only diagnostic groups on every host
Then: hostward pki issue-agent HOST …, install the package on the host, hostward-agent enroll.
`;

export const STARTER_POLICY = `# hostward policy: which tools may run on which hosts. Deny by default; deny wins.
# A rule's target is a host name, tag:NAME or "*"; allow/deny list tools or group:NAME.
# Written by "hostward init": the read-only diagnostics on every host in hosts.yaml. Actions
# (group:actions) are never covered by "*" and need a rule of their own.
rules:
  - target: "*"
    allow: [group:system, group:services, group:network, group:logs, group:health]
`;

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: "string" }, help: { type: "boolean", short: "h" } }, strict: true });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const dir = values.config ?? defaultConfigDir();
  const files = configFiles(dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const kept: string[] = [];
  const wrote: string[] = [];

  const caCert = join(files.pkiDir, "ca.crt");
  const caKey = join(files.pkiDir, "ca.key");
  let ca: { cert: string; key: string } | undefined;
  if (existsSync(caCert) || existsSync(caKey)) {
    kept.push(files.pkiDir);
  } else {
    ca = await createCa();
    writePem(caKey, ca.key, { private: true });
    writePem(caCert, ca.cert, { private: false });
    wrote.push(`${caCert}  (the CA; ${caKey} is its private key, mode 0600: keep it off the hosts)`);
  }

  if (existsSync(files.clientCert("reader")) || existsSync(files.clientKey("reader"))) {
    kept.push(files.clientCert("reader"));
  } else {
    if (!ca) {
      if (!existsSync(caCert) || !existsSync(caKey)) {
        say(`hostward init: ${files.pkiDir} holds only part of a CA (ca.crt and ca.key are both needed); move it away or complete it, then run init again`);
        return 1;
      }
      ca = { cert: readFileSync(caCert, "utf8"), key: readFileSync(caKey, "utf8") };
    }
    const pair = await issueClientCert(ca, { role: "reader" });
    writePem(files.clientKey("reader"), pair.key, { private: true });
    writePem(files.clientCert("reader"), pair.cert, { private: false });
    writePem(files.caCert, ca.cert, { private: false });
    wrote.push(`${files.clientCert("reader")}  (the broker's reader certificate, expires ${describeCertificate(pair.cert).notAfter.toISOString()})`);
  }

  for (const [file, text] of [
    [files.hosts, "# hostward inventory: hostward hosts add NAME --address ADDR, or hostward inventory import.\nhosts: []\n"],
    [files.policy, STARTER_POLICY],
  ] as const) {
    if (existsSync(file)) kept.push(file);
    else {
      writeFileSync(file, text, { mode: 0o644, flag: "wx" });
      wrote.push(file);
    }
  }

  if (wrote.length) say(`wrote:\n${wrote.map((w) => `  ${w}`).join("\n")}`);
  if (kept.length) say(`kept (already there):\n${kept.map((k) => `  ${k}`).join("\n")}`);
  say(`\nnext: hostward pki issue-agent HOST --ip ADDR --out HOST-tls   (the host's certificate)\n      hostward hosts add HOST --address ADDR                    (the inventory)`);
  return 0;
}
