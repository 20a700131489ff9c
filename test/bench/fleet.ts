// Hosts for the bench: real agents from `hostward local up`, simulated hosts from the bench-only
// multi-agent launcher, and broker configuration directories that point at either.
import { spawn } from "node:child_process";
import { closeSync, cpSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BROKER_BUNDLE, run, stopChild, track, waitForFile } from "./util";

export interface FleetAgent {
  host: string;
  role: "reader" | "operator";
  pid: number;
  port: number;
}

/** `hostward local up`: a CA, N hosts (reader + operator agent processes each), an inventory. */
export async function localUp(dir: string, hosts: number): Promise<FleetAgent[]> {
  await run(process.execPath, [BROKER_BUNDLE, "local", "up", "--dir", dir, "--hosts", String(hosts)]);
  return (JSON.parse(readFileSync(join(dir, "fleet.json"), "utf8")) as { agents: FleetAgent[] }).agents;
}

export async function localDown(dir: string): Promise<void> {
  await run(process.execPath, [BROKER_BUNDLE, "local", "down", "--dir", dir]);
}

export interface BrokerHost {
  name: string;
  readerPort: number;
  /** The operator agent's port; 1 (never called) when absent. */
  operatorPort?: number;
  /** The DNS name the agent's certificate carries. */
  certName: string;
  /** Tags besides "bench". */
  tags?: string[];
}

/**
 * A broker configuration directory: the fleet's TLS files (CA + the broker's client
 * certificates), an inventory of `hosts` on 127.0.0.1, a policy allowing every diagnostic (and,
 * with `actions`, the actions on tag:bench), and broker.yaml with its own state directory (audit
 * log) and any settings given.
 */
export function writeBrokerConfig(dir: string, fleetDir: string, hosts: readonly BrokerHost[], settings: Record<string, unknown> = {}, opts: { actions?: boolean } = {}): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  cpSync(join(fleetDir, "tls"), join(dir, "tls"), { recursive: true });
  const lines = ["hosts:"];
  for (const h of hosts) {
    // Without an operator agent the port is never called; 1 keeps the inventory valid.
    lines.push(`  - name: ${h.name}`, "    address: 127.0.0.1", `    ports: { reader: ${h.readerPort}, operator: ${h.operatorPort ?? 1} }`, `    tags: [${["bench", ...(h.tags ?? [])].join(", ")}]`, `    certName: ${h.certName}`);
  }
  writeFileSync(join(dir, "hosts.yaml"), `${lines.join("\n")}\n`);
  const actions = opts.actions ? '  - target: "tag:bench"\n    allow: ["group:actions"]\n' : "";
  writeFileSync(join(dir, "policy.yaml"), `rules:\n  - target: "*"\n    allow: ["group:system", "group:services", "group:network", "group:logs", "group:health"]\n${actions}`);
  writeFileSync(join(dir, "broker.yaml"), `${JSON.stringify({ stateDir: join(dir, "state"), ...settings })}\n`);
}

export interface Launcher {
  pid: number;
  ports: number[];
  stop(): Promise<void>;
}

/** Starts one multi-agent process serving `count` simulated hosts with local1's TLS identity. */
export async function startLauncher(bundle: string, fleetDir: string, workDir: string, index: number, count: number): Promise<Launcher> {
  mkdirSync(workDir, { recursive: true });
  const host = join(fleetDir, "agents", "local1");
  const config = join(workDir, `multi-${index}.yaml`);
  writeFileSync(
    config,
    JSON.stringify({ listen: { host: "127.0.0.1", port: 0 }, tls: { ca: join(host, "ca.crt"), cert: join(host, "reader.crt"), key: join(host, "reader.key") } }),
  );
  const ready = join(workDir, `multi-${index}.ready.json`);
  rmSync(ready, { force: true });
  const child = track(
    spawn(process.execPath, [bundle, "--config", config, "--count", String(count), "--ready-file", ready], {
      // The per-call log lines go where a real agent's go (stdout), here to /dev/null.
      stdio: ["ignore", "ignore", "inherit"],
    }),
  );
  await waitForFile(ready, 300_000, child);
  const { ports } = JSON.parse(readFileSync(ready, "utf8")) as { ports: number[] };
  return { pid: child.pid!, ports, stop: () => stopChild(child) };
}

export interface HostsLauncher {
  pid: number;
  hosts: Array<{ name: string; reader: number; operator: number }>;
  stop(): Promise<void>;
}

/**
 * One multi-agent process serving a reader and an operator for each of `hosts` (agent
 * configuration files written by the caller, each host with its own certificates and helper
 * directories). Its per-call log lines go to `callLog`, its helpers' stderr to `helperLog`.
 */
export async function startHostsLauncher(bundle: string, workDir: string, index: number, hosts: ReadonlyArray<{ name: string; reader: string; operator: string }>, callLog: string, helperLog: string): Promise<HostsLauncher> {
  mkdirSync(workDir, { recursive: true });
  const list = join(workDir, `hosts-${index}.json`);
  writeFileSync(list, JSON.stringify(hosts));
  const ready = join(workDir, `hosts-${index}.ready.json`);
  rmSync(ready, { force: true });
  const out = openSync(callLog, "a");
  try {
    const child = track(spawn(process.execPath, [bundle, "--hosts", list, "--helper-log", helperLog, "--ready-file", ready], { stdio: ["ignore", out, "inherit"] }));
    await waitForFile(ready, 300_000, child);
    const { hosts: served } = JSON.parse(readFileSync(ready, "utf8")) as { hosts: HostsLauncher["hosts"] };
    return { pid: child.pid!, hosts: served, stop: () => stopChild(child) };
  } finally {
    closeSync(out);
  }
}
