// The `hostward` command line. Each subcommand lives in broker/src/commands/<name>.ts and exports
// `run(argv): Promise<number>` (the exit code). Nothing here prints to stdout except --help/--version:
// `hostward serve` uses stdout as its MCP channel.
import { VERSION } from "../../proto/catalog/version";

type Command = { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> };

const COMMANDS: Record<string, Command> = {
  init: { summary: "create a working configuration directory: CA, broker certificate, inventory, starter policy", load: () => import("./commands/init") },
  hosts: { summary: "add, remove or list the hosts in the inventory (hosts.yaml)", load: () => import("./commands/hosts") },
  inventory: { summary: "import hosts.yaml from an Ansible inventory or ~/.ssh/config", load: () => import("./commands/inventory") },
  call: { summary: "call one tool through the broker from a terminal (e.g. get_load target=web1)", load: () => import("./commands/call") },
  serve: { summary: "run the MCP server (stdio, or --http 127.0.0.1:PORT)", load: () => import("./commands/serve") },
  pki: { summary: "manage the private CA and certificates (init, issue-agent, issue-client)", load: () => import("./commands/pki") },
  local: { summary: "start/stop a local fleet of agents on loopback (up, down, status)", load: () => import("./commands/local") },
  state: { summary: "the shared PostgreSQL store: setup (as its administrator), migrate from files, status", load: () => import("./commands/state") },
  audit: { summary: "verify the audit log's hash chain, or print its last records", load: () => import("./commands/audit") },
  approve: { summary: "approve a proposed action: shows what runs, signs with your approver key", load: () => import("./commands/approve") },
  reject: { summary: "reject a proposed action", load: () => import("./commands/reject") },
  approvals: { summary: "a local page for the approver: pending proposals, approve (your key signs here) or reject", load: () => import("./commands/approvals") },
  actions: { summary: "list or show action requests (list, show ID)", load: () => import("./commands/actions") },
  demo: { summary: "run the end-to-end demo against a local fleet", load: () => import("./commands/demo") },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`);
  return `hostward ${VERSION}: operate Linux hosts through typed agents, for AI assistants over MCP\n\nUsage: hostward <command> [options]\n\nCommands:\n${lines.join("\n")}\n\nRun "hostward <command> --help" for a command's options.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-V") {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`hostward: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const mod = await command.load();
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`hostward: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
