// Shared by the action tests: a broker config directory with a state dir, a PENDING request made
// through the same code `propose_action` uses, and the BUILT CLI run without a terminal.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { ActionService } from "../../../broker/src/actions/service";
import { ActionStore } from "../../../broker/src/actions/store";
import { AuditLog } from "../../../broker/src/audit/log";
import type { ActionRequest } from "../../../broker/src/actions/request";
import type { ActionPreview } from "../../../proto/catalog/define-action";
import { restartService } from "../../../proto/catalog/actions/index";
import { previewSummary } from "../../../proto/catalog/preview-summary";
import { BROKER_BUNDLE, createBrokerDir, type BrokerDir } from "../helpers/broker-dir";

/** A host key for requests made without a host to ask (any "sha256:<64 hex>"). */
export const TEST_HOST_KEY = `sha256:${"5a".repeat(32)}`;

/** The facts a host's helper would report for restart_service nginx.service, a failed unit. */
const TEST_FACTS = {
  systemd: true,
  paths: { systemctl: "/usr/bin/systemctl" },
  unit: "nginx.service",
  loadState: "loaded",
  activeState: "failed",
  subState: "failed",
  mainPid: 0,
  canReload: true,
  unitFileState: "enabled",
  requiredBy: [],
  wantedBy: ["multi-user.target"],
  triggeredBy: [],
  tasks: null,
  restarts: 3,
  activeSince: null,
  sockets: null,
};

/** The impact preview a host would report for restart_service nginx.service (no host is asked here): its summary is the catalog's text for its facts. */
export const TEST_PREVIEW: ActionPreview = {
  action: "restart_service",
  facts: TEST_FACTS,
  summary: previewSummary(restartService, { unit: "nginx.service" }, TEST_FACTS),
};

/** A proposal of restart_service nginx.service on web1 with TEST_PREVIEW, for the store and workflow tests. */
export const TEST_PROPOSAL = {
  host: "web1",
  hostIdentity: "web1.example.org",
  hostKey: `sha256:${"5a".repeat(32)}`,
  preview: TEST_PREVIEW,
  action: "restart_service",
  params: { unit: "nginx.service" },
  impact: "MEDIUM" as const,
  reason: "nginx is failed",
  requester: "mcp:stdio:test/1",
};

function actionService(bd: BrokerDir, ttlSeconds: number): ActionService {
  return new ActionService(new ActionStore(bd.stateDir), new AuditLog(bd.auditFile).open(), () => ttlSeconds);
}

/** `ttlSeconds`: how long it stays approvable (broker.yaml's approvalTtlSeconds; 900 by default). */
export function pendingRequest(bd: BrokerDir, over: Partial<Parameters<ActionService["propose"]>[0]> = {}, ttlSeconds = 900): Promise<ActionRequest> {
  return actionService(bd, ttlSeconds).propose({
    host: "web1",
    hostIdentity: "localhost",
    hostKey: TEST_HOST_KEY,
    preview: TEST_PREVIEW,
    action: "restart_service",
    params: { unit: "nginx.service" },
    impact: "MEDIUM",
    reason: "nginx is failed",
    requester: "mcp:stdio:test/1",
    ...over,
  });
}

export function brokerDir(root: string): BrokerDir {
  const bd = createBrokerDir(join(root, "cfg"), undefined);
  bd.writeHosts([{ name: "web1", port: 9 }]);
  bd.writePolicy([]);
  return bd;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/hostward.cjs ARGS` with stdin a pipe (never a TTY) and the given input. */
export function runCli(args: string[], env: Record<string, string>, input = ""): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BROKER_BUNDLE, ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.stdin.end(input);
    const kill = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("exit", (code) => {
      clearTimeout(kill);
      resolve({ code, stdout, stderr });
    });
  });
}
