// hostward approve ID [--key FILE | --agent [--key-id SHA256:…]] [--yes] [--config DIR]
// A human approves one action request: the command prints exactly what will run (host, action,
// params, impact, the catalog's `runs` lines, expiry), asks for confirmation on the terminal
// (refuses without one unless --yes), signs the canonical statement with the approver's ed25519 key
// (a key file, or ssh-agent so the key never enters this process) and records APPROVED.
import { createInterface } from "node:readline";
import { approvalSummary, signatureLines } from "../actions/describe";
import { approverIdentity, localIdentity, openActions, parseIdCommand } from "../actions/cli-context";
import { approverSigner, signerLine, type Signer } from "../approval/signer";
import { missingConfigDir } from "./config-dir";
import { rolloutSummary } from "../rollouts/describe";
import type { RolloutService } from "../rollouts/service";
import type { ActionService } from "../actions/service";
import type { ActionRequest } from "../actions/request";

const USAGE = `Usage: hostward approve ID (--key FILE | --agent [--key-id SHA256:…]) [--yes] [--config DIR]

ID is an action request (act-…) or a roll-out (ro-…: its batches, strategy, gates and every host's
preview are shown, and one signature approves the whole plan). Shows exactly what ID will run, asks for confirmation, signs the approval with
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
  const { service, rollouts } = openActions(values.config);
  if (id.startsWith("ro-")) return approveRollout(rollouts, id, values);
  const request = await service.get(id);
  if (!request) {
    process.stderr.write(`hostward approve: no action request ${id}\n`);
    return 1;
  }
  for (const line of approvalSummary(request)) say(line);
  if (request.state === "APPROVED" && request.approval) return cosign(service, request, values);
  if (request.state !== "PENDING") {
    process.stderr.write(`hostward approve: ${id} is ${request.state}; only a PENDING request can be approved (or an APPROVED one signed once more)\n`);
    return 1;
  }

  const signer = await signerAndConfirmation(values, `Approve ${request.action} on ${request.host}?`);
  if (!signer) return 1;

  const { approver, identity } = approverOf(signer, values);
  let outcome: Awaited<ReturnType<typeof service.approve>>;
  try {
    // The request as printed above: what is signed, or nothing is (service.approve refuses a changed one).
    outcome = await service.approve(id, signer, { via: "cli", approver, ...identity }, request);
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
  if (request.impact === "HIGH") say(`${request.impact} impact: hosts require 2 distinct approver keys by default (actions.yaml approvals.required): a second approver adds theirs with "hostward approve ${id}".`);
  return 0;
}

type Values = { key?: string; agent?: boolean; "key-id"?: string; yes?: boolean; config?: string };

/** Who signs: the local account and key, and the person the key's approver line names (audited as approverIdentity). */
function approverOf(signer: Signer, values: Values): { approver: string; identity: { identity?: string } } {
  const identity = approverIdentity(values.config, signer.keyId);
  return { approver: `${localIdentity()} key ${signer.keyId}`, identity: identity !== undefined ? { identity } : {} };
}


/**
 * An APPROVED request signed once more, over the same statement: a host can require several
 * distinct approver keys for an impact level (actions.yaml approvals.required; HIGH: 2 by default),
 * and it is the host that counts them when the action runs.
 */
async function cosign(service: ActionService, request: ActionRequest, values: Values): Promise<number> {
  for (const line of signatureLines(request.approval!)) say(line);
  const signer = await signerAndConfirmation(values, `Add your signature to ${request.action} on ${request.host}?`);
  if (!signer) return 1;
  const { approver, identity } = approverOf(signer, values);
  let outcome: Awaited<ReturnType<typeof service.cosign>>;
  try {
    outcome = await service.cosign(request.id, signer, { via: "cli", approver, ...identity }, request);
  } catch (err) {
    process.stderr.write(`hostward approve: not signed: ${(err as Error).message}\n`);
    return 1;
  }
  if (!outcome.ok) {
    process.stderr.write(`hostward approve: not signed: ${outcome.reason}\n`);
    return 1;
  }
  const count = 1 + (outcome.request.approval?.cosignatures?.length ?? 0);
  say(`SIGNED ${request.id} by ${approver}: ${count} signatures. The host runs it once it has as many distinct approver keys as it requires for ${request.impact}.`);
  return 0;
}

/** The approver's signer (printed), and the human's yes on the terminal (or --yes); null: stop, said why. */
async function signerAndConfirmation(values: Values, question: string): Promise<Signer | null> {
  let signer: Signer;
  try {
    signer = await approverSigner({ key: values.key, agent: values.agent, keyId: values["key-id"] });
  } catch (err) {
    process.stderr.write(`hostward approve: ${(err as Error).message}\n`);
    return null;
  }
  say(signerLine(signer));
  if (!values.yes) {
    if (!process.stdin.isTTY) {
      process.stderr.write("hostward approve: refusing: there is no terminal to confirm on (stdin is not a TTY); pass --yes to approve without asking\n");
      return null;
    }
    const answer = (await ask(`${question} [y/N] `)).trim().toLowerCase();
    if (answer !== "y" && answer !== "yes") {
      say("Not approved (nothing changed).");
      return null;
    }
  }
  return signer;
}

/** A roll-out: the whole plan is shown, and one statement binding it is signed. */
async function approveRollout(rollouts: RolloutService, id: string, values: Values): Promise<number> {
  const r = await rollouts.get(id);
  if (!r) {
    process.stderr.write(`hostward approve: no roll-out ${id}\n`);
    return 1;
  }
  let previews;
  try {
    previews = (await rollouts.plan(r)).previews;
  } catch (err) {
    process.stderr.write(`hostward approve: ${id} cannot be shown: ${(err as Error).message}\n`);
    return 1;
  }
  for (const line of rolloutSummary(r, previews)) say(line);
  if (r.state === "APPROVED" && r.approval) return cosignRollout(rollouts, r, values);
  if (r.state !== "PENDING") {
    process.stderr.write(`hostward approve: ${id} is ${r.state}; only a PENDING roll-out can be approved\n`);
    return 1;
  }
  const signer = await signerAndConfirmation(values, `Approve ${r.action} on these ${r.hosts.length} host(s), batch by batch as shown?`);
  if (!signer) return 1;
  const { approver, identity } = approverOf(signer, values);
  let outcome: Awaited<ReturnType<typeof rollouts.approve>>;
  try {
    outcome = await rollouts.approve(id, signer, { approver, ...identity }, r);
  } catch (err) {
    process.stderr.write(`hostward approve: not approved: ${(err as Error).message}\n`);
    return 1;
  }
  if (!outcome.ok) {
    process.stderr.write(`hostward approve: not approved: ${outcome.reason}\n`);
    return 1;
  }
  say(`APPROVED ${id} by ${approver}; each host may run its entry once, until ${new Date(outcome.record.expiresAt * 1000).toISOString()}. The requester can now call execute_rollout.`);
  return 0;
}

/** An APPROVED roll-out signed once more (M-of-N), before it starts: each host counts the keys itself. */
async function cosignRollout(rollouts: RolloutService, r: NonNullable<Awaited<ReturnType<RolloutService["get"]>>>, values: Values): Promise<number> {
  const approval = r.approval!;
  for (const line of signatureLines(approval)) say(line);
  const signer = await signerAndConfirmation(values, `Add your signature to ${r.action} on these ${r.hosts.length} host(s)?`);
  if (!signer) return 1;
  const { approver, identity } = approverOf(signer, values);
  let outcome: Awaited<ReturnType<typeof rollouts.cosign>>;
  try {
    outcome = await rollouts.cosign(r.id, signer, { approver, ...identity }, r);
  } catch (err) {
    process.stderr.write(`hostward approve: not signed: ${(err as Error).message}\n`);
    return 1;
  }
  if (!outcome.ok) {
    process.stderr.write(`hostward approve: not signed: ${outcome.reason}\n`);
    return 1;
  }
  say(`SIGNED ${r.id} by ${approver}: ${1 + (outcome.record.approval?.cosignatures?.length ?? 0)} signatures.`);
  return 0;
}
