// Shared by the action tests that execute through a real operator agent: the agent with its root
// helper in direct mode (a scratch host configuration whose identity is the agent's own operator
// certificate), a broker directory naming it as web1 with the reader and operator client
// certificates, and the BUILT broker driven by the SDK's Client over stdio.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { configFiles } from "../../../broker/src/paths";
import { DEFAULT_ALLOWLIST, HELPER_BUNDLE, makeHost, type Approver } from "../../actions/support";
import { startAgent, type TestAgent } from "../../support/agent";
import { createTestPki } from "../../support/pki";
import { BROKER_BUNDLE, brokerEnv, createBrokerDir, type BrokerDir } from "../helpers/broker-dir";

export interface OperatorFleet {
  operator: TestAgent;
  bd: BrokerDir;
  client: Client;
}

export async function startOperatorFleet(o: {
  root: string;
  approvers: Approver[];
  allowlist?: string;
  policy: Array<{ target: string; allow?: string[]; deny?: string[]; users?: string[]; groups?: string[] }>;
  clientName: string;
}): Promise<OperatorFleet> {
  const pki = await createTestPki(join(o.root, "pki"));
  // The helper's host identity is the operator agent's own certificate (what approvals bind).
  const host = makeHost(o.approvers, o.allowlist ?? DEFAULT_ALLOWLIST, pki.agents.operator);
  const operator = await startAgent({
    role: "operator",
    pki,
    dir: join(o.root, "operator"),
    config: { helper: { mode: "direct", path: HELPER_BUNDLE, approversDir: host.approversDir, stateDir: host.stateDir, actionsFile: host.actionsFile, agentCert: host.agentCert } },
  });
  const bd = createBrokerDir(join(o.root, "cfg"), undefined);
  bd.writeHosts([{ name: "web1", port: 9, operatorPort: operator.port }]);
  bd.writePolicy(o.policy);
  const files = configFiles(bd.dir);
  writeFileSync(files.caCert, pki.ca.cert);
  for (const role of ["reader", "operator"] as const) {
    writeFileSync(files.clientCert(role), pki.clients[role].cert);
    writeFileSync(files.clientKey(role), pki.clients[role].key, { mode: 0o600 });
  }
  const client = new Client({ name: o.clientName, version: "1.0" });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [BROKER_BUNDLE, "serve", "--config", bd.dir], env: brokerEnv(o.root), stderr: "pipe" }));
  return { operator, bd, client };
}
