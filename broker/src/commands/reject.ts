// hostward reject ID [--reason TEXT] [--config DIR]: a human refuses a PENDING action request; it
// can never run. Recorded in the request and in the audit chain.
import { truncateText } from "../../../shared/printable";
import { localIdentity, openActions, parseIdCommand } from "../actions/cli-context";
import { missingConfigDir } from "./config-dir";

const USAGE = `Usage: hostward reject ID [--reason TEXT] [--config DIR]

Rejects the PENDING action request (act-…) or roll-out (ro-…) ID: it can never run.
  --reason TEXT   why (recorded; at most 500 characters)
  --config DIR    the broker configuration directory (its broker.yaml names the state directory)
`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseIdCommand("reject", argv, { reason: { type: "string" }, config: { type: "string" }, help: { type: "boolean", short: "h" } }, USAGE);
  if ("exit" in parsed) return parsed.exit;
  const { id, values } = parsed;
  const reason = truncateText(values.reason ?? "rejected by a human", 500);
  const missing = missingConfigDir(values.config);
  if (missing) {
    process.stderr.write(`hostward ${"reject"}: ${missing}\n`);
    return 1;
  }
  const { service, rollouts } = openActions(values.config);
  const who = localIdentity();
  try {
    const r = id.startsWith("ro-") ? await rollouts.reject(id, reason, { who }) : await service.reject(id, reason, { via: "cli", who });
    if (!r.ok) {
      process.stderr.write(`hostward reject: ${r.reason}\n`);
      return 1;
    }
  } catch (err) {
    process.stderr.write(`hostward reject: not rejected: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`REJECTED ${id} by ${who}: ${reason}\n`);
  return 0;
}
