// What `hostward inventory import` reads: an Ansible inventory (INI or YAML, the two formats
// Ansible's own inventory plugins read) or an OpenSSH client configuration (~/.ssh/config). Each
// becomes a list of hosts — name, address, tags — plus warnings for what was left out and why.
// Pure functions over text (files are read by the caller, Include/host ranges resolved here), so
// the broker stays platform-neutral and nothing is executed (no `ansible-inventory`, no `ssh -G`).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, isAbsolute, join } from "node:path";
import { parse as parseYaml } from "yaml";
import type { HostInput } from "./inventory-file";

export interface ImportResult {
  hosts: HostInput[];
  warnings: string[];
}

export class ImportError extends Error {}

const TAG = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** Ansible's host ranges: web[01:03].x → web01.x web02.x web03.x; [a:c]; [1:9:2]. */
function expandHostPattern(pattern: string): string[] {
  const m = /^(.*?)\[([0-9a-z]+):([0-9a-z]+)(?::(\d+))?\](.*)$/i.exec(pattern);
  if (!m) return [pattern];
  const [, head = "", from = "", to = "", strideText, tail = ""] = m;
  const stride = strideText === undefined ? 1 : Number(strideText);
  if (stride < 1) throw new ImportError(`host range ${pattern}: the stride must be at least 1`);
  const out: string[] = [];
  if (/^\d+$/.test(from) && /^\d+$/.test(to)) {
    const width = from.length > 1 && from.startsWith("0") ? from.length : 0;
    const a = Number(from);
    const b = Number(to);
    if (b < a || (b - a) / stride > 10_000) throw new ImportError(`host range ${pattern} is empty or longer than 10000`);
    for (let i = a; i <= b; i += stride) out.push(`${head}${String(i).padStart(width, "0")}${tail}`);
  } else if (/^[a-z]$/i.test(from) && /^[a-z]$/i.test(to)) {
    for (let c = from.charCodeAt(0); c <= to.charCodeAt(0); c += stride) out.push(`${head}${String.fromCharCode(c)}${tail}`);
  } else throw new ImportError(`host range ${pattern}: [${from}:${to}] is neither numeric nor single letters`);
  return out.flatMap(expandHostPattern);
}

interface Group {
  hosts: Set<string>;
  children: Set<string>;
}

/** Collects hosts, host variables and groups; then every host's tags are its groups and their ancestors. */
class AnsibleInventory {
  readonly groups = new Map<string, Group>();
  readonly hostVars = new Map<string, Record<string, unknown>>();
  readonly order: string[] = [];

  group(name: string): Group {
    let g = this.groups.get(name);
    if (!g) this.groups.set(name, (g = { hosts: new Set(), children: new Set() }));
    return g;
  }

  addHost(group: string, pattern: string, vars: Record<string, unknown>): void {
    for (const host of expandHostPattern(pattern)) {
      if (!this.hostVars.has(host)) {
        this.hostVars.set(host, {});
        this.order.push(host);
      }
      Object.assign(this.hostVars.get(host) as Record<string, unknown>, vars);
      this.group(group).hosts.add(host);
    }
  }

  result(opts: { source: string }): ImportResult {
    const warnings: string[] = [];
    const parents = new Map<string, Set<string>>();
    for (const [name, g] of this.groups) for (const child of g.children) (parents.get(child) ?? parents.set(child, new Set()).get(child))?.add(name);
    const ancestors = (group: string, seen = new Set<string>()): Set<string> => {
      for (const p of parents.get(group) ?? []) {
        if (!seen.has(p)) {
          seen.add(p);
          ancestors(p, seen);
        }
      }
      return seen;
    };
    const hosts: HostInput[] = [];
    for (const name of this.order) {
      const vars = this.hostVars.get(name) ?? {};
      const tags = new Set<string>();
      for (const [group, g] of this.groups) {
        if (!g.hosts.has(name)) continue;
        for (const t of [group, ...ancestors(group)]) if (t !== "all" && t !== "ungrouped") tags.add(t);
      }
      const valid = [...tags].filter((t) => TAG.test(t));
      for (const t of tags) if (!TAG.test(t)) warnings.push(`${opts.source}: group ${JSON.stringify(t)} is not a valid hostward tag (letters, digits, _ . -, not starting with _ or -): not used as a tag of ${name}`);
      const address = String(vars.hostward_address ?? vars.ansible_host ?? name);
      hosts.push({ name, address, tags: valid.sort(), ...(typeof vars.hostward_cert_name === "string" && { certName: vars.hostward_cert_name }) });
    }
    return { hosts, warnings };
  }
}

