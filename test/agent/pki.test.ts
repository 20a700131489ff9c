// The PKI the agents' mutual TLS rests on (broker/src/pki, contract 2) and `hostward pki`, the
// built CLI, writing real files. Certificates are checked with Node's own X.509 parser.
import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCa, issueAgentCert, issueAgentCerts, issueClientCert, PkiError, writePem, type PemPair } from "../../broker/src/pki/index";
import { publicKeyFingerprint } from "../../shared/cert-names";

const ROOT = join(import.meta.dirname, "..", "..");
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

let dir: string;
let ca: PemPair;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hostward-pki-"));
  ca = await createCa();
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function hostward(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, "dist", "hostward.cjs"), ...args], {
      env: { PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: join(dir, "xdg"), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("the library", () => {
  it("creates a P-256 CA certificate", () => {
    const cert = new X509Certificate(ca.cert);
    expect(cert.ca).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(cert.checkIssued(cert)).toBe(true);
    expect(ca.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it("issues serverAuth-only agent certificates with SAN DNS host + dns, SAN IPs and the role's URI", async () => {
    const agent = await issueAgentCert(ca, { host: "web1", role: "operator", dns: ["web1.example.org"], ips: ["10.0.0.5", "::1"] });
    const cert = new X509Certificate(agent.cert);
    expect(cert.checkIssued(new X509Certificate(ca.cert))).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage).toEqual([SERVER_AUTH]);
    expect(cert.subjectAltName).toBe("DNS:web1, DNS:web1.example.org, IP Address:10.0.0.5, IP Address:0:0:0:0:0:0:0:1, URI:urn:hostward:role:operator");
  });

  it("issues one key and certificate per role for a host (issueAgentCerts): the reader's key is not the operator's", async () => {
    const both = await issueAgentCerts(ca, { host: "web1" });
    const reader = new X509Certificate(both.reader.cert);
    const operator = new X509Certificate(both.operator.cert);
    expect(reader.subjectAltName).toBe("DNS:web1, URI:urn:hostward:role:reader");
    expect(operator.subjectAltName).toBe("DNS:web1, URI:urn:hostward:role:operator");
    expect(both.reader.key).not.toBe(both.operator.key);
    expect(publicKeyFingerprint(reader)).not.toBe(publicKeyFingerprint(operator));
  });

  it("issues clientAuth-only client certificates with one role URI, valid 24 h by default", async () => {
    const client = await issueClientCert(ca, { role: "operator", name: "alice" });
    const cert = new X509Certificate(client.cert);
    expect(cert.keyUsage).toEqual([CLIENT_AUTH]);
    expect(cert.subjectAltName).toBe("URI:urn:hostward:role:operator");
    expect(cert.subject).toBe("CN=alice");
    const hours = (Date.parse(cert.validTo) - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(23.9);
    expect(hours).toBeLessThanOrEqual(24);
  });

  it("refuses bad parameters with a precise message", async () => {
    await expect(issueAgentCert(ca, { host: "-web1", role: "reader" })).rejects.toThrow(new PkiError('host "-web1" is not a DNS name (letters, digits, "-" and ".")'));
    await expect(issueAgentCert(ca, { host: "web1", role: "reader", ips: ["10.0.0.300"] })).rejects.toThrow('ip "10.0.0.300" is not an IPv4 or IPv6 address');
    await expect(issueAgentCert(ca, { host: "web1", role: "admin" as "reader" })).rejects.toThrow('role must be one of reader, operator (got "admin")');
    await expect(issueClientCert(ca, { role: "admin" as "reader" })).rejects.toThrow('role must be one of reader, operator (got "admin")');
    await expect(issueClientCert(ca, { role: "reader", validityHours: 721 })).rejects.toThrow("validityHours must be a whole number from 1 to 720 (got 721)");
  });

  it("writePem writes keys 0600 and certificates 0644", () => {
    writePem(join(dir, "w", "x.key"), ca.key, { private: true });
    writePem(join(dir, "w", "x.crt"), ca.cert, { private: false });
    expect(statSync(join(dir, "w", "x.key")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "w", "x.crt")).mode & 0o777).toBe(0o644);
    expect(readFileSync(join(dir, "w", "x.crt"), "utf8")).toBe(ca.cert);
  });
});

describe("hostward pki", () => {
  const pkiDir = () => join(dir, "cli-pki");

  it("init creates the CA and refuses to replace it without --force", async () => {
    const first = await hostward(["pki", "init", "--dir", pkiDir()]);
    expect(first).toMatchObject({ code: 0, stdout: "" });
    expect(first.stderr).toContain(join(pkiDir(), "ca.crt"));
    const caPem = readFileSync(join(pkiDir(), "ca.crt"), "utf8");
    expect(statSync(join(pkiDir(), "ca.key")).mode & 0o777).toBe(0o600);

    const again = await hostward(["pki", "init", "--dir", pkiDir()]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already exist; pass --force to replace the CA");
    expect(readFileSync(join(pkiDir(), "ca.crt"), "utf8")).toBe(caPem);

    expect((await hostward(["pki", "init", "--dir", pkiDir(), "--force"])).code).toBe(0);
    expect(readFileSync(join(pkiDir(), "ca.crt"), "utf8")).not.toBe(caPem);
  });

  it("issue-agent writes reader.crt/.key, operator.crt/.key (one key per role) and ca.crt, named as on the host", async () => {
    const out = join(dir, "agent-out");
    const r = await hostward(["pki", "issue-agent", "web1", "--dns", "web1.lan", "--ip", "192.0.2.7", "--days", "30", "--dir", pkiDir(), "--out", out]);
    expect(r).toMatchObject({ code: 0, stdout: "" });
    const caCert = new X509Certificate(readFileSync(join(out, "ca.crt")));
    for (const role of ["reader", "operator"]) {
      const cert = new X509Certificate(readFileSync(join(out, `${role}.crt`)));
      expect(cert.subjectAltName).toBe(`DNS:web1, DNS:web1.lan, IP Address:192.0.2.7, URI:urn:hostward:role:${role}`);
      expect(cert.checkIssued(caCert)).toBe(true);
      expect(statSync(join(out, `${role}.key`)).mode & 0o777).toBe(0o600);
      expect(r.stderr).toMatch(new RegExp(`${role}\\.crt .*expires \\d{4}-`));
    }
    expect(readFileSync(join(out, "reader.key"), "utf8")).not.toBe(readFileSync(join(out, "operator.key"), "utf8"));
    // Default output: DIR/agents/HOST
    expect((await hostward(["pki", "issue-agent", "db1", "--dir", pkiDir()])).code).toBe(0);
    expect(existsSync(join(pkiDir(), "agents", "db1", "operator.key"))).toBe(true);
  });

  it("issue-client writes ROLE.crt and ROLE.key into the broker's tls directory by default", async () => {
    const r = await hostward(["pki", "issue-client", "--role", "reader", "--hours", "2", "--dir", pkiDir()]);
    expect(r).toMatchObject({ code: 0, stdout: "" });
    const tls = join(dir, "xdg", "hostward", "tls");
    const cert = new X509Certificate(readFileSync(join(tls, "reader.crt")));
    expect(cert.subjectAltName).toBe("URI:urn:hostward:role:reader");
    expect(cert.keyUsage).toEqual([CLIENT_AUTH]);
    expect(existsSync(join(tls, "reader.key"))).toBe(true);
    expect(existsSync(join(tls, "ca.crt"))).toBe(true);
  });

  it.each([
    [["pki", "issue-client", "--role", "admin"], 2, '--role must be reader or operator (got "admin")'],
    [["pki", "issue-client"], 2, "issue-client needs --role reader|operator"],
    [["pki", "issue-agent"], 2, "issue-agent takes exactly one HOST (got 0)"],
    [["pki", "issue-agent", "web1", "--days", "ten"], 2, '--days must be a whole number (got "ten")'],
    [["pki", "issue-agent", "web1", "--bogus"], 2, "Unknown option '--bogus'"],
    [["pki", "issue-agent", "web1", "--dir", "/nonexistent/pki"], 1, 'no CA in /nonexistent/pki (/nonexistent/pki/ca.crt is missing): run "hostward pki init" first'],
  ])("%j → exit %i with a precise message", async (args, code, message) => {
    const r = await hostward(args);
    expect(r.code).toBe(code);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe("");
  });
});
