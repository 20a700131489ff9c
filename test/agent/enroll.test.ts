// `hostward-agent enroll DIR`: the directory `hostward pki issue-agent HOST --out DIR` writes
// (ca.crt and each role's own reader.crt/.key, operator.crt/.key) is checked before anything
// changes, installed under the same names (keys 0600), the source keys removed, the host checked. Real certificates from the PKI library, real files in a
// temporary TLS directory (the code path is the one /etc/hostward/tls takes; the units are started
// only in the nspawn suite, test/e2e/install.test.ts, so here --no-start).
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { enroll, EnrollError, findBundle } from "../../agent/src/check/enroll";
import { createCa, issueAgentCerts, writePem } from "../../broker/src/pki/index";
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
  for (const role of ["reader", "operator"] as const) {
    copyFileSync(pki.files.cert[role], join(d, `${role}.crt`));
    copyFileSync(pki.files.key[role], join(d, `${role}.key`));
  }
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
  // The check reads the TLS files of the TLS directory enroll is given (the test's).
  writeFileSync(configFile, JSON.stringify({}), { mode: 0o644 });
  output = "";
});

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

describe("hostward-agent enroll", () => {
  it("installs the five files with their modes, removes the source keys, and passes the check", async () => {
    const code = await enroll({ source, tlsDir, configFile, noStart: true, rootUid: uid, out });
    expect(code, output).toBe(0);
    for (const role of ["reader", "operator"] as const) {
      expect(readFileSync(join(tlsDir, `${role}.crt`), "utf8")).toBe(readFileSync(pki.files.cert[role], "utf8"));
      expect(readFileSync(join(tlsDir, `${role}.key`), "utf8")).toBe(readFileSync(pki.files.key[role], "utf8"));
      expect([mode(join(tlsDir, `${role}.crt`)), mode(join(tlsDir, `${role}.key`))]).toEqual(["644", "600"]);
      expect(existsSync(join(source, `${role}.key`))).toBe(false);
      expect(existsSync(join(source, `${role}.crt`))).toBe(true);
    }
    expect(readFileSync(join(tlsDir, "ca.crt"), "utf8")).toBe(readFileSync(pki.files.ca, "utf8"));
    expect(mode(join(tlsDir, "ca.crt"))).toBe("644");
    expect(output).toMatch(/removed .*reader\.key, .*operator\.key: the installed keys are the only copies on this host/);
    expect(output).toMatch(/enrollment check passed/);
    // No staging directory is left behind.
    expect(spawnSync("ls", ["-A", tlsDir], { encoding: "utf8" }).stdout.trim().split("\n").sort()).toEqual(["ca.crt", "operator.crt", "operator.key", "reader.crt", "reader.key"]);
  });

  it("--keep leaves the source key in place", async () => {
    expect(await enroll({ source, tlsDir, configFile, noStart: true, keepSource: true, rootUid: uid, out })).toBe(0);
    expect(existsSync(join(source, "reader.key"))).toBe(true);
  });

  it("a key that does not match the certificate changes nothing on the host, and says so", async () => {
    // A working enrolment first.
    expect(await enroll({ source, tlsDir, configFile, noStart: true, keepSource: true, rootUid: uid, out })).toBe(0);
    const before = readFileSync(join(tlsDir, "operator.key"), "utf8");
    const bad = bundle();
    const other = await issueAgentCerts(await createCa(), { host: "web1" });
    writePem(join(bad, "operator.key"), other.operator.key, { private: true });
    output = "";
    expect(await enroll({ source: bad, tlsDir, configFile, noStart: true, rootUid: uid, out })).toBe(1);
    expect(output).toMatch(/ERROR/);
    expect(output).toMatch(/not enrolled, nothing on this host changed/);
    expect(output).toContain(bad); // findings name the files the operator gave, not a staging path
    expect(readFileSync(join(tlsDir, "operator.key"), "utf8")).toBe(before);
    expect(existsSync(join(bad, "operator.key"))).toBe(true);
  });

  it("a certificate from another CA is refused before anything is installed", async () => {
    const bad = bundle();
    const otherCa = await createCa();
    const other = await issueAgentCerts(otherCa, { host: "web1" });
    writePem(join(bad, "reader.crt"), other.reader.cert, { private: false });
    writePem(join(bad, "reader.key"), other.reader.key, { private: true });
    expect(await enroll({ source: bad, tlsDir, configFile, noStart: true, rootUid: uid, out })).toBe(1);
    expect(existsSync(join(tlsDir, "reader.crt"))).toBe(false);
  });

  it("one key for both roles is refused: each role needs its own", async () => {
    const bad = bundle();
    copyFileSync(pki.files.key.reader, join(bad, "operator.key"));
    copyFileSync(pki.files.cert.reader, join(bad, "operator.crt"));
    expect(await enroll({ source: bad, tlsDir, configFile, noStart: true, rootUid: uid, out })).toBe(1);
    expect(output).toMatch(/not enrolled, nothing on this host changed/);
  });

  it("names what is missing in DIR", () => {
    const empty = join(dir, "empty");
    mkdirSync(empty, { recursive: true });
    expect(() => findBundle(empty)).toThrow(/lacks ca\.crt, reader\.crt, reader\.key, operator\.crt, operator\.key/);
    expect(() => findBundle(join(dir, "nope"))).toThrow(/cannot read .*nope \(ENOENT\)/);
    const noKey = bundle();
    rmSync(join(noKey, "operator.key"));
    expect(() => findBundle(noKey)).toThrow(/lacks operator\.key/);
    expect(() => findBundle(join(source, "reader.crt"))).toThrow(/is not a directory/);
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
