// `hostward-agent check` against real files in temporary directories: each kind of enrollment
// mistake is reported with the file and the fix, and makes the command exit 1. Most cases call
// runCheck() in-process; the CLI cases run the built bundle (dist/agent/hostward-agent.cjs).
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCheck } from "../../agent/src/check/run-check";
import { EKU, issueCertificate } from "../../broker/src/pki/certificate";
import { createCa, issueAgentCert, issueAgentCerts, roleUri, writePem, type PemPair } from "../../broker/src/pki/index";
import { ROOT, tool } from "./tools";
import { itAsRoot } from "../support/root";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const BUNDLE = join(ROOT, "dist/agent/hostward-agent.cjs");
/** Files must be owned by root. Run as another user, the in-process checks take that user for
 *  root (the rule is the same, only the uid differs); what needs real root says so (itAsRoot). */
const ROOT_UID = process.getuid?.() ?? 0;

let base: string;
let ca: PemPair;
let agents: Record<"reader" | "operator", PemPair>;
let agent: PemPair; // the operator's: the file most cases break
let counter = 0;

interface Host {
  dir: string;
  config: string;
  tls: string;
}

/**
 * A fully enrolled host in a fresh directory (tls/ca.crt, reader.*, operator.*, as `hostward pki
 * issue-agent` writes them); `cert`/`key` replace the operator's files to break one thing.
 */
function host(opts: { ca?: string; cert?: string; key?: string; config?: string } = {}): Host {
  const dir = join(base, `host-${++counter}`);
  const tls = join(dir, "tls");
  mkdirSync(tls, { recursive: true, mode: 0o750 });
  chmodSync(tls, 0o750);
  writePem(join(tls, "ca.crt"), opts.ca ?? ca.cert, { private: false });
  writePem(join(tls, "reader.crt"), agents.reader.cert, { private: false });
  writePem(join(tls, "reader.key"), agents.reader.key, { private: true });
  writePem(join(tls, "operator.crt"), opts.cert ?? agent.cert, { private: false });
  writePem(join(tls, "operator.key"), opts.key ?? agent.key, { private: true });
  const config = join(dir, "agent.yaml");
  writeFileSync(config, opts.config ?? "logs:\n  roots: [/var/log]\n");
  chmodSync(config, 0o644);
  return { dir, config, tls };
}

