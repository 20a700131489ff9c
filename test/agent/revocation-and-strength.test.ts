// Issue 11, deliverable 5: a host refuses client certificates on its revocation list (written by
// `hostward pki revoke`, picked up without a restart), and certificates whose cryptography is weak:
// RSA under 2048 bits, SHA-1 signatures, curves other than P-256/P-384 (Ed25519 keys are accepted).
// Real certificates minted here (CA-signed, each weak in one way), the BUILT reader agent, real mTLS.
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { identifyCaller } from "../../agent/src/server/caller";
import { signatureAlgorithmOid, weakCertificate } from "../../agent/src/server/cert-strength";
import { createRevocationList, parseRevocationList } from "../../agent/src/server/revocation";
import { EKU, issueCertificate } from "../../broker/src/pki/certificate";
import { issueClientCert, roleUri, type PemPair } from "../../broker/src/pki/index";
import { DiagnosticsServiceClient } from "../../proto/gen/hostward/v1/diagnostics";
import { callUnary, startAgent, type TestAgent } from "../support/agent";
import { createTestPki, type TestPki } from "../support/pki";

const ROOT = join(import.meta.dirname, "..", "..");
const HOUR = 3_600_000;

let dir: string;
let pki: TestPki;
const weak: Record<string, PemPair> = {};

