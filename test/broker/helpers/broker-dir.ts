// A broker configuration directory for tests: hosts.yaml, policy.yaml, broker.yaml (state in the
// same temporary tree, never the real home) and DIR/tls from the test PKI.
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { configFiles } from "../../../broker/src/paths";
import type { TestPki } from "../../support/pki";

export const ROOT = join(import.meta.dirname, "..", "..", "..");
export const BROKER_BUNDLE = join(ROOT, "dist", "hostward.cjs");

interface TestHost {
  name: string;
  address?: string;
  port: number;
  /** The operator agent's port (default 1: nothing listens). */
  operatorPort?: number;
  tags?: string[];
  certName?: string;
}

export interface BrokerDir {
  dir: string;
  stateDir: string;
  auditFile: string;
  writeHosts(hosts: TestHost[]): void;
  writePolicy(rules: Array<{ target: string; allow?: string[]; deny?: string[]; users?: string[]; groups?: string[] }>): void;
  writeBroker(settings: Record<string, unknown>): void;
  /** Every audit record written so far. */
  audit(): Array<Record<string, unknown>>;
}

export function createBrokerDir(dir: string, pki: TestPki | undefined): BrokerDir {
  const files = configFiles(dir);
  const stateDir = join(dir, "state");
  mkdirSync(files.tlsDir, { recursive: true });
  if (pki) {
    copyFileSync(pki.files.ca, files.caCert);
    copyFileSync(pki.clients.reader.certFile, files.clientCert("reader"));
    copyFileSync(pki.clients.reader.keyFile, files.clientKey("reader"));
  }
  const auditFile = join(stateDir, "audit.jsonl");
  const bd: BrokerDir = {
    dir,
    stateDir,
    auditFile,
    writeHosts(hosts) {
      // JSON is YAML.
      const entries = hosts.map((h) => ({
        name: h.name,
        address: h.address ?? "127.0.0.1",
        ports: { reader: h.port, operator: h.operatorPort ?? 1 },
        tags: h.tags ?? [],
        certName: h.certName ?? "localhost",
      }));
      writeFileSync(files.hosts, JSON.stringify({ hosts: entries }, null, 2));
    },
    writePolicy(rules) {
      writeFileSync(files.policy, JSON.stringify({ rules }, null, 2));
    },
    writeBroker(settings) {
      writeFileSync(files.broker, JSON.stringify({ stateDir, ...settings }, null, 2));
    },
    audit() {
      if (!existsSync(auditFile)) return [];
      return readFileSync(auditFile, "utf8")
        .trimEnd()
        .split("\n")
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
  };
  bd.writeBroker({});
  return bd;
}

/** Only what a broker needs from the environment; HOME points into the test tree. */
export function brokerEnv(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, ...extra };
}

export interface HttpBroker {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
}

/**
 * Starts the BUILT broker with `serve --config DIR --http LISTEN` and resolves once it prints its
 * URL (rejects if it exits first, or prints none within `timeoutMs`).
 */
export async function spawnHttpBroker(configDir: string, env: Record<string, string>, options: { listen?: string; args?: string[]; timeoutMs?: number } = {}): Promise<HttpBroker> {
  const child = spawn(process.execPath, [BROKER_BUNDLE, "serve", "--config", configDir, "--http", options.listen ?? "127.0.0.1:0", ...(options.args ?? [])], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  let stdout = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  const timeoutMs = options.timeoutMs ?? 10_000;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed within ${timeoutMs / 1000} s:\n${stderr}`)), timeoutMs);
    child.stderr!.on("data", (c: Buffer) => {
      stderr += c.toString();
      const m = /MCP over HTTP at (http:\/\/\S+)/.exec(stderr);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code) => reject(new Error(`broker exited (${code}) before listening:\n${stderr}`)));
  });
  return { child, url, stdout: () => stdout, stderr: () => stderr };
}
