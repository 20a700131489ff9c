// hostward reject ID [--reason TEXT] [--config DIR]: a human refuses a PENDING action request; it
// can never run. Recorded in the request and in the audit chain.
import { parseArgs } from "node:util";
import { localIdentity, openActions } from "../actions/cli-context";
import { ACTION_ID } from "../actions/request";

const USAGE = `Usage: hostward reject ID [--reason TEXT] [--config DIR]

Rejects the PENDING action request ID: it can never run.
  --reason TEXT   why (recorded; at most 500 characters)
  --config DIR    the broker configuration directory (its broker.yaml names the state directory)
`;

export async function run(argv: string[]): Promise<number> {
  let values: { reason?: string; config?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { reason: { type: "string" }, config: { type: "string" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (err) {
    process.stderr.write(`hostward reject: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [id, ...extra] = positionals;
  if (id === undefined || extra.length > 0 || !ACTION_ID.test(id)) {
    process.stderr.write(`hostward reject: give exactly one action id (act-…)\n\n${USAGE}`);
    return 2;
  }
  const reason = (values.reason ?? "rejected by a human").slice(0, 500);
  const { service } = openActions(values.config);
  const who = localIdentity();
  try {
    const r = service.reject(id, reason, { via: "cli", who });
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
