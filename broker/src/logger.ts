// The broker's logger: pino JSON lines to stderr, or to broker.yaml's logFile. Never stdout, which
// carries the MCP protocol in stdio mode (test/broker/mcp-stdio.test.ts proves it).
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import pino, { type Logger } from "pino";

export type { Logger };

export interface LoggerOptions {
  file?: string;
  level?: string;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  let destination: pino.DestinationStream;
  if (options.file) {
    mkdirSync(dirname(options.file), { recursive: true, mode: 0o700 });
    destination = pino.destination({ dest: options.file, sync: true, mode: 0o600 });
  } else {
    destination = pino.destination({ fd: 2, sync: true });
  }
  return pino(
    {
      name: "hostward-broker",
      level: options.level ?? process.env.HOSTWARD_LOG_LEVEL ?? "info",
      base: { pid: process.pid },
      // Tokens never reach a log line, whatever a caller passes around.
      redact: { paths: ["token", "*.token", "headers.authorization"], censor: "[redacted]" },
    },
    destination,
  );
}
