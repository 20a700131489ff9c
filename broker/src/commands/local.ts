// hostward local up|down|status: a development fleet on loopback (no root, no second machine).
import { parseArgs } from "node:util";
import { join } from "node:path";
import { defaultStateDir } from "../paths";
import { fleetDown, fleetUp, readFleet } from "../local/fleet";
import { isOurAgent } from "../local/launcher";

const HELP = `Usage:
  hostward local up [--dir DIR] [--hosts N]   create a CA, an inventory and a policy in DIR and start N
                                              local hosts (a reader and an operator agent each) on 127.0.0.1
  hostward local down [--dir DIR]             stop the fleet started in DIR
  hostward local status [--dir DIR]           show the fleet's agents and whether they run

DIR defaults to ${join(defaultStateDir(), "local")}. Then: hostward serve --config DIR
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      dir: { type: "string" },
      hosts: { type: "string", default: "3" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [sub] = positionals;
  if (values.help || sub === undefined) {
    process.stdout.write(HELP);
    return values.help ? 0 : 2;
  }
  const dir = values.dir ?? join(defaultStateDir(), "local");
  switch (sub) {
    case "up": {
      const hosts = Number(values.hosts);
      const state = await fleetUp({ dir, hosts });
      const byHost = new Map<string, string[]>();
      for (const a of state.agents) byHost.set(a.host, [...(byHost.get(a.host) ?? []), `${a.role} :${a.port} (pid ${a.pid})`]);
      process.stderr.write(`local fleet up in ${dir}\n`);
      for (const [host, roles] of byHost) process.stderr.write(`  ${host}: ${roles.join(", ")}\n`);
      process.stderr.write(`serve it with: hostward serve --config ${dir}\n`);
      return 0;
    }
    case "down": {
      const n = await fleetDown(dir);
      process.stderr.write(`local fleet in ${dir}: ${n} agent(s) stopped\n`);
      return 0;
    }
    case "status": {
      const state = readFleet(dir);
      if (!state) {
        process.stderr.write(`no local fleet in ${dir}\n`);
        return 1;
      }
      for (const a of state.agents) {
        process.stdout.write(`${a.host}\t${a.role}\t127.0.0.1:${a.port}\tpid ${a.pid}\t${isOurAgent(a.pid) ? "running" : "stopped"}\n`);
      }
      return 0;
    }
    default:
      process.stderr.write(`hostward local: unknown subcommand "${sub}"\n\n${HELP}`);
      return 2;
  }
}
