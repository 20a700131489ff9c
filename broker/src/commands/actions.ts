// hostward actions list [--state S] [--host H] | show ID   [--config DIR]
// Reads the broker's action requests (<stateDir>/actions/) for the human at the terminal.
import { parseArgs } from "node:util";
import { approvalSummary, requestView } from "../actions/describe";
import { openActions } from "../actions/cli-context";
import { ACTION_ID, ACTION_STATES, printable, type ActionState } from "../actions/request";
import { missingConfigDir } from "./config-dir";

const USAGE = `Usage:
  hostward actions list [--state STATE] [--host HOST] [--config DIR]   newest first
  hostward actions show ID [--config DIR]                              what it runs, its state and result

STATE is one of ${ACTION_STATES.join(", ")}.
`;

export async function run(argv: string[]): Promise<number> {
  let values: { state?: string; host?: string; config?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { state: { type: "string" }, host: { type: "string" }, config: { type: "string" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (err) {
    process.stderr.write(`hostward actions: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const [sub, ...rest] = positionals;
  if (values.help || sub === undefined) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  if (values.state !== undefined && !(ACTION_STATES as readonly string[]).includes(values.state)) {
    process.stderr.write(`hostward actions: --state must be one of ${ACTION_STATES.join(", ")}\n`);
    return 2;
  }
  const missing = missingConfigDir(values.config);
  if (missing) {
    process.stderr.write(`hostward ${"actions"}: ${missing}\n`);
    return 1;
  }
  const { service } = openActions(values.config);
  switch (sub) {
    case "list": {
      const { requests, problems } = await service.list({ ...(values.state && { state: values.state as ActionState }), ...(values.host && { host: values.host }) });
      for (const p of problems) process.stderr.write(`hostward actions: ${p}\n`);
      if (requests.length === 0) {
        process.stdout.write("no action requests\n");
        return 0;
      }
      for (const r of requests) {
        process.stdout.write(`${r.id}  ${r.state.padEnd(9)}  ${printable(r.host, { ascii: true }).padEnd(16)}  ${printable(r.action, { ascii: true }).padEnd(17)}  ${r.impact.padEnd(6)}  ${printable(r.createdAt, { ascii: true })}  ${printable(JSON.stringify(r.params), { ascii: true })}\n`);
      }
      return 0;
    }
    case "show": {
      const [id] = rest;
      if (id === undefined || rest.length > 1 || !ACTION_ID.test(id)) {
        process.stderr.write(`hostward actions show: give exactly one action id (act-…)\n`);
        return 2;
      }
      const r = await service.get(id);
      if (!r) {
        process.stderr.write(`hostward actions: no action request ${id}\n`);
        return 1;
      }
      process.stdout.write(`${approvalSummary(r).join("\n")}\n${printable(JSON.stringify(requestView(r), null, 2))}\n`);
      return 0;
    }
    default:
      process.stderr.write(`hostward actions: unknown subcommand "${sub}"\n\n${USAGE}`);
      return 2;
  }
}
