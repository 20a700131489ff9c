// What the approval-view tests share: a broker configuration directory with a dialog key
// (broker.yaml elicitationKey), a real operator agent (propose_action learns the host's key from
// its TLS handshake and asks its helper for the impact preview; nothing is executed), and an SDK
// Client over stdio to the BUILT broker that declares MCP Apps (or not) the way a host does.
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PassThrough } from "node:stream";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { RESOURCE_MIME_TYPE } from "@modelcontextprotocol/ext-apps/app-bridge";
import { formatOpenSshPrivateKey, openSshPublicLine } from "../../../broker/src/approval/private-key";
import { configFiles } from "../../../broker/src/paths";
import { DEFAULT_ALLOWLIST, HELPER_BUNDLE, makeApprover, makeHost } from "../../actions/support";
import { startAgent, type TestAgent } from "../../support/agent";
import { createTestPki } from "../../support/pki";
import { BROKER_BUNDLE, brokerEnv, createBrokerDir, type BrokerDir } from "../helpers/broker-dir";

/** The MCP Apps extension as a host declares it in its client capabilities. */
const APPS_CAPABILITY = { extensions: { "io.modelcontextprotocol/ui": { mimeTypes: [RESOURCE_MIME_TYPE] } } };

export interface ToolResult {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content: Array<{ type: string; text?: string }>;
}

export const text = (r: ToolResult) => r.content.map((c) => c.text ?? "").join("\n");

export interface AppsBroker {
  root: string;
  /** A log directory the host's actions.yaml allows truncate_log in (`logFiles`). */
  logs: string;
  bd: BrokerDir;
  /** The dialog key's public half (OpenSSH line): what approvals given in the client are signed with. */
  elicitationPub: string;
  writePolicy(policy: Record<string, unknown>): void;
  connect(opts?: { apps?: boolean; modern?: boolean; name?: string }): Promise<{ client: Client; close(): Promise<void>; stderr(): string }>;
  stop(): Promise<void>;
}

export async function startAppsBroker(prefix: string): Promise<AppsBroker> {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const bd = createBrokerDir(join(root, "cfg"), undefined);
  const { privateKey } = generateKeyPairSync("ed25519");
  const keyFile = join(root, "elicitation-key");
  writeFileSync(keyFile, formatOpenSshPrivateKey(privateKey, "broker-elicitation"), { mode: 0o600 });
  bd.writeBroker({ elicitationKey: keyFile, approvalTtlSeconds: 600 });
  const pki = await createTestPki(join(root, "pki"));
  const logs = join(root, "logs");
  mkdirSync(logs, { mode: 0o755 });
  const host = makeHost([makeApprover("MEDIUM")], `${DEFAULT_ALLOWLIST}logFiles: [${logs}]\n`);
  let operator: TestAgent | undefined;
  try {
    operator = await startAgent({
      role: "operator",
      pki,
      dir: join(root, "operator"),
      config: { helper: { mode: "direct", path: HELPER_BUNDLE, approversDir: host.approversDir, stateDir: host.stateDir, actionsFile: host.actionsFile, agentCert: host.agentCert } },
    });
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  bd.writeHosts([{ name: "web1", port: 9, operatorPort: operator.port }]);
  const files = configFiles(bd.dir);
  writeFileSync(files.caCert, pki.ca.cert);
  for (const role of ["reader", "operator"] as const) {
    writeFileSync(files.clientCert(role), pki.clients[role].cert);
    writeFileSync(files.clientKey(role), pki.clients[role].key, { mode: 0o600 });
  }
  writeFileSync(files.policy, JSON.stringify({ rules: [{ target: "web1", allow: ["group:actions"] }], elicitation: { maxImpact: "LOW", appView: true } }, null, 2));
  return {
    root,
    logs,
    bd,
    elicitationPub: openSshPublicLine(privateKey, "broker-elicitation"),
    writePolicy: (policy) => writeFileSync(files.policy, JSON.stringify(policy, null, 2)),
    async connect(opts = {}) {
      const transport = new StdioClientTransport({ command: process.execPath, args: [BROKER_BUNDLE, "serve", "--config", bd.dir], env: brokerEnv(root), stderr: "pipe" });
      let stderr = "";
      (transport.stderr as PassThrough | null)?.on("data", (c: Buffer) => (stderr += c.toString()));
      const client = new Client(
        { name: opts.name ?? "apps-test", version: "1.0" },
        {
          ...(opts.apps !== false && { capabilities: APPS_CAPABILITY }),
          ...(opts.modern && { versionNegotiation: { mode: "auto" as const } }),
        },
      );
      await client.connect(transport);
      return { client, close: () => client.close(), stderr: () => stderr };
    },
    async stop() {
      await operator?.stop();
      rmSync(host.dir, { recursive: true, force: true });
      rmSync(root, { recursive: true, force: true });
    },
  };
}
