// hostward hosts add|remove|list: edit and show the inventory (hosts.yaml) without an editor. The
// file keeps its comments; a change that would make it invalid is refused with the field named.
// A running broker picks changes up with its reload_config tool.
import { parseArgs } from "node:util";
import { ConfigError } from "../config/load";
import { addHosts, readInventory, removeHost, writeInventory } from "../config/inventory-file";
import { configFiles, defaultConfigDir } from "../paths";
import { requireConfigDir } from "./config-dir";

const USAGE = `Usage:
  hostward hosts add NAME --address ADDR [--tag TAG]... [--cert-name DNS] [--reader-port N] [--operator-port N] [--replace] [--config DIR]
      add a host to DIR/hosts.yaml (ADDR: a DNS name or an IP address; certName defaults to NAME,
      the name "hostward pki issue-agent NAME" puts in the host's certificate). An existing NAME is
      kept unless --replace.
  hostward hosts remove NAME [--config DIR]
  hostward hosts list [--config DIR]      one line per host: name, address, ports, tags

DIR: the broker configuration directory (default ${defaultConfigDir()}, or $HOSTWARD_CONFIG).
`;

function port(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) throw new ConfigError([`${flag} must be a TCP port from 1 to 65535 (got ${JSON.stringify(text)})`]);
  return Number(text);
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      address: { type: "string" },
      tag: { type: "string", multiple: true, default: [] },
      "cert-name": { type: "string" },
      "reader-port": { type: "string" },
      "operator-port": { type: "string" },
      replace: { type: "boolean", default: false },
      config: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [sub, ...rest] = positionals;
  if (values.help || sub === undefined) {
    (values.help ? process.stdout : process.stderr).write(USAGE);
    return values.help ? 0 : 2;
  }
  try {
    const dir = requireConfigDir(values.config);
    const inv = readInventory(configFiles(dir).hosts);
    switch (sub) {
      case "add": {
        if (rest.length !== 1) throw new ConfigError([`hosts add takes exactly one NAME (got ${rest.length})`]);
        if (values.address === undefined) throw new ConfigError(["hosts add needs --address ADDR (a DNS name or an IP address)"]);
        const name = rest[0] as string;
        const outcome = addHosts(
          inv,
          [
            {
              name,
              address: values.address,
              tags: values.tag,
              ports: { reader: port("--reader-port", values["reader-port"]), operator: port("--operator-port", values["operator-port"]) },
              ...(values["cert-name"] !== undefined && { certName: values["cert-name"] }),
            },
          ],
          { replace: values.replace },
        ).get(name);
        if (outcome === "exists") {
          process.stderr.write(`hostward hosts: ${name} is already in ${inv.file} with other settings; pass --replace to change it\n`);
          return 1;
        }
        if (outcome !== "unchanged") writeInventory(inv);
        process.stderr.write(`${inv.file}: ${name} ${outcome}${outcome === "unchanged" ? " (already there)" : ""}\n`);
        return 0;
      }
      case "remove": {
        if (rest.length !== 1) throw new ConfigError([`hosts remove takes exactly one NAME (got ${rest.length})`]);
        if (!removeHost(inv, rest[0] as string)) {
          process.stderr.write(`hostward hosts: no host ${JSON.stringify(rest[0])} in ${inv.file}\n`);
          return 1;
        }
        inv.hosts();
        writeInventory(inv);
        process.stderr.write(`${inv.file}: ${rest[0]} removed\n`);
        return 0;
      }
      case "list": {
        for (const h of inv.hosts()) {
          process.stdout.write(`${h.name}\t${h.address}\treader ${h.ports.reader} operator ${h.ports.operator}\t${h.tags.length ? h.tags.map((t) => `tag:${t}`).join(",") : "-"}${h.certName ? `\tcertName ${h.certName}` : ""}\n`);
        }
        return 0;
      }
      default:
        process.stderr.write(`hostward hosts: unknown subcommand ${JSON.stringify(sub)}\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`hostward hosts: ${err.problems.join("\n  ")}\n`);
    return 1;
  }
}
