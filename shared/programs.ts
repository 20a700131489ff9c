// The ONE table of programs the agent may start and the ONE argument rule, shared by the reader's
// spawner (agent/src/exec.ts), the root helper's (agent/src/helper/spawn.ts) and the action plans
// (proto/catalog/define-action.ts: a step names its program by key, so an action cannot name a
// program this table does not know). Every program by absolute path, first existing candidate wins
// (/usr/bin before /bin on hosts that are not usr-merged).

export const PROGRAMS = {
  systemctl: ["/usr/bin/systemctl", "/bin/systemctl"],
  journalctl: ["/usr/bin/journalctl", "/bin/journalctl"],
  timedatectl: ["/usr/bin/timedatectl", "/bin/timedatectl"],
  "systemd-run": ["/usr/bin/systemd-run", "/bin/systemd-run"],
  podman: ["/usr/bin/podman"],
  ping: ["/usr/bin/ping", "/bin/ping"],
  "unbound-checkconf": ["/usr/sbin/unbound-checkconf"],
  "unbound-control": ["/usr/sbin/unbound-control"],
  caddy: ["/usr/bin/caddy"],
  nginx: ["/usr/sbin/nginx"],
  resolvectl: ["/usr/bin/resolvectl"],
  shutdown: ["/usr/sbin/shutdown", "/sbin/shutdown"],
  truncate: ["/usr/bin/truncate", "/bin/truncate"],
  "apt-get": ["/usr/bin/apt-get"],
  "dpkg-query": ["/usr/bin/dpkg-query"],
  "apt-cache": ["/usr/bin/apt-cache"],
  dnf: ["/usr/bin/dnf"],
} as const;
export type ProgramName = keyof typeof PROGRAMS;

// Options are written by code (the catalog's templates), never by a caller:
// - a flag, "-x" or "--name", optionally "=value" (any printable value: no shell ever sees it);
// - a word: a subcommand or a property list ("show", "flush_zone", "Id,LoadState");
// - the two literal operands the catalog needs ("." = the root zone for unbound-control, "+N"
//   minutes for shutdown).
// Caller values go after "--" instead (isValue).
// eslint-disable-next-line no-control-regex -- a flag's value may hold no control character
const FLAG = /^--?[A-Za-z][A-Za-z0-9-]*(?:=[^\u0000-\u001f\u007f]*)?$/;
const WORD = /^[A-Za-z][A-Za-z0-9_.:,+/-]*$/;
const LITERAL = /^(?:\.|\+\d{1,4})$/;

export function isFixedOption(o: string): boolean {
  return FLAG.test(o) || WORD.test(o) || LITERAL.test(o);
}

// eslint-disable-next-line no-control-regex -- the control characters a value may not hold
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A value after "--": not empty, never an option, no control character. */
export function isValue(v: string): boolean {
  return v !== "" && !v.startsWith("-") && !CONTROL.test(v);
}

/**
 * `options… -- values…` after checking both rules; the reason names the first refused word.
 * Throws Error (each spawner wraps it in its own error type).
 */
export function buildArgv(options: readonly string[], values: readonly string[]): string[] {
  for (const o of options) if (!isFixedOption(o)) throw new Error(`refused option ${JSON.stringify(o)}`);
  for (const v of values) if (!isValue(v)) throw new Error(`refused value ${JSON.stringify(v.slice(0, 64))}`);
  return values.length > 0 ? [...options, "--", ...values] : [...options];
}
