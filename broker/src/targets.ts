// Target selectors: which inventory hosts a call addresses. Pure; no I/O.
//   "web1"            one host by name
//   "tag:web"         every host carrying the tag
//   "web1,tag:db"     a comma list of the above (spaces around commas ignored)
//   "*"               every host
// The result is de-duplicated and in inventory order, whatever order the selector used.
import { z } from "zod";
import { MAX_TARGET_LENGTH as MAX_SELECTOR_LENGTH } from "../../proto/catalog/grammar";

/** The `target` argument every host tool takes (the server's instructions explain it once more fully). */
export const targetArgument = z
  .string()
  .min(1, { message: "target must not be empty" })
  .max(MAX_SELECTOR_LENGTH, { message: `target is longer than ${MAX_SELECTOR_LENGTH} characters` })
  .describe('hosts: a name, "tag:NAME", a comma list ("web1,tag:db") or "*"');

export interface TargetHost {
  name: string;
  tags: readonly string[];
}

export type TargetResult<H> = { ok: true; hosts: H[] } | { ok: false; error: string };

export function resolveTargets<H extends TargetHost>(selector: string, inventory: readonly H[]): TargetResult<H> {
  const parts = selector.split(",").map((p) => p.trim());
  if (parts.some((p) => p.length === 0)) return { ok: false, error: `target "${selector}" has an empty element (check the commas)` };
  const wanted = new Set<H>();
  const unknownHosts: string[] = [];
  const emptyTags: string[] = [];
  for (const part of parts) {
    if (part === "*") {
      for (const h of inventory) wanted.add(h);
    } else if (part.startsWith("tag:")) {
      const tag = part.slice(4);
      if (tag.length === 0) return { ok: false, error: `target element "${part}" names no tag (use tag:NAME)` };
      const tagged = inventory.filter((h) => h.tags.includes(tag));
      if (tagged.length === 0) emptyTags.push(tag);
      for (const h of tagged) wanted.add(h);
    } else {
      const host = inventory.find((h) => h.name === part);
      if (host) wanted.add(host);
      else unknownHosts.push(part);
    }
  }
  const problems: string[] = [];
  if (unknownHosts.length > 0) {
    const list = unknownHosts.map((n) => `"${n}"`).join(", ");
    problems.push(`unknown host${unknownHosts.length > 1 ? "s" : ""} ${list} (not in the inventory; see list_hosts)`);
  }
  if (emptyTags.length > 0) problems.push(`no host has tag ${emptyTags.map((t) => `"${t}"`).join(", ")}`);
  if (problems.length > 0) return { ok: false, error: `target "${selector}": ${problems.join("; ")}` };
  if (wanted.size === 0) return { ok: false, error: `target "${selector}" selects no host (the inventory is empty)` };
  return { ok: true, hosts: inventory.filter((h) => wanted.has(h)) };
}