function check(h: Host, now?: Date, roles?: Array<"reader" | "operator">) {
  const findings = runCheck({ configFile: h.config, rootUid: ROOT_UID, now, tlsDir: h.tls, ...(roles && { roles }) });
  const errors = findings.items.filter((f) => f.severity === "error").map((f) => `${f.subject}: ${f.message}`);
  const warnings = findings.items.filter((f) => f.severity === "warning").map((f) => `${f.subject}: ${f.message}`);
  return { errors, warnings };
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), "hostward-check-"));
  ca = await createCa({ commonName: "check test CA" });
  agents = await issueAgentCerts(ca, { host: "web1", dns: ["web1.example.org"], ips: ["10.0.0.5"] });
  agent = agents.operator;
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe("hostward-agent check", () => {
  it("passes an enrolled host: both roles' certificates and keys", () => {
    const r = check(host());
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
  });

  it("refuses a key that group or others can read, naming the fix", () => {
    const h = host();
    chmodSync(join(h.tls, "operator.key"), 0o640);
    expect(check(h).errors).toEqual([`${h.tls}/operator.key: is accessible by group or others (mode 0640): chmod 600 ${h.tls}/operator.key`]);
    // --role reader (the reader unit's ExecStartPre=) checks the reader's files only
    expect(check(h, undefined, ["reader"]).errors).toEqual([]);
  });

  it("refuses one key for both roles, and a role's certificate installed as the other's", () => {
    const shared = host({ cert: agents.reader.cert.replace(/x/g, "x"), key: agents.reader.key });
    const errors = check(shared).errors.join("\n");
    expect(errors).toMatch(/the reader and the operator hold the same key .*each role needs its own/);
    expect(errors).toMatch(/operator\.crt: operator certificate is the reader's certificate \(urn:hostward:role:reader\)/);
  });

  itAsRoot("refuses files not owned by root, and a world-writable certificate or config", "chown to another user", () => {
    const h = host();
    chownSync(join(h.tls, "operator.key"), 65534, 65534);
    chmodSync(join(h.tls, "ca.crt"), 0o666);
    chmodSync(h.config, 0o666);
    const { errors } = check(h);
    expect(errors).toContain(`${h.tls}/operator.key: is owned by uid 65534, not root: chown root:root ${h.tls}/operator.key`);
    expect(errors).toContain(`${h.tls}/ca.crt: is writable by group or others (mode 0666): chmod go-w ${h.tls}/ca.crt`);
    expect(errors).toContain(`${h.config}: is writable by group or others (mode 0666): chmod go-w ${h.config}`);
  });

  it("says which file is missing", () => {
    const h = host();
    rmSync(join(h.tls, "operator.crt"));
    expect(check(h).errors).toEqual([`${h.tls}/operator.crt: operator certificate does not exist`]);
  });

  it("refuses an expired agent certificate and warns about one that expires soon", async () => {
    const now = Date.now();
    const role = [roleUri("operator")];
    const expired = await issueCertificate(ca, { commonName: "web1", notBefore: new Date(now - 10 * DAY), notAfter: new Date(now - DAY), extendedKeyUsages: [EKU.serverAuth], dns: ["web1"], uris: role });
    const h1 = host({ cert: expired.cert, key: expired.key });
    expect(check(h1).errors.join("\n")).toMatch(/operator\.crt: operator certificate expired on \d{4}-/);
    const soon = await issueCertificate(ca, { commonName: "web1", notBefore: new Date(now - DAY), notAfter: new Date(now + 3 * DAY), extendedKeyUsages: [EKU.serverAuth], dns: ["web1"], uris: role });
    const h2 = host({ cert: soon.cert, key: soon.key });
    const r = check(h2);
    expect(r.errors).toEqual([]);
    expect(r.warnings.join("\n")).toMatch(/operator certificate expires in [23] days/);
  });

  it("refuses a certificate that does not match the key", async () => {
    const other = await issueAgentCert(ca, { host: "web2", role: "operator" });
    const h = host({ key: other.key });
    expect(check(h).errors).toEqual([`${h.tls}/operator.crt: operator certificate does not match the key ${h.tls}/operator.key: copy the key issued with this certificate`]);
  });

  it("refuses a certificate from another CA", async () => {
    const otherCa = await createCa({ commonName: "another CA" });
    const h = host({ ca: otherCa.cert });
    expect(check(h).errors.join("\n")).toMatch(/operator certificate was not issued by the CA in .*ca\.crt/);
  });

  it("refuses a certificate without serverAuth, and one without a DNS or IP name", async () => {
    const valid = { notBefore: new Date(Date.now() - HOUR), notAfter: new Date(Date.now() + 90 * DAY) };
    const client = await issueCertificate(ca, { commonName: "web1", ...valid, extendedKeyUsages: [EKU.clientAuth], dns: ["web1"], uris: [roleUri("operator")] });
    expect(check(host({ cert: client.cert, key: client.key })).errors.join("\n")).toMatch(/does not allow server authentication \(extended key usage serverAuth missing; it has 1\.3\.6\.1\.5\.5\.7\.3\.2\)/);
    const nameless = await issueCertificate(ca, { commonName: "web1", ...valid, extendedKeyUsages: [EKU.serverAuth], uris: [roleUri("operator")] });
    expect(check(host({ cert: nameless.cert, key: nameless.key })).errors.join("\n")).toMatch(/has no DNS or IP subject alternative name/);
  });

  it("refuses a ca.crt that is not a CA, and files that are not PEM", () => {
    expect(check(host({ ca: agent.cert })).errors.join("\n")).toMatch(/ca\.crt: CA certificate is not a CA certificate/);
    const h = host({ cert: "hello\n", key: "not a key\n" });
    const errors = check(h).errors.join("\n");
    expect(errors).toMatch(/operator\.crt: operator certificate does not contain a PEM certificate/);
    expect(errors).toMatch(/operator\.key: operator key is not a PEM private key/);
  });

  it("names the configuration field that is wrong", () => {
    const h = host({ config: "listen:\n  prot: 7443\n" });
    expect(check(h).errors.join("\n")).toMatch(/agent\.yaml: invalid configuration:\n\s+listen: Unrecognized key: "prot"/);
    const bad = host({ config: "listen: [\n" });
    expect(check(bad).errors.join("\n")).toMatch(/agent\.yaml: not valid YAML/);
  });

  it("warns about settings that break the other unit (role, a shared port)", () => {
    const h = host();
    writeFileSync(h.config, "role: reader\nlisten:\n  port: 7443\n");
    const w = check(h).warnings.join("\n");
    expect(w).toMatch(/role is "reader": hostward-operator\.service reads this file too/);
    expect(w).toMatch(/listen\.port is 7443: both units read this file/);
  });
});

describe("the hostward-agent command (built bundle)", () => {
  itAsRoot("exits 0 and says so for an enrolled host", "the command requires root-owned files, which only root can create", () => {
    const h = host();
    const r = tool(process.execPath, [BUNDLE, "check", "--config", h.config, "--tls-dir", h.tls]);
    expect(r.stdout).toMatch(/^enrollment check passed/m);
    expect(r.code).toBe(0);
  });

  itAsRoot("exits 1 and prints one ERROR line per problem", "the command requires root-owned files, which only root can create", () => {
    const h = host();
    chmodSync(join(h.tls, "operator.key"), 0o644);
    const r = tool(process.execPath, [BUNDLE, "check", "--config", h.config, "--tls-dir", h.tls]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`ERROR   ${h.tls}/operator.key: is accessible by group or others (mode 0644): chmod 600 ${h.tls}/operator.key`);
    expect(r.stdout).toMatch(/^enrollment check failed: 1 error/m);
    // What the operator unit's ExecStartPre= runs: the same refusal, so the unit does not start.
    const unit = tool(process.execPath, [BUNDLE, "check", "--role", "operator", "--config", h.config, "--tls-dir", h.tls]);
    expect(unit.code).toBe(1);
    expect(unit.stdout).toContain(`${h.tls}/operator.key: is accessible by group or others (mode 0644)`);
    expect(tool(process.execPath, [BUNDLE, "check", "--role", "reader", "--config", h.config, "--tls-dir", h.tls]).code).toBe(0);
  });

  it("exits 1 when --config names a file that does not exist", () => {
    const r = tool(process.execPath, [BUNDLE, "check", "--config", join(base, "nowhere.yaml")]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`${join(base, "nowhere.yaml")}: configuration does not exist`);
  });

  it("exits 64 on a usage error", () => {
    expect(tool(process.execPath, [BUNDLE, "chek"]).code).toBe(64);
    expect(tool(process.execPath, [BUNDLE, "check", "--bogus"]).code).toBe(64);
    expect(tool(process.execPath, [BUNDLE]).code).toBe(64);
    expect(tool(process.execPath, [BUNDLE, "check", "--role", "admin"]).code).toBe(64);
  });
});
