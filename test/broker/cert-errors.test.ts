// First-hour traps around certificates, through the real broker channels and real mTLS: an
// expired or not-yet-valid certificate on either side is reported as such, with how to renew,
// never as "unreachable"; the broker warns while its short-lived client certificate has less than a
// day left; connection errors carry no grpc-js "Resolution note:" noise. The agent here is the real
// bundle where it can be (the broker's own certificate expired); a bare grpc-js TLS server stands in
// for an agent whose certificate expired, because the real agent refuses to start with one.
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getLoad } from "../../proto/catalog/diagnostics/system";
import { ChannelPool, type ChannelHost } from "../../broker/src/agents/channels";
import { expiryWarning, readValidity, validityProblem } from "../../broker/src/agents/client-cert";
import { callDiagnostic } from "../../broker/src/agents/diagnostic-call";
import { HostCallError, withoutLibraryNoise } from "../../broker/src/agents/errors";
import { configFiles } from "../../broker/src/paths";
import { EKU, issueCertificate } from "../../broker/src/pki/certificate";
import { roleUri } from "../../broker/src/pki/index";
import { startAgent, type TestAgent } from "../support/agent";
import { createBrokerDir } from "./helpers/broker-dir";
import { call, connectBroker } from "./helpers/mcp-client";
import { createTestPki, type TestPki } from "../support/pki";

