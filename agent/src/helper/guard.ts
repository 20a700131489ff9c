// The sudo helper's first gate: who runs it, with which environment and which arguments. Pure
// functions over an Invocation so tests can drive every refusal; main-helper.ts feeds the real
// process. sudo's env_reset is the primary guard (it strips LD_* and NODE_* before node starts);
// these checks are the second line, and the only one when someone runs the file directly.
//
// Two modes. "sudo" (every package): run by sudo for hostward-operator, every path fixed.
// "direct" (local development fleets only): run without sudo by the operator agent as the same
// user, with its directories in HOSTWARD_* variables. Direct mode is impossible through sudo: sudo
// always sets SUDO_USER/SUDO_UID/SUDO_COMMAND (the caller cannot unset them), and with any of them
// present the HOSTWARD_* variables are refused as unexpected.
import { HELPER_EXIT } from "./exit-codes";

export { HELPER_EXIT };

/** The one user sudoers lets run the helper. */
const OPERATOR_USER = "hostward-operator";

/** The PATH values sudo's secure_path sets on the distributions hostward packages for
 *  (Debian/Ubuntu sudoers, then Fedora/RHEL sudoers). The helper never searches PATH (it runs
 *  absolute paths only), but an unexpected one means sudo was configured differently. */
export const EXPECTED_PATHS: readonly string[] = [
  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin",
  "/sbin:/bin:/usr/sbin:/usr/bin",
];

/** The variables that configure direct mode (and are refused in sudo mode). */
export const DIRECT_ENV = {
  mode: "HOSTWARD_HELPER_MODE",
  approversDir: "HOSTWARD_APPROVERS_DIR",
  stateDir: "HOSTWARD_STATE_DIR",
  actionsFile: "HOSTWARD_ACTIONS_FILE",
  /** The host's operator certificate: its first DNS name and its key are what approvals must name. */
  agentCert: "HOSTWARD_AGENT_CERT",
  /** Test seam (optional): seconds added to the wall clock the helper reads (clock.ts). */
  clockOffset: "HOSTWARD_CLOCK_OFFSET_SECONDS",
} as const;
const DIRECT_NAMES = new Set<string>(Object.values(DIRECT_ENV));
const SUDO_MARKERS = ["SUDO_USER", "SUDO_UID", "SUDO_GID", "SUDO_COMMAND"];

export type HelperMode = "sudo" | "direct";

/** Direct mode only when asked for and not run through sudo. */
export function helperMode(env: Invocation["env"]): HelperMode {
  if (SUDO_MARKERS.some((n) => env[n] !== undefined)) return "sudo";
  return env[DIRECT_ENV.mode] === "direct" ? "direct" : "sudo";
}

/** Variables sudo's env_reset keeps or sets; anything else is refused. */
const ALLOWED_ENV = new Set([
  "HOME",
  "LANG",
  "LANGUAGE",
  "LOGNAME",
  "MAIL",
  "PATH",
  "SHELL",
  "SUDO_COMMAND",
  "SUDO_GID",
  "SUDO_HOME",
  "SUDO_UID",
  "SUDO_USER",
  "TERM",
  "TZ",
  "USER",
  "USERNAME",
]);
const ALLOWED_ENV_PATTERN = /^LC_[A-Z_]{1,32}$/;

/** Names refused with a sharper message: each can inject code into the helper or its children. */
const DANGEROUS_ENV = /^(?:LD_|NODE_|UV_|GCONV_|MALLOC_|GLIBC_TUNABLES$|BASH_ENV$|ENV$|IFS$|PYTHON|PERL|RUBY|SSL_CERT_|OPENSSL_)/;

const MAX_ENV_VALUE = 4096;

export interface Invocation {
  /** Arguments after the script path (process.argv.slice(2)). */
  args: readonly string[];
  /** Node options given on the command line (process.execArgv). */
  execArgv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  euid: number;
  uid: number;
  /** The helper file's own owner and mode, and its directory's (it must be root's alone). */
  self: { path: string; uid: number; mode: number; dirUid: number; dirMode: number };
}

export interface Refusal {
  exitCode: number;
  message: string;
}

function checkSelf(self: Invocation["self"], mode: HelperMode, euid: number): Refusal | null {
  const file = `${self.path}`;
  // A direct-mode helper runs as its user; its file may be that user's (a development checkout).
  const owners = mode === "direct" ? [0, euid] : [0];
  if (!owners.includes(self.uid)) return { exitCode: HELPER_EXIT.noPermission, message: `${file} is not owned by root (uid ${self.uid}); reinstall the package` };
  if ((self.mode & 0o022) !== 0) {
    return { exitCode: HELPER_EXIT.noPermission, message: `${file} is writable by group or others (mode ${(self.mode & 0o7777).toString(8)}); reinstall the package` };
  }
  if (!owners.includes(self.dirUid) || (self.dirMode & 0o022) !== 0) {
    return { exitCode: HELPER_EXIT.noPermission, message: `the directory of ${file} is not root's alone (uid ${self.dirUid}, mode ${(self.dirMode & 0o7777).toString(8)})` };
  }
  return null;
}

