// Secrets in command lines never leave the host. Every command line a diagnostic returns
// (list_processes, get_process_info) passes through redactArgv() first, argument by argument,
// before it is joined, cut or sent: whatever follows a secret-looking option or variable name is
// replaced by REDACTED. The built-in rules (documented in docs and packaging/agent.yaml):
//
//   1. an option whose name ends in a secret word, with its value attached (--password=…,
//      --db-pass=…, -token=…) or as the next argument (--password …, --api-key …);
//   2. NAME=value anywhere in an argument when NAME ends in a secret word (PASSWORD=…, token=…,
//      MYSQL_PWD=…, AWS_SECRET_ACCESS_KEY=…), as in `env TOKEN=… cmd` or `sh -c "PASSWORD=… run"`;
//   3. the password of a URL's user information (postgres://app:…@db/…);
//   4. the credentials after an HTTP authorization scheme (Authorization: Bearer …, Basic …);
//   5. mysql-family clients' attached password (-p…) for mysql, mysqldump, mysqladmin, mariadb….
//
// Secret words: password, passwd, passphrase, pass, pwd, secret, token, apikey / api-key /
// api_key, access-key, secret-key, private-key, client-secret, auth, authorization, credential(s),
// cookie, session-key (any case, any of "-", "_", "." before them). An option naming a FILE of the
// secret (--password-file=/run/x, --token-file …) is a path, not the secret, and is kept.
//
// The host adds its own patterns (agent.yaml processes.redactPatterns, RE2 syntax through re2js:
// linear time, no backtracking): each match in an argument is replaced, or only its first capture
// group when the pattern has one.
import { RE2JS } from "re2js";

export const REDACTED = "<redacted>";

const WORDS = "pass(?:word|wd|phrase)?|pwd|secret|token|api[-_.]?key|access[-_.]?key|secret[-_.]?key|private[-_.]?key|client[-_.]?secret|auth(?:orization)?|credentials?|cookie|session[-_.]?key";
/** An option or variable name that ends in a secret word (the whole name, or after "-", "_", "."). */
const SECRET_NAME = new RegExp(`^(?:[A-Za-z0-9]*[-_.])?(?:[A-Za-z0-9]*[-_.])*(?:${WORDS})$`, "i");
/** --name=value / -name=value with a secret name. */
const OPTION_WITH_VALUE = /^(-{1,2})([A-Za-z0-9][A-Za-z0-9_.-]*)=(.*)$/s;
/** --name / -name expecting the value as the next argument. */
const OPTION_ALONE = /^-{1,2}([A-Za-z0-9][A-Za-z0-9_.-]*)$/;
/** NAME=value inside any argument (a shell command string, an env assignment). */
const ASSIGNMENT = new RegExp(`(^|[\\s;&|('"\`])((?:[A-Za-z0-9]*[-_.])*(?:${WORDS}))=("[^"]*"|'[^']*'|[^\\s;&|'"\`)]+)`, "gi");
const URL_PASSWORD = /([A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s/:@]*:)([^\s/@]+)@/g;
const AUTH_SCHEME = /\b(Bearer|Basic|Token|Digest|Negotiate)(\s+|%20)([A-Za-z0-9._~+/=-]{4,})/gi;
const MYSQL_CLIENTS = /^(?:mysql|mysqldump|mysqladmin|mysqlcheck|mysqlimport|mysqlshow|mariadb|mariadb-dump|mariadb-admin)$/;

export interface RedactionPolicy {
  /** The host's extra patterns, compiled (processes.redactPatterns). */
  extra: readonly RE2JS[];
}

/** Compiles agent.yaml's extra patterns; throws naming the index and the RE2 error. */
export function compilePatterns(patterns: readonly string[]): RE2JS[] {
  return patterns.map((p, i) => {
    try {
      return RE2JS.compile(p);
    } catch (err) {
      throw new Error(`processes.redactPatterns.${i}: not an RE2 pattern: ${(err as Error).message}`, { cause: err });
    }
  });
}

function secretName(name: string): boolean {
  // A file, path, length or dir of the secret is not the secret: --password-file=/run/secrets/db.
  if (/(?:file|path|dir|length|len|policy|prompt|stdin|fd|env|command|cmd)$/i.test(name)) return false;
  return SECRET_NAME.test(name);
}

function applyExtra(arg: string, extra: readonly RE2JS[]): string {
  let out = arg;
  for (const re of extra) {
    const m = re.matcher(out);
    let result = "";
    let at = 0;
    while (m.find()) {
      const groups = m.groupCount();
      const start = groups >= 1 && m.start(1) >= 0 ? m.start(1) : m.start();
      const end = groups >= 1 && m.start(1) >= 0 ? m.end(1) : m.end();
      if (end === start && m.end() === m.start()) break; // an empty match: nothing to hide
      result += out.slice(at, start) + REDACTED;
      at = end;
    }
    out = result + out.slice(at);
  }
  return out;
}

/** The arguments with every secret replaced by REDACTED (see the head of this file). */
export function redactArgv(argv: readonly string[], policy: RedactionPolicy = { extra: [] }): string[] {
  const program = (argv[0] ?? "").slice((argv[0] ?? "").lastIndexOf("/") + 1);
  const mysql = MYSQL_CLIENTS.test(program);
  const out: string[] = [];
  let hideNext = false;
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i] as string;
    if (hideNext && !arg.startsWith("-")) {
      out.push(REDACTED);
      hideNext = false;
      continue;
    }
    hideNext = false;
    if (i > 0) {
      const withValue = OPTION_WITH_VALUE.exec(arg);
      if (withValue && secretName(withValue[2] as string)) arg = `${withValue[1]}${withValue[2]}=${REDACTED}`;
      else {
        const alone = OPTION_ALONE.exec(arg);
        if (alone && secretName(alone[1] as string)) hideNext = true;
      }
      if (mysql && /^-p.+/.test(arg)) arg = `-p${REDACTED}`;
    }
    arg = arg
      .replace(ASSIGNMENT, (_m, lead: string, name: string, value: string) => (secretName(name) && value !== REDACTED ? `${lead}${name}=${REDACTED}` : `${lead}${name}=${value}`))
      .replace(URL_PASSWORD, (_m, head: string) => `${head}${REDACTED}@`)
      .replace(AUTH_SCHEME, (_m, scheme: string, space: string) => `${scheme}${space}${REDACTED}`);
    out.push(policy.extra.length > 0 ? applyExtra(arg, policy.extra) : arg);
  }
  return out;
}
