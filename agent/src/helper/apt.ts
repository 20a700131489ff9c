// apt's own output, read for upgrade_packages' preview (helper/preview.ts packagesPreview):
// `apt-cache policy NAME…` (installed and candidate version of each package, one call for all)
// and `apt-get --simulate install …` (the packages apt would install, upgrade or remove). Both run
// with the fixed C.UTF-8 locale (child-env.ts), so apt's labels are untranslated; the
// simulation's Inst/Conf/Remv/Purg lines are never translated (apt-pkg/algorithms.cc pkgSimulate).
// What cannot be read is a refusal naming the package, never "unchanged".
import { HelperRefusal } from "./exit-codes";

export interface AptPolicy {
  installed: string | null;
  candidate: string | null;
}

/**
 * `apt-cache policy` output → per package its Installed and Candidate ("(none)" → null). A block
 * starts with the package's name and a colon at the start of a line ("libssl3:", or
 * "libc6:i386:" for a foreign architecture, also found under "libc6" unless a native block is).
 */
export function parseAptPolicy(text: string): Map<string, AptPolicy> {
  const out = new Map<string, AptPolicy>();
  let current: AptPolicy | null = null;
  const version = (v: string | undefined) => (v === undefined || v === "(none)" ? null : v);
  for (const line of text.split("\n")) {
    const head = /^([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?:$/.exec(line);
    if (head) {
      current = { installed: null, candidate: null };
      const [, name, arch] = head as unknown as [string, string, string | undefined];
      out.set(arch ? `${name}:${arch}` : name, current);
      if (arch && !out.has(name)) out.set(name, current);
      continue;
    }
    if (!current) continue;
    const field = /^ {2}(Installed|Candidate): (\S+)\s*$/.exec(line);
    if (field?.[1] === "Installed") current.installed = version(field[2]);
    else if (field?.[1] === "Candidate") current.candidate = version(field[2]);
  }
  return out;
}

/** One package apt's simulation changes: from (null: newly installed) → to (null: removed). */
export interface AptChange {
  from: string | null;
  to: string | null;
}

export interface AptSimulation {
  /** Every package an Inst, Conf, Remv or Purg line names. */
  changes: Record<string, AptChange>;
  /** Packages apt would remove: Remv/Purg lines, or the "will be REMOVED" list apt prints before it refuses (--no-remove). */
  removes: string[];
  /** apt's error lines ("E: …"). */
  errors: string[];
}

/**
 * `apt-get --simulate install …` output. The lines apt prints per package:
 *   Inst NAME [CURRENT] (CANDIDATE RELEASE… [ARCH]) [BROKEN…]   an upgrade ([CURRENT] absent: a new install)
 *   Conf NAME (CANDIDATE RELEASE… [ARCH])                        configured
 *   Remv NAME [CURRENT]  ·  Purg NAME [CURRENT]                  removed
 * and, when --no-remove refuses, "The following packages will be REMOVED:" with the names
 * indented below it ("name*" when purged), then "E: Packages need to be removed but remove is disabled.".
 */
export function parseAptSimulation(lines: readonly string[]): AptSimulation {
  const changes: Record<string, AptChange> = {};
  const removes = new Set<string>();
  const errors: string[] = [];
  let inRemovedList = false;
  for (const line of lines) {
    if (inRemovedList) {
      if (/^ {2}\S/.test(line)) {
        for (const w of line.trim().split(/\s+/)) removes.add(w.replace(/\*$/, ""));
        continue;
      }
      inRemovedList = false;
    }
    if (/^The following packages will be REMOVED:$/.test(line)) {
      inRemovedList = true;
      continue;
    }
    if (line.startsWith("E: ")) {
      errors.push(line);
      continue;
    }
    const inst = /^Inst (\S+)(?: \[([^\]\s]+)\])? \((\S+) [^)]*\)(?: \[.*\])?$/.exec(line);
    if (inst) {
      const [, name, from, to] = inst as unknown as [string, string, string | undefined, string];
      changes[name] = { from: from ?? null, to };
      continue;
    }
    const conf = /^Conf (\S+) \((\S+) [^)]*\)$/.exec(line);
    if (conf) {
      const [, name, to] = conf as unknown as [string, string, string];
      // A package configured without being unpacked first (left half-configured): it stays at its version.
      changes[name] ??= { from: to, to };
      continue;
    }
    const remv = /^(?:Remv|Purg) (\S+)(?: \[([^\]\s]+)\])?/.exec(line);
    if (remv) {
      const [, name, from] = remv as unknown as [string, string, string | undefined];
      changes[name] = { from: from ?? null, to: null };
      removes.add(name);
    }
  }
  return { changes, removes: [...removes].sort(), errors };
}

