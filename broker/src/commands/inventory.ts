// hostward inventory import (--ansible FILE | --ssh-config [FILE]): the hosts a fleet already lists
// into hosts.yaml. From an Ansible inventory (INI or YAML): each host, its ansible_host (or
// hostward_address) as the address, its groups (with their parent groups) as tags. From an
// OpenSSH config: each concrete `Host` alias, its HostName as the address. Existing hosts are
// kept unless --replace; --dry-run prints the result without writing.
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { ConfigError } from "../config/load";
import { ImportError, parseAnsibleInventory, parseSshConfig, type ImportResult } from "../config/import-sources";
import { addHosts, readInventory, writeInventory } from "../config/inventory-file";
import { configFiles, defaultConfigDir } from "../paths";
import { requireConfigDir } from "./config-dir";

const USAGE = `Usage:
  hostward inventory import --ansible INVENTORY [--tag TAG]... [--only-tag TAG] [--replace] [--dry-run] [--config DIR]
      an Ansible inventory file (INI or YAML): every host; its address from ansible_host (or
      hostward_address, else the name); its groups and their parent groups as tags.
  hostward inventory import --ssh-config [FILE] [--tag TAG]... [--replace] [--dry-run] [--config DIR]
      an OpenSSH client config (default ~/.ssh/config, Include followed): every Host alias without
      wildcards; its address from HostName.
--tag adds a tag to every imported host; --only-tag keeps only the hosts with that tag (an Ansible
group). Hosts already in hosts.yaml with other settings are kept unless --replace. The host's
certificate must carry its name: hostward pki issue-agent NAME (the Ansible role in
packaging/ansible does it with the inventory name).
DIR: the broker configuration directory (default ${defaultConfigDir()}, or $HOSTWARD_CONFIG).
`;

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        ansible: { type: "string" },
        "ssh-config": { type: "boolean", default: false },
        tag: { type: "string", multiple: true, default: [] },
        "only-tag": { type: "string" },
        replace: { type: "boolean", default: false },
        "dry-run": { type: "boolean", default: false },
        config: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    process.stderr.write(`hostward inventory: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [sub, ...rest] = positionals;
  if (values.help || sub === undefined) {
    (values.help ? process.stdout : process.stderr).write(USAGE);
    return values.help ? 0 : 2;
  }
  if (sub !== "import") {
    process.stderr.write(`hostward inventory: unknown subcommand ${JSON.stringify(sub)}\n\n${USAGE}`);
    return 2;
  }
  const sources = (values.ansible !== undefined ? 1 : 0) + (values["ssh-config"] ? 1 : 0);
  if (sources !== 1) {
    process.stderr.write(`hostward inventory import: give exactly one of --ansible INVENTORY or --ssh-config [FILE]\n`);
    return 2;
  }
  if (rest.length > (values["ssh-config"] ? 1 : 0)) {
    process.stderr.write(`hostward inventory import: unexpected ${JSON.stringify(rest.join(" "))}\n`);
    return 2;
  }
  try {
    const dir = requireConfigDir(values.config);
    let imported: ImportResult;
    if (values.ansible !== undefined) {
      let text: string;
      try {
        text = readFileSync(values.ansible, "utf8");
      } catch (err) {
        throw new ImportError(`cannot read ${values.ansible} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
      imported = parseAnsibleInventory(text, values.ansible);
    } else {
      imported = parseSshConfig(rest[0] ?? join(homedir(), ".ssh", "config"));
    }
    for (const w of imported.warnings) process.stderr.write(`warning: ${w}\n`);
    let hosts = imported.hosts.map((h) => ({ ...h, tags: [...new Set([...(h.tags ?? []), ...values.tag])].sort() }));
    if (values["only-tag"] !== undefined) hosts = hosts.filter((h) => h.tags.includes(values["only-tag"] as string));
    if (hosts.length === 0) {
      process.stderr.write("hostward inventory import: no host to import\n");
      return 1;
    }
    const inv = readInventory(configFiles(dir).hosts);
    const outcomes = addHosts(inv, hosts, { replace: values.replace });
    if (values["dry-run"]) {
      process.stdout.write(stringify({ hosts: inv.hosts() }));
    } else if ([...outcomes.values()].some((o) => o === "added" || o === "replaced")) {
      writeInventory(inv);
    }
    for (const h of hosts) {
      const o = outcomes.get(h.name);
      process.stderr.write(`${o === "exists" ? "kept   " : (o ?? "").padEnd(7)} ${h.name}  ${h.address}${h.tags.length ? `  tags ${h.tags.join(",")}` : ""}${o === "exists" ? "  (in hosts.yaml with other settings; --replace to change it)" : ""}\n`);
    }
    process.stderr.write(`${values["dry-run"] ? "(dry run) " : ""}${inv.file}: ${hosts.length} hosts read, ${[...outcomes.values()].filter((o) => o === "added").length} added, ${[...outcomes.values()].filter((o) => o === "replaced").length} replaced\n`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`hostward inventory import: ${err.problems.join("\n  ")}\n`);
      return 1;
    }
    if (err instanceof ImportError) {
      process.stderr.write(`hostward inventory import: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