const HOUR = 3_600_000;
let dir: string;
let pki: TestPki;
let agent: TestAgent;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hw-cert-errors-"));
  pki = await createTestPki(join(dir, "pki"));
  agent = await startAgent({ role: "reader", pki, dir: join(dir, "agent") });
});
afterAll(async () => {
  await agent?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A broker TLS directory whose reader client certificate is `cert`/`key`. */
function brokerTls(name: string, cert: { cert: string; key: string }): ReturnType<typeof configFiles> {
  const files = configFiles(join(dir, name));
  mkdirSync(files.tlsDir, { recursive: true });
  copyFileSync(pki.files.ca, files.caCert);
  writeFileSync(files.clientCert("reader"), cert.cert);
  writeFileSync(files.clientKey("reader"), cert.key, { mode: 0o600 });
  return files;
}

const host = (port: number): ChannelHost => ({ name: "web1", address: "127.0.0.1", ports: { reader: port, operator: 1 }, certName: "localhost" });

async function failure(pool: ChannelPool, port: number): Promise<HostCallError> {
  try {
    await callDiagnostic({ pool, host: host(port), def: getLoad, input: {}, timeoutMs: 5_000, callId: "t" });
  } catch (err) {
    return err as HostCallError;
  }
  throw new Error("the call succeeded");
}

describe("the broker's own client certificate", () => {
  it("expired: the refused handshake is reported as the expired certificate, with how to renew it", async () => {
    const files = brokerTls("expired", pki.clients.expired);
    const pool = new ChannelPool(files, { maxReceiveBytes: 1 << 20 });
    const err = await failure(pool, agent.port);
    expect(err.code).toBe("UNAUTHENTICATED");
    expect(err.message).toMatch(/^web1 refused the connection: the broker's reader client certificate .*reader\.crt expired at \d{4}-\d\d-\d\dT.*; renew it with: hostward pki issue-client --role reader/);
    expect(err.message).not.toMatch(/unreachable|Resolution note/);
    pool.close();
  });

  it("not yet valid: says so and points at the clock", async () => {
    const now = Date.now();
    const future = await issueCertificate(pki.ca, { commonName: "future-reader", notBefore: new Date(now + 2 * HOUR), notAfter: new Date(now + 24 * HOUR), extendedKeyUsages: [EKU.clientAuth], uris: [roleUri("reader")] });
    const pool = new ChannelPool(brokerTls("future", future), { maxReceiveBytes: 1 << 20 });
    const err = await failure(pool, agent.port);
    expect(err.code).toBe("UNAUTHENTICATED");
    expect(err.message).toMatch(/client certificate .* is not valid before .*\(is this machine's clock right\?\)/);
    pool.close();
  });

  it("control: a valid certificate reaches the same agent, and a closed port is 'unreachable' without library noise", async () => {
    const pool = new ChannelPool(brokerTls("valid", pki.clients.reader), { maxReceiveBytes: 1 << 20 });
    const out = await callDiagnostic({ pool, host: host(agent.port), def: getLoad, input: {}, timeoutMs: 5_000, callId: "t" });
    expect(out).toMatchObject({ cpus: expect.any(Number) });
    const closed = await failure(pool, 1);
    expect(closed.code).toBe("UNAVAILABLE");
    expect(closed.message).toMatch(/^web1 is unreachable: no connection: /);
    expect(closed.message).not.toMatch(/Resolution note/);
    pool.close();
  });

  it("warns in the last day of a long certificate, in the last quarter of a short one, not before", async () => {
    const now = Date.now();
    const month = await issueCertificate(pki.ca, { commonName: "r", notBefore: new Date(now), notAfter: new Date(now + 720 * HOUR), extendedKeyUsages: [EKU.clientAuth], uris: [roleUri("reader")] });
    const m = readValidity("reader", "/x/reader.crt", month.cert);
    expect(expiryWarning(m, new Date(now + 695 * HOUR))).toBeUndefined();
    expect(expiryWarning(m, new Date(now + 697 * HOUR))).toMatch(/expires at .* \(in 1380 min\)/);
    // The default 24 h certificate: quiet when fresh, a warning in its last 6 hours.
    const v = readValidity("reader", "/x/reader.crt", pki.clients.reader.cert);
    expect(v).toBeDefined();
    const notAfter = (v as { notAfter: Date }).notAfter.getTime();
    expect(expiryWarning(v, new Date(now))).toBeUndefined();
    expect(expiryWarning(v, new Date(notAfter - 7 * HOUR))).toBeUndefined();
    expect(expiryWarning(v, new Date(notAfter - 2 * HOUR))).toMatch(/reader client certificate \/x\/reader\.crt expires at .* \(in 120 min\); renew it with: hostward pki issue-client --role reader/);
    expect(expiryWarning(v, new Date(notAfter + 1000))).toMatch(/expired at/);
    expect(validityProblem(v, new Date(notAfter - 1000))).toBeUndefined();
  });
});

describe("the agent's certificate", () => {
  let server: grpc.Server;
  let port: number;
  beforeAll(async () => {
    const now = Date.now();
    const expired = await issueCertificate(pki.ca, { commonName: "localhost", dns: ["localhost"], ips: ["127.0.0.1"], notBefore: new Date(now - 48 * HOUR), notAfter: new Date(now - HOUR), extendedKeyUsages: [EKU.serverAuth] });
    server = new grpc.Server();
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createSsl(Buffer.from(pki.ca.cert), [{ private_key: Buffer.from(expired.key), cert_chain: Buffer.from(expired.cert) }], true), (e, p) => (e ? reject(e) : resolve(p))),
    );
  });
  afterAll(() => server?.forceShutdown());

  it("expired: reported as the host's expired certificate, with the renewal commands, not as unreachable", async () => {
    const pool = new ChannelPool(brokerTls("valid2", pki.clients.reader), { maxReceiveBytes: 1 << 20 });
    const err = await failure(pool, port);
    expect(err.code).toBe("UNAUTHENTICATED");
    expect(err.message).toBe("web1's agent certificate has expired; renew it on the workstation (hostward pki issue-agent web1 --out DIR) and on the host (sudo hostward-agent enroll DIR)");
    pool.close();
  });
});

describe("grpc-js error text", () => {
  it("loses the empty 'Resolution note:' and the 'No connection established. Last error: Error:' preamble", () => {
    expect(withoutLibraryNoise("No connection established. Last error: Error: connect ECONNREFUSED 10.0.0.5:7443. Resolution note: ")).toBe("no connection: connect ECONNREFUSED 10.0.0.5:7443.");
    expect(withoutLibraryNoise("Resolution note: keep me if something follows")).toBe("Resolution note: keep me if something follows");
  });
});

describe("the broker warns about its own certificate", () => {
  it("at start (its log) and in ping_hosts, while there is time to renew; not for a fresh one", async () => {
    const now = Date.now();
    const soon = await issueCertificate(pki.ca, { commonName: "soon", notBefore: new Date(now - 22 * HOUR), notAfter: new Date(now + 2 * HOUR), extendedKeyUsages: [EKU.clientAuth], uris: [roleUri("reader")] });
    for (const [name, cert, warns] of [
      ["soon", soon, true],
      ["fresh", pki.clients.reader, false],
    ] as const) {
      const bd = createBrokerDir(join(dir, `broker-${name}`), pki);
      writeFileSync(bd.dir + "/tls/reader.crt", cert.cert);
      writeFileSync(bd.dir + "/tls/reader.key", cert.key, { mode: 0o600 });
      bd.writeHosts([{ name: "web1", port: agent.port }]);
      bd.writePolicy([{ target: "*", allow: ["*"] }]);
      const session = await connectBroker(bd.dir, bd.dir);
      try {
        const r = await call(session, "ping_hosts", { target: "web1" });
        const b = (r.structuredContent as { broker: { clientCertificate: { notAfter: string; warning?: string } } }).broker;
        expect(b.clientCertificate.notAfter).toBe(new Date(new X509Certificate(cert.cert).validTo).toISOString());
        if (warns) {
          expect(b.clientCertificate.warning).toMatch(/expires at .* \(in 1[12]\d min\); renew it with: hostward pki issue-client --role reader/);
          expect(session.stderr()).toMatch(/reader client certificate .* expires at/);
        } else {
          expect(b.clientCertificate.warning).toBeUndefined();
          expect(session.stderr()).not.toMatch(/client certificate/);
        }
      } finally {
        await session.close();
      }
    }
  });
});
