// Drive the BUILT broker (`node dist/hostward.cjs serve --config DIR`) with the SDK's real MCP
// client over stdio.
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import type { PassThrough } from "node:stream";
import { BROKER_BUNDLE, brokerEnv } from "./broker-dir";

export interface BrokerSession {
  client: Client;
  stderr(): string;
  close(): Promise<void>;
}

export async function connectBroker(configDir: string, home: string, clientName = "hostward-test"): Promise<BrokerSession> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BROKER_BUNDLE, "serve", "--config", configDir],
    env: brokerEnv(home),
    stderr: "pipe",
  });
  let stderr = "";
  (transport.stderr as PassThrough | null)?.on("data", (c: Buffer) => (stderr += c.toString()));
  const client = new Client({ name: clientName, version: "0.0.1" });
  try {
    await client.connect(transport);
  } catch (err) {
    throw new Error(`cannot connect to the broker: ${(err as Error).message}\n${stderr}`, { cause: err });
  }
  // With tools/list held, the SDK's Client validates every structured result against the tool's
  // advertised outputSchema (the broker advertises it and does not re-validate its own output).
  await client.listTools();
  return { client, stderr: () => stderr, close: () => client.close() };
}

export interface ToolCall {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content: Array<{ type: string; text?: string }>;
}

export async function call(session: BrokerSession, name: string, args: Record<string, unknown>): Promise<ToolCall> {
  return (await session.client.callTool({ name, arguments: args })) as ToolCall;
}

export function textOf(r: ToolCall): string {
  return r.content.map((c) => c.text ?? "").join("\n");
}
