// hostward audit verify|tail: check and read the broker's hash-chained audit log.
import { printable } from "../../../shared/printable";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { verifyAuditFile } from "../audit/verify";
import { AUDIT_FILE } from "../broker";
import { loadBrokerSettings } from "../config/load";
import { defaultConfigDir, defaultStateDir } from "../paths";

const HELP = `Usage:
  hostward audit verify [--config DIR | --file FILE]   check the hash chain; exit 1 at the first broken record
  hostward audit tail [-n N] [--config DIR | --file FILE]   print the last N records (default 20) as JSON lines

The log is <stateDir>/${AUDIT_FILE}; stateDir comes from DIR/broker.yaml (default ${defaultStateDir()}).
`;

function auditFile(values: { config?: string; file?: string }): string {
  if (values.file) return values.file;
  const settings = loadBrokerSettings(values.config ?? defaultConfigDir());
  return join(settings.stateDir ?? defaultStateDir(), AUDIT_FILE);
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
  const file = auditFile(values);
  switch (sub) {
    case "verify": {
      const result = verifyAuditFile(file);
      if (result.ok) {
        process.stdout.write(`${file}: ${result.records} records, hash chain intact\n`);
        return 0;
      }
      process.stdout.write(`${file}: BROKEN at record ${result.line} (${result.records} records before it verify): ${result.error}\n`);
      return 1;
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
