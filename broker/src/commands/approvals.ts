// hostward approvals (--key FILE | --agent [--key-id SHA256:…]) [--config DIR] [--port N]
// The approver's own page, started by the approver on their machine (never by the MCP server the
// model drives): it lists the PENDING action requests and roll-outs exactly as `hostward approve`
// prints them, with their expiry counting down, and approves (signing in this process, with the key
// chosen here on the terminal exactly as `hostward approve` chooses it) or rejects with a reason.
// The server: approval/web-server.ts (127.0.0.1 only, one-time link, Host/Origin checks, CSRF).
import { parseArgs } from "node:util";
import { approverIdentity, localIdentity, openActions } from "../actions/cli-context";
import { approverSigner, signerLine, type Signer } from "../approval/signer";
import { startApprovalsServer } from "../approval/web-server";
import { missingConfigDir } from "./config-dir";

const USAGE = `Usage: hostward approvals (--key FILE | --agent [--key-id SHA256:…]) [--config DIR] [--port N]

Serves a page on 127.0.0.1 for you, the approver, in your browser: every PENDING action request and
roll-out, each shown exactly as "hostward approve ID" shows it, with its expiry counting down; an
Approve button signs it with your approver key in this process (the key never reaches the browser)
and a Reject form records your reason. Prints the page's one-time link on stderr: open it in your
browser (it works once, then the page is tied to that browser's session). Ctrl-C stops it.
  --key FILE       sign with this private key (OpenSSH "ssh-keygen -t ed25519" format or PKCS#8 PEM, unencrypted)
  --agent          sign with the ed25519 key held by your ssh-agent ($SSH_AUTH_SOCK)
  --key-id ID      with --agent: which key, when the agent holds several ("SHA256:…" as ssh-keygen -l prints)
  --config DIR     the broker configuration directory (its broker.yaml names the state directory)
  --port N         listen on 127.0.0.1:N (default: a random free port)
`;

const say = (line: string) => process.stderr.write(`hostward approvals: ${line}\n`);

export async function run(argv: string[]): Promise<number> {
  let values: { key?: string; agent?: boolean; "key-id"?: string; config?: string; port?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      allowPositionals: false,
      strict: true,
      options: { key: { type: "string" }, agent: { type: "boolean" }, "key-id": { type: "string" }, config: { type: "string" }, port: { type: "string" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (err) {
    process.stderr.write(`hostward approvals: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if ((values.key === undefined) === !values.agent) {
    process.stderr.write(`hostward approvals: choose one of --key FILE or --agent\n\n${USAGE}`);
    return 2;
  }
  if (values["key-id"] !== undefined && !values.agent) {
    process.stderr.write(`hostward approvals: --key-id goes with --agent\n\n${USAGE}`);
    return 2;
  }
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!/^\d{1,5}$/.test(values.port ?? "0") || port > 65535) {
    process.stderr.write(`hostward approvals: --port must be a port number (0-65535; 0: a random one)\n`);
    return 2;
  }
  const missing = missingConfigDir(values.config);
  if (missing) {
    process.stderr.write(`hostward approvals: ${missing}\n`);
    return 1;
  }

  let signer: Signer;
  try {
    signer = await approverSigner({ key: values.key, agent: values.agent, keyId: values["key-id"] });
  } catch (err) {
    process.stderr.write(`hostward approvals: ${(err as Error).message}\n`);
    return 1;
  }
  const { service, rollouts, audit, configDir } = openActions(values.config);
  const who = localIdentity();
  const approver = `${who} key ${signer.keyId}`;
  let server;
  try {
    const identity = approverIdentity(configDir, signer.keyId);
    server = await startApprovalsServer({ service, rollouts, signer, approver, ...(identity !== undefined && { identity }), who, signerText: signerLine(signer), configDir, port, log: say });
  } catch (err) {
    process.stderr.write(`hostward approvals: cannot listen on 127.0.0.1:${port}: ${(err as Error).message}\n`);
    await audit.close();
    return 1;
  }
  process.stderr.write(`${signerLine(signer)}\n`);
  say(`signing as ${approver}`);
  // The link is printed, not handed to another program: a browser started with it would carry the
  // one-time token in its command line, which other users of this machine can read.
  say(`open this link in your browser (it works once): ${server.url}`);
  say("Ctrl-C stops it.");

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  say(`${signal}: stopping; nothing pending was changed by stopping`);
  await server.close();
  await audit.close();
  return 0;
}
