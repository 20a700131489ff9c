// hostward audit verify|tail: check and read the broker's hash-chained audit log.
import { createPublicKey } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { printable } from "../../../shared/printable";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { anchorFilesIn, AuditLog } from "../audit/log";
import { loadOrCreateAnchorKey } from "../audit/anchor";
import { verifyAuditFile, type VerifyResult } from "../audit/verify";
import { AUDIT_FILE } from "../broker";
import { ConfigError, loadBrokerSettings } from "../config/load";
import { defaultStateDir } from "../paths";
import { requireConfigDir } from "./config-dir";
import { verifyPgChain } from "../state/postgres/admin";
import type { PostgresSettings } from "../state/postgres/connect";
import { openPostgresState } from "../state/postgres/index";

const HELP = `Usage:
  hostward audit verify [--config DIR | --file FILE]   check the hash chain and its signed head; exit 1 at the first failed check
  hostward audit repair [--config DIR | --file FILE]   set aside a record cut short at the end (a crash, a full disk) and record the recovery
  hostward audit tail [-n N] [--config DIR | --file FILE]   print the last N records (default 20) as JSON lines

With broker.yaml state.postgres, verify and tail read the chain in the database (hostward.audit):
verify runs the same checks over every row in one snapshot and says whether the role connecting
could change the chain (a broker's role cannot: hostward state setup).

The log is <stateDir>/${AUDIT_FILE}; stateDir comes from DIR/broker.yaml (default ${defaultStateDir()}).
Its signed head is DIR/audit-head.json, signed with DIR/audit-anchor.key (kept apart from the log);
with --file alone the head is not checked. To start a new log, move the log and audit-head.json away together.
`;

function auditFile(values: { config?: string; file?: string }): { file: string; configDir?: string } {
  if (values.file) return { file: values.file, ...(values.config && { configDir: values.config }) };
  const configDir = requireConfigDir(values.config);
  const settings = loadBrokerSettings(configDir);
  return { file: join(settings.stateDir ?? defaultStateDir(), AUDIT_FILE), configDir };
}

/** The plain report of `hostward audit verify`. */
export function formatVerify(file: string, r: VerifyResult, options: { anchored?: boolean } = {}): string {
  const out: string[] = [];
  if (r.ok) out.push(`${file}: ${r.records} records, hash chain intact`);
  else out.push(`${file}: FAILED check "${r.failure!.check}" at record ${r.failure!.line}: ${r.failure!.error}`);
  for (const rec of r.recoveries) {
    out.push(`  recovery at record ${rec.seq}: a record cut short (${rec.tornBytes} bytes, a crash or a full disk) was set aside in ${rec.keptIn} (${rec.kept}); not tampering`);
  }
  if (r.tornTail !== undefined) out.push(`  the last ${r.tornTail} bytes are a record cut short (a crash or a full disk): the next append, or "hostward audit repair", sets them aside and records it`);
  if (r.anchor.status === "verified") out.push(`  signed head: verified (record ${r.anchor.seq}, signed ${r.anchor.at}); records after it are covered by the chain only`);
  else if (r.anchor.status === "absent" && options.anchored !== false) out.push("  signed head: none (not anchored: cutting records off the end would not be detected)");
  return `${out.join("\n")}\n`;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string" },
      file: { type: "string" },
      lines: { type: "string", short: "n", default: "20" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [sub] = positionals;
  if (values.help || sub === undefined) {
    process.stdout.write(HELP);
    return values.help ? 0 : 2;
  }
  let where: { file: string; configDir?: string };
  try {
    if (!values.file) {
      const settings = loadBrokerSettings(requireConfigDir(values.config));
      if (settings.state?.postgres) return await inDatabase(sub, settings.state.postgres, values.lines);
    }
    where = auditFile(values);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`hostward audit: ${err.problems.join("\n  ")}\n`);
    return 1;
  }
  const { file } = where;
  const anchor = where.configDir ? anchorFilesIn(where.configDir) : undefined;
  if ((sub === "verify" || sub === "tail") && !existsSync(file)) {
    process.stderr.write(`hostward audit: there is no audit log at ${file} yet (the broker writes it from its first call)\n`);
    return 1;
  }
  switch (sub) {
    case "verify": {
      const publicKey = anchor && existsSync(anchor.key) ? createPublicKey(loadOrCreateAnchorKey(anchor.key)) : undefined;
      const result = verifyAuditFile(file, anchor ? { head: anchor.head, requireHead: existsSync(anchor.key), ...(publicKey && { publicKey }) } : {});
      process.stdout.write(formatVerify(file, result));
      return result.ok ? 0 : 1;
    }
    case "repair": {
      const log = new AuditLog(file, anchor ? { anchor } : {}).open();
      try {
        const r = await log.repair();
        process.stdout.write(r.recovered ? `${file}: a record cut short was set aside; the recovery is record ${r.seq}\n` : `${file}: nothing to repair (last record ${r.seq})\n`);
        return 0;
      } catch (err) {
        process.stderr.write(`hostward audit repair: ${(err as Error).message}\n`);
        return 1;
      } finally {
        await log.close();
      }
    }
    case "tail": {
      const n = Number(values.lines);
      if (!Number.isInteger(n) || n < 1 || n > 100_000) {
        process.stderr.write(`hostward audit tail: -n must be an integer from 1 to 100000 (got "${values.lines}")\n`);
        return 2;
      }
      const lines = readFileSync(file, "utf8").split("\n").filter((l) => l !== "");
      // Records hold model and host text: escaped for the terminal (still JSON with the same values).
      process.stdout.write(lines.slice(-n).map((l) => `${printable(l)}\n`).join(""));
      return 0;
    }
    default:
      process.stderr.write(`hostward audit: unknown subcommand "${sub}"\n\n${HELP}`);
      return 2;
  }
}

function lineCount(value: string | undefined): number | undefined {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 && n <= 100_000 ? n : undefined;
}

async function inDatabase(sub: string, settings: PostgresSettings, lines: string | undefined): Promise<number> {
  if (sub !== "verify" && sub !== "tail") {
    process.stderr.write(`hostward audit ${sub}: the chain is in PostgreSQL, where a record is written whole or not at all: there is nothing to ${sub}\n`);
    return 2;
  }
  const n = lineCount(lines);
  if (sub === "tail" && n === undefined) {
    process.stderr.write(`hostward audit tail: -n must be an integer from 1 to 100000 (got "${lines}")\n`);
    return 2;
  }
  const state = openPostgresState(settings, { applicationName: "hostward-audit" });
  const where = state.audit.location;
  try {
    if (sub === "tail") {
      const { records, problems } = await state.audit.tail(n!, 64 * 1024 * 1024);
      process.stdout.write(records.map((r) => `${printable(JSON.stringify(r))}\n`).join(""));
      for (const p of problems) process.stderr.write(`hostward audit tail: ${p}\n`);
      return problems.length === 0 ? 0 : 1;
    }
    const result = await verifyPgChain(state.pool);
    // The database's chain has no signed head (its permissions keep the end from being cut).
    let text = formatVerify(where, result, { anchored: false });
    text += result.role.excess.length === 0
      ? `  append-only: enforced by the database (role ${result.role.role} can insert, not update, delete or truncate; triggers refuse those to every role)\n`
      : `  append-only: the role ${result.role.role} ${result.role.excess.join(", ")}; the triggers still refuse updates and deletes, but this role could remove them\n`;
    process.stdout.write(text);
    return result.ok ? 0 : 1;
  } catch (err) {
    process.stderr.write(`hostward audit ${sub}: ${where}: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await state.close();
  }
}
