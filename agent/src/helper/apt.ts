// Parsers of apt's own output for upgrade_packages' preview (helper/preview.ts packagesPreview):
// `apt-cache policy NAME…` (installed and candidate version of each package, one call for all)
// and `apt-get --simulate install …` (the packages apt would install, upgrade or remove). Both run
// with the fixed C.UTF-8 locale (child-env.ts), so apt's labels are untranslated; the
// simulation's Inst/Conf/Remv/Purg lines are never translated (apt-pkg/algorithms.cc pkgSimulate).

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