/** A reader client certificate from the test CA that differs from a good one in its key or signature only. */
async function readerCert(over: Parameters<typeof issueCertificate>[1] extends infer S ? Partial<S> : never): Promise<PemPair> {
  const now = Date.now();
  return issueCertificate(pki.ca, { commonName: "weak-reader", notBefore: new Date(now - HOUR), notAfter: new Date(now + HOUR), extendedKeyUsages: [EKU.clientAuth], uris: [roleUri("reader")], ...over });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hw-revocation-"));
  pki = await createTestPki(join(dir, "pki"));
  weak.rsa1024 = await readerCert({ keyAlgorithm: { name: "RSASSA-PKCS1-v1_5", modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" } });
  weak.rsa2048 = await readerCert({ keyAlgorithm: { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" } });
  weak.sha1 = await readerCert({ signingHash: "SHA-1" });
  weak.p521 = await readerCert({ keyAlgorithm: { name: "ECDSA", namedCurve: "P-521" } });
  weak.p384 = await readerCert({ keyAlgorithm: { name: "ECDSA", namedCurve: "P-384" } });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const peer = (pem: string) => ({ raw: new X509Certificate(pem).raw }) as PeerCertificate;

describe("key strength (the agent's own floor)", () => {
  it("reads the signature algorithm from the DER (ecdsa-with-SHA256 for hostward's own certificates)", () => {
    expect(signatureAlgorithmOid(new X509Certificate(pki.clients.reader.cert).raw)).toBe("1.2.840.10045.4.3.2");
    expect(signatureAlgorithmOid(new X509Certificate(weak.sha1!.cert).raw)).toBe("1.2.840.10045.4.1");
    expect(() => signatureAlgorithmOid(Buffer.from([0x30, 0x05, 0x01]))).toThrow();
  });

  it.each([
    ["rsa1024", /its key is RSA 1024 bits; at least 2048 are required/],
    ["sha1", /it is signed with ecdsa-with-SHA1, which is not accepted/],
    ["p521", /its key is on the curve secp521r1; only P-256 and P-384 are accepted/],
  ])("%s: proves no role, with the reason", (kind, reason) => {
    const id = identifyCaller(peer(weak[kind]!.cert));
    expect(id.role).toBeNull();
    expect(id.refusal).toMatch(/^client certificate is too weak: /);
    expect(id.refusal).toMatch(reason);
  });

  it("accepts RSA 2048, P-384 and hostward's own P-256 certificates", () => {
    for (const pem of [weak.rsa2048!.cert, weak.p384!.cert, pki.clients.reader.cert]) {
      expect(weakCertificate(new X509Certificate(pem))).toBeNull();
      expect(identifyCaller(peer(pem)).role).toBe("reader");
    }
  });
});

describe("the revocation list format", () => {
  it("takes serials and sha256 fingerprints, with comments; names a bad line", () => {
    const parsed = parseRevocationList("# header\nserial 00AB:CD  # CN=x\nsha256 " + "a".repeat(64) + "\n\n");
    expect([...parsed.serials.keys()]).toEqual(["abcd"]);
    expect([...parsed.fingerprints.keys()]).toEqual(["a".repeat(64)]);
    expect(() => parseRevocationList("serial xyz\n", "revoked.list")).toThrow(/revoked\.list:1: not "serial HEX" or "sha256 HEX"/);
    expect(() => parseRevocationList("sha256 abc\n", "revoked.list")).toThrow(/revoked\.list:1: a sha256 fingerprint is 64 hex digits/);
  });

  it("is re-read when it changes, at most every checkEveryMs; a list others can write is not used", () => {
    const file = join(dir, "unit.list");
    const logs: string[] = [];
    let t = 0;
    const list = createRevocationList(file, { info: (_o, m) => logs.push(m), error: (_o, m) => logs.push(`ERROR ${m}`) }, 1000, () => t);
    expect(list.revoked({ serial: "ab", fingerprint: null })).toBeNull(); // no file: nothing revoked
    writeFileSync(file, "serial ab # leaked\n", { mode: 0o644 });
    expect(list.revoked({ serial: "ab", fingerprint: null })).toBeNull(); // not looked at again yet
    t += 1000;
    expect(list.revoked({ serial: "AB", fingerprint: null })).toBe("serial ab (leaked)");
    chmodSync(file, 0o666);
    writeFileSync(file, "# emptied by someone else\n");
    t += 1000;
    expect(list.revoked({ serial: "ab", fingerprint: null })).toBe("serial ab (leaked)"); // the last good list stays
    expect(logs.at(-1)).toMatch(/^ERROR revocation list is not a regular file of root's that only root can write/);
  });
});

describe("the reader agent over real mTLS", () => {
  let agent: TestAgent;
  let listFile: string;
  let fresh: PemPair;
  const clients: grpc.Client[] = [];

  function client(pair: PemPair): DiagnosticsServiceClient {
    const c = new DiagnosticsServiceClient(agent.address, grpc.credentials.createSsl(Buffer.from(pki.ca.cert), Buffer.from(pair.key), Buffer.from(pair.cert)));
    clients.push(c);
    return c;
  }

  beforeAll(async () => {
    listFile = join(dir, "revoked.list");
    fresh = await issueClientCert(pki.ca, { role: "reader", name: "leaked-broker" });
    agent = await startAgent({ role: "reader", pki, dir: join(dir, "agent"), config: { tls: { ca: pki.files.ca, cert: pki.files.cert.reader, key: pki.files.key.reader, revocationList: listFile } } });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await agent?.stop();
  });

  it("an RSA-1024 client certificate is refused (PERMISSION_DENIED) and the call's log line says why", async () => {
    const r = await callUnary(client(weak.rsa1024!), "getLoad", {});
    expect(r).toMatchObject({ ok: false, code: grpc.status.PERMISSION_DENIED });
    if (!r.ok) expect(r.details).toMatch(/client certificate is too weak: its key is RSA 1024 bits/);
    // The agent's log line comes through its stdout pipe, which may trail the RPC's reply: wait for it (bounded).
    const until = Date.now() + 5_000;
    while (agent.rpcLines().at(-1)?.outcome !== "PERMISSION_DENIED" && Date.now() < until) await new Promise((r2) => setTimeout(r2, 20));
    expect(agent.rpcLines().at(-1)).toMatchObject({ outcome: "PERMISSION_DENIED", error: expect.stringMatching(/too weak: its key is RSA 1024 bits/) });
  });

  it("a P-521 certificate is refused by the agent (OpenSSL accepts the curve), naming it", async () => {
    const r = await callUnary(client(weak.p521!), "getLoad", {});
    expect(r).toMatchObject({ ok: false, code: grpc.status.PERMISSION_DENIED });
    if (!r.ok) expect(r.details).toMatch(/too weak: its key is on the curve secp521r1/);
  });

  it("a SHA-1-signed certificate cannot even be presented from Node here (OpenSSL: 'ca md too weak'); the agent's own check above refuses it regardless", () => {
    expect(() => client(weak.sha1!)).toThrow(/md too weak/);
  });

  it("`hostward pki revoke` of a leaked certificate: refused within seconds, without a restart, on the same connection; allowed again when removed", async () => {
    const c = client(fresh);
    expect((await callUnary(c, "getLoad", {})).ok).toBe(true);
    const certFile = join(dir, "leaked.crt");
    writeFileSync(certFile, fresh.cert);
    const out = execFileSync(process.execPath, [join(ROOT, "dist", "hostward.cjs"), "pki", "revoke", certFile, "--reason", "laptop stolen", "--dir", join(dir, "cli-pki")], { encoding: "utf8", env: { PATH: process.env.PATH ?? "", HOME: dir } });
    expect(out).toMatch(new RegExp(`^serial ${new X509Certificate(fresh.cert).serialNumber.toLowerCase()}  # CN=leaked-broker, valid until .*, revoked .*, reason: laptop stolen\\n$`));
    writeFileSync(listFile, readFileSync(join(dir, "cli-pki", "revoked.list")), { mode: 0o644 });
    const pid = agent.pid;
    await new Promise((r) => setTimeout(r, 1_200));
    const refused = await callUnary(c, "getLoad", {});
    expect(refused).toMatchObject({ ok: false, code: grpc.status.PERMISSION_DENIED });
    if (!refused.ok) expect(refused.details).toMatch(/client certificate is revoked on this host \(serial [0-9a-f]+ \(CN=leaked-broker/);
    expect(agent.pid).toBe(pid);
    // Other certificates are not affected.
    expect((await callUnary(client(pki.clients.reader), "getLoad", {})).ok).toBe(true);
    // By fingerprint as well.
    writeFileSync(listFile, `sha256 ${new X509Certificate(pki.clients.reader.cert).fingerprint256.replace(/:/g, "").toLowerCase()}\n`, { mode: 0o644 });
    await new Promise((r) => setTimeout(r, 1_200));
    expect(await callUnary(client(pki.clients.reader), "getLoad", {})).toMatchObject({ ok: false, code: grpc.status.PERMISSION_DENIED });
    expect((await callUnary(c, "getLoad", {})).ok).toBe(true); // no longer listed
    writeFileSync(listFile, "");
  });
});
