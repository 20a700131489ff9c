// A local fleet for trying hostward without root or a second machine: a private CA, N agents
// (both roles) on 127.0.0.1 with ports chosen by the kernel, and a broker configuration (inventory,
// policy, client certificates) that `hostward serve --config DIR` uses as it is. `local up` again
// in the same DIR (after `local down`, or a reboot) keeps the CA, the approver key and each
// agent's ports, and renews the short-lived certificates: a broker that kept running with that
// configuration finds the same agents where they were.
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, renameSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parse as parseYaml, stringify } from "yaml";
import { createCa, issueAgentCerts, issueClientCert, writePem } from "../pki";
import { configFiles } from "../paths";
import { formatOpenSshPrivateKey, formatOpenSshPublicKey } from "../../../proto/catalog/approval";
import { agentBundle, isOurAgent, launchAgent, type Role } from "./launcher";
import { initApprovalStore } from "../../../agent/src/helper/nonce-store";

interface FleetAgent {
  host: string;
  role: Role;
  pid: number;
  port: number;
}

export interface FleetState {
  dir: string;
  startedAt: string;
  agents: FleetAgent[];
}

const ROLES: Role[] = ["reader", "operator"];
/** Tags cycle so that `tag:web` and `tag:db` select different hosts in the demo and tests. */
const TAG_CYCLE = [["web"], ["db"], ["web", "edge"]];

/** The local fleet's approver key (OpenSSH format), for `hostward approve ID --key …`. */
export function fleetApproverKey(dir: string): string {
  return join(dir, "approver", "local-admin");
}

/** Units the local fleet's helpers may act on (their allowlist, actions.yaml). */
const LOCAL_ACTION_UNITS = ["nginx.service", "unbound.service"];

function fleetFile(dir: string): string {
  return join(dir, "fleet.json");
}

export function readFleet(dir: string): FleetState | null {
  const f = fleetFile(dir);
  if (!existsSync(f)) return null;
  return JSON.parse(readFileSync(f, "utf8")) as FleetState;
}

async function waitReady(file: string, pid: number, logFile: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(file)) {
      const ready = JSON.parse(readFileSync(file, "utf8")) as { port: number };
      return ready.port;
    }
    if (!isOurAgent(pid)) break;
    await sleep(25);
  }
  const log = existsSync(logFile) ? readFileSync(logFile, "utf8").split("\n").slice(-5).join("\n") : "";
  throw new Error(`agent (pid ${pid}) did not become ready within ${timeoutMs} ms; last log lines:\n${log}`);
}

/** Each host's ports in DIR/hosts.yaml as an earlier `local up` wrote it (empty when none). */
function previousPorts(hostsFile: string): Map<string, Record<Role, number>> {
  try {
    const doc = parseYaml(readFileSync(hostsFile, "utf8")) as { hosts?: Array<{ name?: unknown; ports?: { reader?: unknown; operator?: unknown } }> };
    const out = new Map<string, Record<Role, number>>();
    for (const h of doc.hosts ?? []) {
      if (typeof h.name === "string" && typeof h.ports?.reader === "number" && typeof h.ports.operator === "number") out.set(h.name, { reader: h.ports.reader, operator: h.ports.operator });
    }
    return out;
  } catch {
    return new Map();
  }
}

/** Whether 127.0.0.1:port can be bound right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ host: "127.0.0.1", port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export interface UpOptions {
  dir: string;
  hosts: number;
  /** Extra roots that read_log_file/search_logs may read on the local agents. */
  logRoots?: string[];
}