/** key=value words of an INI host line ("a=1 b='x y'"). */
function iniVars(words: string, where: string): Record<string, unknown> {
  const vars: Record<string, unknown> = {};
  const re = /\s*([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|\S*)/gy;
  let m: RegExpExecArray | null;
  let last = 0;
  while ((m = re.exec(words)) !== null) {
    const raw = m[2] ?? "";
    vars[m[1] as string] = /^(["']).*\1$/.test(raw) ? raw.slice(1, -1) : raw;
    last = re.lastIndex;
  }
  if (words.slice(last).trim() !== "") throw new ImportError(`${where}: cannot read ${JSON.stringify(words.slice(last).trim())} (host variables are key=value)`);
  return vars;
}

function parseAnsibleIni(text: string, source: string): ImportResult {
  const inv = new AnsibleInventory();
  let section = "ungrouped";
  let kind: "hosts" | "children" | "vars" = "hosts";
  text.split(/\r?\n/).forEach((raw, i) => {
    const where = `${source}:${i + 1}`;
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) return;
    const header = /^\[([^\]:]+)(?::(children|vars))?\]$/.exec(line);
    if (header) {
      section = header[1] as string;
      kind = (header[2] as "children" | "vars" | undefined) ?? "hosts";
      inv.group(section);
      return;
    }
    if (line.startsWith("[")) throw new ImportError(`${where}: ${JSON.stringify(line)} is not a section header ([group], [group:children], [group:vars])`);
    if (kind === "vars") return; // group variables: nothing hostward takes from them
    const [first = "", ...rest] = line.split(/\s+/);
    if (kind === "children") {
      inv.group(section).children.add(first);
      inv.group(first);
      return;
    }
    inv.addHost(section, first, iniVars(rest.join(" "), where));
  });
  return inv.result({ source });
}

function parseAnsibleYaml(text: string, source: string): ImportResult {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ImportError(`${source}: not YAML: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new ImportError(`${source}: an Ansible YAML inventory is a mapping of groups (all: {hosts: …, children: …})`);
  const inv = new AnsibleInventory();
  const walk = (name: string, body: unknown, path: string) => {
    inv.group(name);
    if (body === null || body === undefined) return;
    if (typeof body !== "object" || Array.isArray(body)) throw new ImportError(`${source}: ${path} must be a mapping (hosts, children, vars)`);
    const g = body as Record<string, unknown>;
    for (const key of Object.keys(g)) if (!["hosts", "children", "vars"].includes(key)) throw new ImportError(`${source}: ${path}: unknown key ${JSON.stringify(key)} (hosts, children, vars)`);
    if (g.hosts !== undefined && g.hosts !== null) {
      if (typeof g.hosts !== "object" || Array.isArray(g.hosts)) throw new ImportError(`${source}: ${path}.hosts must be a mapping of host names`);
      for (const [host, vars] of Object.entries(g.hosts as Record<string, unknown>)) {
        if (vars !== null && (typeof vars !== "object" || Array.isArray(vars))) throw new ImportError(`${source}: ${path}.hosts.${host} must be a mapping of variables or empty`);
        inv.addHost(name, host, (vars ?? {}) as Record<string, unknown>);
      }
    }
    if (g.children !== undefined && g.children !== null) {
      if (typeof g.children !== "object" || Array.isArray(g.children)) throw new ImportError(`${source}: ${path}.children must be a mapping of groups`);
      for (const [child, childBody] of Object.entries(g.children as Record<string, unknown>)) {
        inv.group(name).children.add(child);
        walk(child, childBody, `${path}.children.${child}`);
      }
    }
  };
  for (const [name, body] of Object.entries(doc as Record<string, unknown>)) walk(name, body, name);
  return inv.result({ source });
}

/** INI or YAML, as Ansible decides: YAML when the file is a YAML mapping, INI otherwise. */
export function parseAnsibleInventory(text: string, source: string): ImportResult {
  const looksYaml = /\.ya?ml$/i.test(source) || /^\s*[A-Za-z0-9_]+:\s*$/m.test(text.split("\n").find((l) => l.trim() && !l.trim().startsWith("#")) ?? "");
  return looksYaml ? parseAnsibleYaml(text, source) : parseAnsibleIni(text, source);
}

/** ssh_config(5) patterns: * and ?, a list, ! negates. */
function sshMatches(patterns: string[], alias: string): boolean {
  let matched = false;
  for (const p of patterns) {
    const negated = p.startsWith("!");
    const glob = negated ? p.slice(1) : p;
    const re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`, "i");
    if (re.test(alias)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

interface SshBlock {
  patterns: string[];
  match: boolean;
  options: Map<string, string>;
}

function readSshConfig(file: string, blocks: SshBlock[], warnings: string[], depth: number): void {
  if (depth > 16) throw new ImportError(`${file}: Include nested more than 16 deep`);
  const text = readFileSync(file, "utf8");
  let current: SshBlock = blocks.at(-1) ?? { patterns: ["*"], match: false, options: new Map() };
  if (blocks.length === 0) blocks.push(current);
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const m = /^(\S+?)(?:\s*=\s*|\s+)(.+)$/.exec(line);
    if (!m) return;
    const keyword = (m[1] as string).toLowerCase();
    const value = (m[2] as string).trim();
    if (keyword === "host") {
      current = { patterns: value.split(/\s+/).map((p) => p.replace(/^"(.*)"$/, "$1")), match: false, options: new Map() };
      blocks.push(current);
    } else if (keyword === "match") {
      current = { patterns: [], match: true, options: new Map() };
      blocks.push(current);
      warnings.push(`${file}:${i + 1}: a Match block is not evaluated (its options are not used)`);
    } else if (keyword === "include") {
      for (const word of value.split(/\s+/)) {
        const expanded = word.startsWith("~/") ? join(homedir(), word.slice(2)) : word;
        const path = isAbsolute(expanded) ? expanded : join(homedir(), ".ssh", expanded);
        const dir = dirname(path);
        const name = basename(path);
        const files = /[*?]/.test(name)
          ? existsSync(dir)
            ? readdirSync(dir)
                .filter((f) => sshMatches([name], f))
                .sort()
                .map((f) => join(dir, f))
            : []
          : [path];
        for (const f of files) if (existsSync(f) && statSync(f).isFile()) readSshConfig(f, blocks, warnings, depth + 1);
      }
      current = blocks.at(-1) as SshBlock;
    } else if (!current.options.has(keyword)) current.options.set(keyword, value);
  });
}

/** Every concrete Host alias (no wildcard, no negation) with its HostName, as ssh resolves it. */
export function parseSshConfig(file: string): ImportResult {
  if (!existsSync(file)) throw new ImportError(`${file} does not exist`);
  const blocks: SshBlock[] = [];
  const warnings: string[] = [];
  readSshConfig(file, blocks, warnings, 0);
  const aliases: string[] = [];
  for (const b of blocks) for (const p of b.patterns) if (!b.match && !/[*?!]/.test(p) && !aliases.includes(p)) aliases.push(p);
  const hosts: HostInput[] = [];
  for (const alias of aliases) {
    // The first value obtained wins (ssh_config(5)), across every block whose patterns match.
    const hostName = blocks.find((b) => !b.match && sshMatches(b.patterns, alias) && b.options.has("hostname"))?.options.get("hostname");
    let address = alias;
    if (hostName !== undefined) {
      if (/%[^h%]/.test(hostName)) {
        warnings.push(`${file}: Host ${alias}: HostName ${hostName} uses tokens other than %h; skipped`);
        continue;
      }
      address = hostName.replace(/%h/g, alias).replace(/%%/g, "%");
    }
    hosts.push({ name: alias, address, tags: [] });
  }
  return { hosts, warnings };
}