/** How a program the preview ran ended (helper/preview.ts query). */
export interface Ran {
  exitCode: number;
  timedOut: boolean;
  lines: string[];
}

/** The last lines of a program's output that say something, for an error message. */
const tail = (lines: readonly string[], n = 3) => lines.map((l) => l.trim()).filter((l) => l !== "").slice(-n).join(" | ").slice(0, 500);

export type Versions = Record<string, { from: string; to: string }>;

/**
 * Each package's installed version (dpkg-query's, `installed`) → its candidate, from ONE
 * `apt-cache policy` of them all. Refuses, naming the package(s), when apt-cache failed (exit
 * status, timeout), says nothing of a package, or reads its installed version otherwise; and when
 * a candidate ends in "+" or "-", which apt-get would read as a suffix of `name=version`.
 */
export function candidateVersions(r: Ran, names: readonly string[], installed: ReadonlyMap<string, string>): Versions {
  const all = names.join(", ");
  if (r.timedOut) throw new HelperRefusal("BAD_REQUEST", `apt-cache policy did not finish in time: the candidate versions of ${all} are unknown`);
  if (r.exitCode !== 0) throw new HelperRefusal("BAD_REQUEST", `apt-cache policy exited with ${r.exitCode}${tail(r.lines) ? ` (${tail(r.lines)})` : ""}: the candidate versions of ${all} are unknown`);
  const policy = parseAptPolicy(r.lines.join("\n"));
  const versions: Versions = {};
  for (const name of names) {
    const p = policy.get(name);
    const from = installed.get(name);
    if (!p) throw new HelperRefusal("BAD_REQUEST", `apt-cache policy says nothing of ${name}: its candidate version is unknown (is it in this host's package lists?)`);
    if (from === undefined || p.installed !== from) throw new HelperRefusal("BAD_REQUEST", `apt-cache policy reads ${name}'s installed version as ${p.installed ?? "(none)"}, dpkg-query as ${from ?? "(none)"}: its candidate version cannot be trusted`);
    // "(none)": no repository offers it (nor the installed version): it stays as it is.
    const to = p.candidate ?? from;
    if (/[+-]$/.test(to)) throw new HelperRefusal("BAD_REQUEST", `${name}'s candidate version ${to} ends in "${to.slice(-1)}", which apt-get would read as a suffix of ${name}=${to}: refused`);
    versions[name] = { from, to };
  }
  return versions;
}

/**
 * What apt would change for the plan's `apt-get install --only-upgrade --no-remove … name=version…`,
 * from its simulation. Refuses when apt would remove a package (listed, or refused by
 * --no-remove), when the simulation failed, or when it would not bring a named package to its
 * candidate (nor leave an unchanged one alone).
 */
export function simulatedChanges(r: Ran, pins: readonly string[], versions: Versions): Record<string, AptChange> {
  const sim = parseAptSimulation(r.lines);
  if (sim.removes.length > 0) {
    throw new HelperRefusal("BAD_REQUEST", `apt would remove ${sim.removes.join(", ")} to upgrade ${Object.keys(versions).join(", ")}: upgrade_packages never removes a package, so this is not proposed (resolve it on the host, or upgrade other packages first)`);
  }
  if (r.timedOut) throw new HelperRefusal("BAD_REQUEST", `apt-get --simulate did not finish in time: what upgrading ${Object.keys(versions).join(", ")} would change is unknown`);
  if (r.exitCode !== 0) throw new HelperRefusal("BAD_REQUEST", `apt-get --simulate install ${pins.join(" ")} exited with ${r.exitCode}: ${(sim.errors.join(" | ") || tail(r.lines)).slice(0, 500)}`);
  for (const [name, v] of Object.entries(versions)) {
    const c = sim.changes[name];
    const wrong = v.from === v.to ? c !== undefined && c.to !== v.to : c?.to !== v.to;
    if (wrong) throw new HelperRefusal("BAD_REQUEST", `apt's simulation does not bring ${name} from ${v.from} to ${v.to} (it says ${c ? `${c.from ?? "(none)"} → ${c.to ?? "(removed)"}` : "nothing of it"}): refused`);
  }
  return sim.changes;
}