export async function fleetUp(opts: UpOptions): Promise<FleetState> {
  const { dir } = opts;
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > 50) {
    throw new Error(`--hosts must be an integer from 1 to 50 (got ${opts.hosts})`);
  }
  const existing = readFleet(dir);
  if (existing && existing.agents.some((a) => isOurAgent(a.pid))) {
    throw new Error(`a local fleet is already running in ${dir}: run "hostward local down --dir ${dir}" first`);
  }
  const files = configFiles(dir);
  mkdirSync(files.tlsDir, { recursive: true, mode: 0o700 });
  mkdirSync(files.pkiDir, { recursive: true, mode: 0o700 });

  // PKI: one CA for the fleet (kept from an earlier run in DIR); the broker's client
  // certificates, one per role, renewed at every start (they live 24 h).
  const caFiles = { cert: join(files.pkiDir, "ca.crt"), key: join(files.pkiDir, "ca.key") };
  const reuseCa = existsSync(caFiles.cert) && existsSync(caFiles.key);
  const ca = reuseCa ? { cert: readFileSync(caFiles.cert, "utf8"), key: readFileSync(caFiles.key, "utf8") } : await createCa({ commonName: "hostward local CA" });
  if (!reuseCa) {
    writePem(caFiles.cert, ca.cert, { private: false });
    writePem(caFiles.key, ca.key, { private: true });
  }
  writePem(files.caCert, ca.cert, { private: false });
  const ports0 = previousPorts(files.hosts);
  for (const role of ROLES) {
    const client = await issueClientCert(ca, { role, name: `hostward-broker-${role}`, validityHours: 24 });
    writePem(files.clientCert(role), client.cert, { private: false });
    writePem(files.clientKey(role), client.key, { private: true });
  }

  // An approver key for this fleet. On real hosts approver keys live with the humans (a file or
  // ssh-agent) and only their public lines are installed, root-owned, in /etc/hostward/approvers/.
  const approverKey = fleetApproverKey(dir);
  let approverLine: string;
  if (existsSync(approverKey) && existsSync(`${approverKey}.pub`)) {
    approverLine = readFileSync(`${approverKey}.pub`, "utf8").trim();
  } else {
    const approver = generateKeyPairSync("ed25519");
    mkdirSync(join(dir, "approver"), { recursive: true, mode: 0o700 });
    writePem(approverKey, formatOpenSshPrivateKey(approver.privateKey, "local-admin"), { private: true });
    approverLine = `max-impact="HIGH" ${formatOpenSshPublicKey(approver.publicKey, "local-admin")}`;
    writeFileSync(`${approverKey}.pub`, `${approverLine}\n`);
  }

  /** The port this host's agent had before, when it is free again; else one the kernel picks. */
  const portFor = async (host: string, role: Role): Promise<number> => {
    const before = ports0.get(host)?.[role];
    return before !== undefined && before > 0 && (await portFree(before)) ? before : 0;
  };
  const state: FleetState = { dir, startedAt: new Date().toISOString(), agents: [] };
  // One log directory every local host may empty files in, as a fleet shares a path such as
  // /var/log/app: a roll-out runs the same parameters on every host (the demo's roll-out).
  const sharedLogs = join(dir, "shared-logs");
  mkdirSync(sharedLogs, { recursive: true, mode: 0o700 });
  writeFileSync(join(sharedLogs, "debug.log"), "fleet DEBUG cache miss key=session:42 (retrying)\n".repeat(5_000));
  const inventory: Array<Record<string, unknown>> = [];
  try {
    for (let i = 1; i <= opts.hosts; i++) {
      const host = `local${i}`;
      const hostDir = join(dir, "agents", host);
      const logDir = join(hostDir, "logs");
      mkdirSync(logDir, { recursive: true, mode: 0o700 });
      writeFileSync(join(logDir, "app.log"), sampleLog(host));
      // A runaway debug log, for the demo's truncate_log repair (under the helper's logFiles root).
      writeFileSync(join(logDir, "debug.log"), `${host} DEBUG cache miss key=session:42 (retrying)\n`.repeat(20_000));
      // One key and certificate per role, as on a real host (hostward pki issue-agent).
      const certs = await issueAgentCerts(ca, { host, dns: ["localhost"], ips: ["127.0.0.1"], validityDays: 30 });
      writePem(join(hostDir, "ca.crt"), ca.cert, { private: false });
      for (const role of ROLES) {
        writePem(join(hostDir, `${role}.crt`), certs[role].cert, { private: false });
        writePem(join(hostDir, `${role}.key`), certs[role].key, { private: true });
      }
      // The helper runs WITHOUT sudo here ("direct" mode: as this user, with the fleet's own
      // approvers, nonce store and allowlist) — a development fleet, never a package.
      const helperDir = join(hostDir, "helper");
      mkdirSync(join(helperDir, "approvers"), { recursive: true, mode: 0o700 });
      mkdirSync(join(helperDir, "state"), { recursive: true, mode: 0o700 });
      // The record of used approvals begins now, as a package's postinst starts it on a real host.
      initApprovalStore(join(helperDir, "state"), [0, process.geteuid?.() ?? 0], Math.floor(Date.now() / 1000));
      writeFileSync(join(helperDir, "approvers", "local-admin.pub"), `${approverLine}\n`);
      writeFileSync(join(helperDir, "actions.yaml"), stringify({ units: LOCAL_ACTION_UNITS, containers: [], reboot: false, logFiles: [logDir, sharedLogs] }));
      const helper = {
        mode: "direct",
        path: agentBundle("action"),
        approversDir: join(helperDir, "approvers"),
        stateDir: join(helperDir, "state"),
        actionsFile: join(helperDir, "actions.yaml"),
        agentCert: join(hostDir, "operator.crt"),
      };
      const ports: Record<Role, number> = { reader: 0, operator: 0 };
      for (const role of ROLES) {
        const configFile = join(hostDir, `${role}.yaml`);
        writeFileSync(
          configFile,
          stringify({
            role,
            listen: { host: "127.0.0.1", port: await portFor(host, role) },
            tls: { ca: join(hostDir, "ca.crt"), cert: join(hostDir, `${role}.crt`), key: join(hostDir, `${role}.key`) },
            logs: { roots: [logDir, sharedLogs, ...(opts.logRoots ?? [])] },
            ...(role === "operator" ? { helper } : {}),
          }),
        );
        const readyFile = join(hostDir, `${role}.ready.json`);
        rmSync(readyFile, { force: true });
        const logFile = join(hostDir, `${role}.log`);
        const pid = launchAgent(role, configFile, readyFile, logFile);
        state.agents.push({ host, role, pid, port: 0 });
        const port = await waitReady(readyFile, pid, logFile, 15_000);
        ports[role] = port;
        state.agents[state.agents.length - 1]!.port = port;
      }
      inventory.push({
        name: host,
        address: "127.0.0.1",
        ports,
        tags: ["local", ...(TAG_CYCLE[(i - 1) % TAG_CYCLE.length] ?? [])],
        certName: host,
      });
    }
  } catch (err) {
    await stopAgents(state.agents);
    throw err;
  }

  writeFileSync(
    files.hosts,
    `# Written by "hostward local up". Each host: where its agents listen and the name its certificate carries.\n${stringify({ hosts: inventory })}`,
  );
  writeFileSync(
    files.policy,
    `# Written by "hostward local up". Deny by default; deny wins over allow.\n${stringify({
      rules: [
        { target: "*", allow: ["group:system", "group:services", "group:network", "group:logs", "group:health"] },
        { target: "tag:db", allow: [], deny: ["check_http", "test_connectivity"] },
        // Actions are never covered by "*": proposing one is allowed here by group, and each
        // still runs only with a human's signed approval.
        { target: "tag:web", allow: ["group:actions"] },
      ],
    })}`,
  );
  writeFileSync(files.broker, `# Written by "hostward local up".\n${stringify({ stateDir: join(dir, "state") })}`);
  const tmp = `${fleetFile(dir)}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2));
  renameSync(tmp, fleetFile(dir));
  return state;
}

async function stopAgents(agents: FleetAgent[]): Promise<number> {
  const alive = agents.filter((a) => isOurAgent(a.pid));
  for (const a of alive) {
    try {
      process.kill(a.pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline && alive.some((a) => isOurAgent(a.pid))) await sleep(25);
  for (const a of alive.filter((x) => isOurAgent(x.pid))) {
    try {
      process.kill(a.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  return alive.length;
}

export async function fleetDown(dir: string): Promise<number> {
  const state = readFleet(dir);
  if (!state) return 0;
  const stopped = await stopAgents(state.agents);
  rmSync(fleetFile(dir), { force: true });
  return stopped;
}

/** Stops one agent of a running fleet (tests: an unreachable host). */
export async function stopFleetAgent(dir: string, host: string, role: Role): Promise<void> {
  const state = readFleet(dir);
  const agent = state?.agents.find((a) => a.host === host && a.role === role);
  if (!agent) throw new Error(`no ${role} agent for ${host} in ${dir}`);
  await stopAgents([agent]);
}

function sampleLog(host: string): string {
  const now = Date.now();
  const lines: string[] = [];
  for (let i = 0; i < 200; i++) {
    const t = new Date(now - (200 - i) * 60_000).toISOString();
    const level = i % 37 === 0 ? "ERROR" : i % 11 === 0 ? "WARN" : "INFO";
    const msg =
      level === "ERROR"
        ? `upstream timeout after 30s talking to db (request ${1000 + i})`
        : level === "WARN"
          ? `slow request: ${200 + i} ms`
          : `GET /api/items/${i} 200`;
    lines.push(`${t} ${host} app[${4000 + (i % 3)}]: ${level} ${msg}`);
  }
  return `${lines.join("\n")}\n`;
}
