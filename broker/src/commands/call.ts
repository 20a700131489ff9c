// hostward call TOOL [NAME=VALUE]... : one tool call through the broker, from a terminal — to see
// that a host answers before an MCP client is configured, and for scripts. It goes the way an MCP
// client goes: `hostward serve` started over stdio by the MCP SDK's Client, tools listed (the
// Client then validates the structured result against the tool's output schema), the call made,
// the broker stopped. Policy, validation and the audit log apply exactly as for the model.
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { ConfigError } from "../config/load";
import { defaultConfigDir } from "../paths";
import { requireConfigDir } from "./config-dir";

const USAGE = `Usage: hostward call TOOL [NAME=VALUE]... [--config DIR] [--json]

Calls one broker tool, as an MCP client would, and prints each host's answer. Arguments are
NAME=VALUE pairs; a VALUE that is JSON (20, true, ["a","b"]) is passed as such, anything else as a
string. Example:
  hostward call get_service_status target=web1 unit=nginx
  hostward call get_load target='*'
--json prints the tool's structured result as JSON. Exit 0 when every host answered, 1 otherwise.
Above 10 hosts a diagnostic answers with a summary (printed as JSON); view=hosts asks for every host.
DIR: the broker configuration directory (default ${defaultConfigDir()}, or $HOSTWARD_CONFIG).
`;

interface HostResult {
  host: string;
  ok: boolean;
  data?: unknown;
  error?: { code: string; message: string };
}

/** NAME=VALUE → [NAME, value]; the value is JSON when it parses as JSON, else the string itself. */
export function parseArgument(text: string): [string, unknown] {
  const eq = text.indexOf("=");
  if (eq <= 0) throw new ConfigError([`argument ${JSON.stringify(text)} must be NAME=VALUE`]);
  const name = text.slice(0, eq);
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) throw new ConfigError([`argument name ${JSON.stringify(name)} must be letters, digits and _`]);
  const raw = text.slice(eq + 1);
  try {
    const value: unknown = JSON.parse(raw);
    return [name, value];
  } catch {
    return [name, raw];
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { config: { type: "string" }, json: { type: "boolean", default: false }, help: { type: "boolean", short: "h" } },
  });
  const [tool, ...pairs] = positionals;
  if (values.help || tool === undefined) {
    (values.help ? process.stdout : process.stderr).write(USAGE);
    return values.help ? 0 : 2;
  }
  let dir: string;
  let args: Record<string, unknown>;
  try {
    dir = requireConfigDir(values.config);
    args = Object.fromEntries(pairs.map(parseArgument));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`hostward call: ${err.problems.join("\n  ")}\n`);
    return 2;
  }

  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [join(__dirname, "hostward.cjs"), "serve", "--config", dir],
    env: Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined)),
    stderr: "pipe",
  });
  let brokerLog = "";
  transport.stderr?.on("data", (chunk: Buffer) => {
    brokerLog = (brokerLog + chunk.toString()).slice(-8192);
  });
  const client = new Client({ name: "hostward-call", version: "1" });
  try {
    try {
      await client.connect(transport);
    } catch (err) {
      process.stderr.write(`hostward call: the broker did not start: ${(err as Error).message}\n${brokerLog}`);
      return 1;
    }
    const tools = (await client.listTools()).tools;
    if (!tools.some((t) => t.name === tool)) {
      process.stderr.write(`hostward call: the broker has no tool ${JSON.stringify(tool)}; it has: ${tools.map((t) => t.name).join(", ")}\n`);
      return 2;
    }
    const result = await client.callTool({ name: tool, arguments: args });
    const text = (result.content as Array<{ type: string; text?: string }>).filter((c) => c.type === "text").map((c) => c.text ?? "").join("\n");
    if (result.isError) {
      process.stderr.write(`hostward call: ${tool} refused: ${text}\n`);
      return 1;
    }
    const structured = result.structuredContent as { results?: HostResult[]; fleet?: unknown; summary?: { hosts: number; ok: number } } | undefined;
    if (values.json) process.stdout.write(`${JSON.stringify(structured ?? text, null, 2)}\n`);
    const hosts = structured?.results;
    if (!hosts) {
      // A summary answer: the summary itself, and whether every host answered.
      if (structured?.fleet !== undefined && structured.summary) {
        if (!values.json) process.stdout.write(`${JSON.stringify({ summary: structured.summary, fleet: structured.fleet }, null, 2)}\n`);
        return structured.summary.ok === structured.summary.hosts ? 0 : 1;
      }
      if (!values.json) process.stdout.write(`${text}\n`);
      return 0;
    }
    if (!values.json) {
      for (const h of hosts) {
        process.stdout.write(h.ok ? `${h.host}: ok\n${JSON.stringify(h.data, null, 2)}\n` : `${h.host}: FAILED ${h.error?.code}: ${h.error?.message}\n`);
      }
    }
    return hosts.every((h) => h.ok) ? 0 : 1;
  } finally {
    await client.close().catch(() => undefined);
  }
}
