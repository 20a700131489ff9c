// hostward approve ID [--key FILE | --agent [--key-id SHA256:…]] [--yes] [--config DIR]
// A human approves one action request: the command prints exactly what will run (host, action,
// params, impact, the catalog's `runs` lines, expiry), asks for confirmation on the terminal
// (refuses without one unless --yes), signs the canonical statement with the approver's ed25519 key
// (a key file, or ssh-agent so the key never enters this process) and records APPROVED.
import { createInterface } from "node:readline";
import { approvalSummary } from "../actions/describe";
import { localIdentity, openActions, parseIdCommand } from "../actions/cli-context";
import { agentSigner, fileSigner, type Signer } from "../approval/signer";
import { agentSocket } from "../approval/ssh-agent";
import { missingConfigDir } from "./config-dir";

const USAGE = `Usage: hostward approve ID (--key FILE | --agent [--key-id SHA256:…]) [--yes] [--config DIR]

Shows exactly what the action request ID will run, asks for confirmation, signs the approval with
your ed25519 approver key and records it. The host runs the action only if one of its approver keys
(/etc/hostward/approvers/*.pub) made the signature and allows the action's impact.
  --key FILE       sign with this private key (OpenSSH "ssh-keygen -t ed25519" format or PKCS#8 PEM, unencrypted)
  --agent          sign with the ed25519 key held by your ssh-agent ($SSH_AUTH_SOCK)
  --key-id ID      with --agent: which key, when the agent holds several ("SHA256:…" as ssh-keygen -l prints)
  --yes            do not ask (for scripts); without it a terminal is required
  --config DIR     the broker configuration directory (its broker.yaml names the state directory)
`;

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

function ask(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
    // Resolve before close(): "close" (also Ctrl-D / end of input) answers "" = no.
    rl.question(question, (answer) => {
      resolve(answer);
      rl.close();
    });
    rl.on("close", () => resolve(""));
  });
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseIdCommand(
    "approve",
    argv,
    {
      key: { type: "string" },
      agent: { type: "boolean" },
      "key-id": { type: "string" },
      yes: { type: "boolean" },
      config: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    USAGE,
  );
  if ("exit" in parsed) return parsed.exit;
  const { id, values } = parsed;
  if ((values.key === undefined) === !values.agent) {
    process.stderr.write(`hostward approve: choose one of --key FILE or --agent\n\n${USAGE}`);
    return 2;
  }

  const missing = missingConfigDir(values.config);
  if (missing) {
    process.stderr.write(`hostward ${"approve"}: ${missing}\n`);
    return 1;
  }
  const { service } = openActions(values.config);
  const request = await service.get(id);
  if (!request) {
    process.stderr.write(`hostward approve: no action request ${id}\n`);
    return 1;
  }
  for (const line of approvalSummary(request)) say(line);
  if (request.state !== "PENDING") {
    process.stderr.write(`hostward approve: ${id} is ${request.state}; only a PENDING request can be approved\n`);
    return 1;
  }

  let signer: Signer;
  try {
    signer = values.agent ? await agentSigner(agentSocket(), values["key-id"]) : fileSigner(values.key!);
  } catch (err) {
    process.stderr.write(`hostward approve: ${(err as Error).message}\n`);
    return 1;
  }
  say(`  signer:    ${signer.keyId}${signer.comment ? ` (${signer.comment})` : ""} from ${signer.source}`);

  if (!values.yes) {
    if (!process.stdin.isTTY) {
      process.stderr.write("hostward approve: refusing: there is no terminal to confirm on (stdin is not a TTY); pass --yes to approve without asking\n");
      return 1;
    }
    const answer = (await ask(`Approve ${request.action} on ${request.host}? [y/N] `)).trim().toLowerCase();
    if (answer !== "y" && answer !== "yes") {
      say("Not approved (nothing changed).");
      return 1;
    }
  }

  const approver = `${localIdentity()} key ${signer.keyId}`;
  let outcome: Awaited<ReturnType<typeof service.approve>>;
  try {
    // The request as printed above: what is signed, or nothing is (service.approve refuses a changed one).
    outcome = await service.approve(id, signer, { via: "cli", approver }, request);
  } catch (err) {
    process.stderr.write(`hostward approve: not approved: ${(err as Error).message}\n`);
    return 1;
  }
  if (!outcome.ok) {
    process.stderr.write(`hostward approve: not approved: ${outcome.reason}\n`);
    return 1;
  }
  const until = new Date(outcome.request.expiresAt * 1000).toISOString();
  say(`APPROVED ${id} by ${approver}; valid once, until ${until}. The requester can now call execute_action.`);
  return 0;
}
