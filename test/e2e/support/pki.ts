// Certificates the way an operator makes them: the real CLI (`node dist/hostward.cjs pki …`), into
// a temporary directory, then copied into a container where the package expects them
// (/etc/hostward/tls/{ca.crt,agent.crt,agent.key}, root-owned, the key 0600).
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Container } from "./container";
import { runOk } from "./run";
import { BROKER_BUNDLE } from "./paths";

export interface AgentFiles {
  ca: string;
  cert: string;
  key: string;
}

export interface CliPki {
  caDir: string;
  issueAgent(host: string, ip: string): Promise<AgentFiles>;
  /** Writes OUT/reader.crt, OUT/reader.key and OUT/ca.crt (a broker's tls/ directory). */
  issueClient(role: "reader" | "operator", outDir: string): Promise<void>;
}

export async function createCliPki(dir: string): Promise<CliPki> {
  const caDir = join(dir, "ca");
  const home = join(dir, "home");
  mkdirSync(home, { recursive: true });
  // HOME inside the test tree: the CLI must not touch the real ~/.config/hostward.
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home };
  const cli = (...args: string[]) => runOk(process.execPath, [BROKER_BUNDLE, "pki", ...args], { env, timeoutMs: 30_000 });
  await cli("init", "--dir", caDir);
  return {
    caDir,
    async issueAgent(host, ip) {
      const out = join(dir, "agents", host);
      await cli("issue-agent", host, "--dns", host, "--ip", ip, "--dir", caDir, "--out", out);
      return { ca: join(out, "ca.crt"), cert: join(out, `${host}.crt`), key: join(out, `${host}.key`) };
    },
    async issueClient(role, outDir) {
      await cli("issue-client", "--role", role, "--name", `e2e-broker-${role}`, "--dir", caDir, "--out", outDir);
    },
  };
}

/** Copies an agent's certificate, key and CA into the container (README "Install on a host", step 2). */
export async function installAgentCerts(c: Container, files: AgentFiles): Promise<void> {
  // mkdir -p keeps the mode the package gave the directory, if it made one.
  await c.execOk(["mkdir", "-p", "/etc/hostward/tls"]);
  const put = (name: string, from: string, mode: number) => {
    const target = c.path(`/etc/hostward/tls/${name}`);
    writeFileSync(target, readFileSync(from), { mode });
    chmodSync(target, mode);
  };
  put("ca.crt", files.ca, 0o644);
  put("agent.crt", files.cert, 0o644);
  put("agent.key", files.key, 0o600);
}