function checkEnvironment(env: Invocation["env"], mode: HelperMode): Refusal | null {
  const names = Object.keys(env).sort();
  const dangerous = names.filter((n) => DANGEROUS_ENV.test(n));
  if (dangerous.length > 0) {
    return {
      exitCode: HELPER_EXIT.noPermission,
      message: `refused: environment variable${dangerous.length > 1 ? "s" : ""} ${dangerous.join(", ")} can change what runs; run the helper only through sudo, whose env_reset removes them`,
    };
  }
  const unexpected = names.filter((n) => !ALLOWED_ENV.has(n) && !ALLOWED_ENV_PATTERN.test(n) && !(mode === "direct" && DIRECT_NAMES.has(n)));
  if (unexpected.length > 0) {
    const shown = unexpected.slice(0, 8).map((n) => JSON.stringify(n).slice(0, 70));
    return { exitCode: HELPER_EXIT.noPermission, message: `refused: unexpected environment variable${unexpected.length > 1 ? "s" : ""} ${shown.join(", ")}${unexpected.length > 8 ? ", …" : ""}` };
  }
  for (const name of names) {
    const value = env[name] ?? "";
    // eslint-disable-next-line no-control-regex -- refuses control characters (but tab) in an environment value, on purpose
    if (value.length > MAX_ENV_VALUE || /[\0-\x08\x0a-\x1f\x7f]/.test(value)) {
      return { exitCode: HELPER_EXIT.noPermission, message: `refused: environment variable ${name} is longer than ${MAX_ENV_VALUE} characters or contains control characters` };
    }
  }
  const path = env.PATH;
  if (path !== undefined && !EXPECTED_PATHS.includes(path)) {
    return { exitCode: HELPER_EXIT.noPermission, message: `refused: PATH is ${JSON.stringify(path.slice(0, 200))}, expected sudo's secure_path (${EXPECTED_PATHS[0]})` };
  }
  return null;
}

function checkCaller(inv: Invocation, mode: HelperMode): Refusal | null {
  if (mode === "direct") {
    for (const key of ["approversDir", "stateDir", "actionsFile", "agentCert"] as const) {
      const value = inv.env[DIRECT_ENV[key]];
      if (value === undefined || !value.startsWith("/")) {
        return { exitCode: HELPER_EXIT.usage, message: `refused: direct mode needs ${DIRECT_ENV[key]} as an absolute path` };
      }
    }
    return null;
  }
  if (inv.euid !== 0 || inv.uid !== 0) {
    return { exitCode: HELPER_EXIT.noPermission, message: `refused: must run as root through sudo (uid ${inv.uid}, euid ${inv.euid})` };
  }
  const sudoUser = inv.env.SUDO_USER;
  if (sudoUser !== OPERATOR_USER) {
    return {
      exitCode: HELPER_EXIT.noPermission,
      message: `refused: only ${OPERATOR_USER} may run this helper, through sudo (SUDO_USER is ${sudoUser === undefined ? "not set" : JSON.stringify(sudoUser.slice(0, 64))})`,
    };
  }
  return null;
}

function checkArgs(args: readonly string[], execArgv: readonly string[]): Refusal | null {
  if (execArgv.length > 0) {
    return { exitCode: HELPER_EXIT.noPermission, message: `refused: node options on the command line (${execArgv.length}); the helper runs only as its own executable` };
  }
  if (args.length !== 0) {
    return {
      exitCode: HELPER_EXIT.usage,
      message: `refused: hostward-action takes no arguments (got ${args.length}); the request and its approval arrive as JSON on standard input`,
    };
  }
  return null;
}

/**
 * Every gate in order (the file itself, the environment, the caller, the arguments); the first
 * refusal wins, else the mode the helper runs in.
 */
export function decide(inv: Invocation): Refusal | { ok: true; mode: HelperMode } {
  const mode = helperMode(inv.env);
  const refusal = checkSelf(inv.self, mode, inv.euid) ?? checkEnvironment(inv.env, mode) ?? checkCaller(inv, mode) ?? checkArgs(inv.args, inv.execArgv);
  return refusal ?? { ok: true, mode };
}
