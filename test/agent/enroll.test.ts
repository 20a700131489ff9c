// `hostward-agent enroll DIR`: the directory `hostward pki issue-agent HOST --out DIR` writes is
// checked before anything changes, installed as ca.crt / agent.crt / agent.key (key 0600), the
// source key removed, the host checked. Real certificates from the PKI library, real files in a
// temporary TLS directory (the code path is the one /etc/hostward/tls takes; the units are started
// only in the nspawn suite, test/e2e/install.test.ts, so here --no-start).
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { enroll, EnrollError, findBundle } from "../../agent/src/check/enroll";
import { createCa, issueAgentCert, writePem } from "../../broker/src/pki/index";
import { createTestPki, type TestPki } from "../support/pki";

const ROOT = join(import.meta.dirname, "..", "..");
const uid = process.getuid?.() ?? 0;
let dir: string;
let pki: TestPki;
let n = 0;
let source: string;
let tlsDir: string;
let configFile: string;
let output: string;
const out = (t: string) => void (output += t);

/** A fresh copy of what `hostward pki issue-agent web1 --out DIR` writes. */
function bundle(): string {
  const d = join(dir, `bundle-${++n}`);
  mkdirSync(d);
  copyFileSync(pki.files.ca, join(d, "ca.crt"));
  copyFileSync(pki.files.agentCert, join(d, "web1.crt"));
  copyFileSync(pki.files.agentKey, join(d, "web1.key"));
  return d;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hostward-enroll-"));
  pki = await createTestPki(join(dir, "pki"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => {
  source = bundle();
  tlsDir = join(dir, `tls-${n}`);
  configFile = join(dir, `agent-${n}.yaml`);
  // The check reads the TLS files the configuration names (here: the test's TLS directory).
  writeFileSync(configFile, JSON.stringify({ tls: { ca: join(tlsDir, "ca.crt"), cert: join(tlsDir, "agent.crt"), key: join(tlsDir, "agent.key") } }), { mode: 0o644 });
  output = "";
});

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

describe("hostward-agent enroll", () => {
  it("installs the three files with their modes, removes the source key, and passes the check", async () => {
    const code = await enroll({ source, tlsDir, configFile, noStart: true, rootUid: uid, out });
    expect(code, output).toBe(0);
    expect(readFileSync(join(tlsDir, "agent.crt"), "utf8")).toBe(readFileSync(pki.files.agentCert, "utf8"));
    expect(readFileSync(join(tlsDir, "agent.key"), "utf8")).toBe(readFileSync(pki.files.agentKey, "utf8"));
    expect(readFileSync(join(tlsDir, "ca.crt"), "utf8")).toBe(readFileSync(pki.files.ca, "utf8"));
    expect([mode(join(tlsDir, "ca.crt")), mode(join(tlsDir, "agent.crt")), mode(join(tlsDir, "agent.key"))]).toEqual(["644", "644", "600"]);
    expect(existsSync(join(source, "web1.key"))).toBe(false);
    expect(existsSync(join(source, "web1.crt"))).toBe(true);
    expect(output).toMatch(/removed .*web1\.key: the installed key is the only copy on this host/);
    expect(output).toMatch(/enrollment check passed/);
    // No staging directory is left behind.
    expect(spawnSync("ls", ["-A", tlsDir], { encoding: "utf8" }).stdout.trim().split("\n").sort()).toEqual(["agent.crt", "agent.key", "ca.crt"]);
  });

  it("--keep leaves the source key in place", async () => {
    expect(await enroll({ source, tlsDir, configFile, noStart: true, keepSource: true, rootUid: uid, out })).toBe(0);
    expect(existsSync(join(source, "web1.key"))).toBe(true);
  });

  it("a key that does not match the certificate changes nothing on the host, and says so", async () => {
    // A working enrolment first.
    expect(await enroll({ source, tlsDir, configFile, noStart: true, keepSource: true, rootUid: uid, out })).toBe(0);
    const before = readFileSync(join(tlsDir, "agent.key"), "utf8");
    const bad = bundle();
    const other = await issueAgentCert(await createCa(), { host: "web1" });
    writePem(join(bad, "web1.key"), other.key, { private: true });
    output = "";
    expect(await enroll({ source: bad, tlsDir, configFile, noStart: true, rootUid: uid, out })).toBe(1);
    expect(output).toMatch(/ERROR/);
    expect(output).toMatch(/not enrolled, nothing on this host changed/);
    expect(output).toContain(bad); // findings name the files the operator gave, not a staging path
    expect(readFileSync(join(tlsDir, "agent.key"), "utf8")).toBe(before);
    expect(existsSync(join(bad, "web1.key"))).toBe(true);
  });

  it("a certificate from another CA is refused before anything is installed", async () => {
    const bad = bundle();
    const otherCa = await createCa();
    const other = await issueAgentCert(otherCa, { host: "web1" });
    writePem(join(bad, "web1.crt"), other.cert, { private: false });
    writePem(join(bad, "web1.key"), other.key, { private: true });
    expect(await enroll({ source: bad, tlsDir, configFile, noStart: true, rootUid: uid, out })).toBe(1);
    expect(existsSync(join(tlsDir, "agent.crt"))).toBe(false);
  });

  it("names what is missing or ambiguous in DIR", () => {
    const empty = join(dir, "empty");
    mkdirSync(empty, { recursive: true });
    expect(() => findBundle(empty)).toThrow(/ca\.crt is missing/);
    expect(() => findBundle(join(dir, "nope"))).toThrow(/cannot read .*nope \(ENOENT\)/);
    const two = bundle();
    copyFileSync(pki.files.agentCert, join(two, "web2.crt"));
    expect(() => findBundle(two)).toThrow(/holds 2 host certificates \(web1\.crt, web2\.crt\)/);
    const noKey = bundle();
    rmSync(join(noKey, "web1.key"));
    expect(() => findBundle(noKey)).toThrow(/web1\.key is missing/);
    expect(() => findBundle(join(source, "web1.crt"))).toThrow(/is not a directory/);
  });

  it("refuses to run as anyone but root", async () => {
    await expect(enroll({ source, tlsDir, configFile, noStart: true, rootUid: uid + 1, out })).rejects.toThrow(EnrollError);
    await expect(enroll({ source, tlsDir, configFile, noStart: true, rootUid: uid + 1, out })).rejects.toThrow(/run it as root: sudo hostward-agent enroll DIR/);
    expect(existsSync(tlsDir)).toBe(false);
  });

  it("the built command: usage errors exit 64, a bad DIR exits 1 naming it", () => {
    const bin = join(ROOT, "dist", "agent", "hostward-agent.cjs");
    const usage = spawnSync(process.execPath, [bin, "enroll"], { encoding: "utf8" });
    expect(usage.status).toBe(64);
    expect(usage.stderr).toMatch(/enroll takes exactly one DIR/);
    const missing = spawnSync(process.execPath, [bin, "enroll", join(dir, "nowhere")], { encoding: "utf8" });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(uid === 0 ? /cannot read .*nowhere/ : /run it as root/);
  });
});
