// Edits hosts.yaml for `hostward hosts add|remove` and `hostward inventory import`: the file is
// read as a YAML document (the administrator's comments and order are kept), changed, validated as
// a whole with the same schema the broker loads it with, and replaced atomically. A change that
// would make the file invalid is refused with the field named, and the file is left as it was.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { isMap, isSeq, parseDocument, type Document, YAMLSeq } from "yaml";
import { ConfigError, formatIssues } from "./load";
import { HostEntrySchema, HostsFileSchema, type HostEntry } from "./schema";

/** A host as a command gives it (defaults are the schema's). */
export interface HostInput {
  name: string;
  address: string;
  tags?: string[];
  ports?: { reader?: number; operator?: number };
  certName?: string;
}

export interface InventoryFile {
  file: string;
  doc: Document;
  hosts(): HostEntry[];
}

const HEADER = " hostward inventory: the hosts the broker may reach (hostward hosts add, hostward inventory import).\n Each: name, address (DNS name or IP), tags, ports (reader 7443, operator 7444), certName (default: name).";

/** Reads `file` (a missing file is an empty inventory); a file that does not parse is an error. */
export function readInventory(file: string): InventoryFile {
  let doc: Document;
  if (existsSync(file)) {
    doc = parseDocument(readFileSync(file, "utf8"));
    if (doc.errors.length > 0) throw new ConfigError(doc.errors.map((e) => `${file}: ${e.message}`));
    if (doc.contents === null) doc.contents = doc.createNode({ hosts: [] }) as never;
  } else {
    doc = parseDocument("hosts: []\n");
    doc.commentBefore = HEADER;
  }
  if (!isMap(doc.contents)) throw new ConfigError([`${file}: must be a mapping with a "hosts" list`]);
  if (!doc.has("hosts")) doc.set("hosts", new YAMLSeq());
  if (!isSeq(doc.get("hosts"))) throw new ConfigError([`${file}: hosts must be a list`]);
  return {
    file,
    doc,
    hosts: () => {
      const parsed = HostsFileSchema.safeParse(doc.toJS());
      if (!parsed.success) throw new ConfigError(formatIssues(file, parsed.error));
      return parsed.data.hosts;
    },
  };
}

function entryNode(host: HostInput): Record<string, unknown> {
  const entry: Record<string, unknown> = { name: host.name, address: host.address };
  if (host.ports && (host.ports.reader !== undefined || host.ports.operator !== undefined)) entry.ports = { reader: host.ports.reader ?? 7443, operator: host.ports.operator ?? 7444 };
  entry.tags = host.tags ?? [];
  if (host.certName !== undefined && host.certName !== host.name) entry.certName = host.certName;
  return entry;
}

export type AddOutcome = "added" | "replaced" | "unchanged" | "exists";

/**
 * Adds (or with `replace`, replaces) hosts by name. Every entry is validated on its own first, so
 * an error names the host and the field; then the whole file.
 */
export function addHosts(inv: InventoryFile, hosts: readonly HostInput[], opts: { replace?: boolean } = {}): Map<string, AddOutcome> {
  const outcomes = new Map<string, AddOutcome>();
  const problems: string[] = [];
  for (const h of hosts) {
    const r = HostEntrySchema.safeParse(entryNode(h));
    if (!r.success) problems.push(...formatIssues(`host "${h.name}"`, r.error));
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const seq = inv.doc.get("hosts") as YAMLSeq;
  // `hosts: []` (what init writes) is a flow sequence: hosts are written one block each.
  seq.flow = false;
  for (const h of hosts) {
    const index = seq.items.findIndex((item) => isMap(item) && item.get("name") === h.name);
    const node = inv.doc.createNode(entryNode(h));
    const tags = node.get("tags", true);
    if (isSeq(tags)) tags.flow = true;
    if (index === -1) {
      seq.items.push(node);
      outcomes.set(h.name, "added");
      continue;
    }
    const same = JSON.stringify(HostEntrySchema.parse((seq.items[index] as { toJSON(): unknown }).toJSON())) === JSON.stringify(HostEntrySchema.parse(entryNode(h)));
    if (same) outcomes.set(h.name, "unchanged");
    else if (opts.replace) {
      seq.items[index] = node;
      outcomes.set(h.name, "replaced");
    } else outcomes.set(h.name, "exists");
  }
  inv.hosts(); // the whole file must still load
  return outcomes;
}

/** Removes a host by name; false when it is not in the inventory. */
export function removeHost(inv: InventoryFile, name: string): boolean {
  const seq = inv.doc.get("hosts") as YAMLSeq;
  const index = seq.items.findIndex((item) => isMap(item) && item.get("name") === name);
  if (index === -1) return false;
  seq.items.splice(index, 1);
  return true;
}

/** Writes the inventory through a temporary file and a rename (a reader never sees half a file). */
export function writeInventory(inv: InventoryFile): void {
  mkdirSync(dirname(inv.file), { recursive: true, mode: 0o700 });
  const tmp = `${inv.file}.${process.pid}.tmp`;
  writeFileSync(tmp, inv.doc.toString({ lineWidth: 0 }), { mode: 0o644 });
  renameSync(tmp, inv.file);
}
