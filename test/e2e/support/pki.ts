// Certificates the way an operator makes them: the real CLI (`node dist/hostward.cjs pki …`), into
// a temporary directory, then copied into a container where the package expects them
// (/etc/hostward/tls/{ca.crt,reader.crt,reader.key,operator.crt,operator.key}, root-owned, keys
// 0600). Installing them records the host's operator key, which approvals made by
// support/approvals.ts then bind.
import { X509Certificate } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { publicKeyFingerprint } from "../../../shared/cert-names";
import { registerHostKey } from "./approvals";
import type { Container } from "./container";
import { runOk } from "./run";
import { BROKER_BUNDLE } from "./paths";

export interface AgentFiles {
  host: string;
  ca: string;
  reader: { cert: string; key: string };
  operator: { cert: string; key: string };
  /** "sha256:<hex>" of the operator certificate's key. */
  hostKey: string;
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
      const role = (r: string) => ({ cert: join(out, `${r}.crt`), key: join(out, `${r}.key`) });
      const hostKey = publicKeyFingerprint(new X509Certificate(readFileSync(join(out, "operator.crt"))));
      return { host, ca: join(out, "ca.crt"), reader: role("reader"), operator: role("operator"), hostKey };
    },
    async issueClient(role, outDir) {
      await cli("issue-client", "--role", role, "--name", `e2e-broker-${role}`, "--dir", caDir, "--out", outDir);
    },
  };
}

/** Copies the host's certificates, keys and CA into the container (README "Install on a host", step 2). */
export async function installAgentCerts(c: Container, files: AgentFiles): Promise<void> {
  registerHostKey(files.host, files.hostKey);
  // mkdir -p keeps the mode the package gave the directory, if it made one.
  await c.execOk(["mkdir", "-p", "/etc/hostward/tls"]);
  const put = (name: string, from: string, mode: number) => {
    const target = c.path(`/etc/hostward/tls/${name}`);
    writeFileSync(target, readFileSync(from), { mode });
    chmodSync(target, mode);
  };
  put("ca.crt", files.ca, 0o644);
  put("reader.crt", files.reader.cert, 0o644);
  put("reader.key", files.reader.key, 0o600);
  put("operator.crt", files.operator.cert, 0o644);
  put("operator.key", files.operator.key, 0o600);
}
