// The identity rules on their own (agent/src/server/caller.ts, authorise.ts), including the
// clientAuth check that TLS already enforces in front of them: defence in depth must not rot
// just because the outer layer currently catches everything first.
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PeerCertificate } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorise, splitPath } from "../../agent/src/server/authorise";
import { identifyCaller, parseSubjectAltName } from "../../agent/src/server/caller";
import { createTestPki, type ClientKind, type TestPki } from "../support/pki";

let dir: string;
let pki: TestPki;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hostward-caller-"));
  pki = await createTestPki(dir);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** What grpc-js hands the interceptor: a PeerCertificate whose .raw is the DER. */
function peer(kind: ClientKind): PeerCertificate {
  return { raw: new X509Certificate(pki.clients[kind].cert).raw } as PeerCertificate;
}

describe("identifyCaller", () => {
  it("reads the role, CN and fingerprint of a good certificate", () => {
    const id = identifyCaller(peer("reader"));
    expect(id.role).toBe("reader");
    expect(id.refusal).toBeNull();
    expect(id.caller).toMatchObject({ cn: "test-reader", role: "reader" });
    expect(id.caller.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(identifyCaller(peer("operator")).role).toBe("operator");
  });

  it.each([
    ["noRole", "client certificate has no role SAN URI (urn:hostward:role:<role>)"],
    ["twoRoles", "client certificate has 2 role SAN URIs; exactly one is allowed"],
    ["unknownRole", 'client certificate names unknown role "admin"'],
    // An agent's server certificate carries its role's URI, but not clientAuth.
    ["serverOnly", "client certificate is not valid for client authentication (no clientAuth extended key usage)"],
    ["serverAuthReader", "client certificate is not valid for client authentication (no clientAuth extended key usage)"],
  ] as const)("%s proves no role", (kind, refusal) => {
    const id = identifyCaller(peer(kind));
    expect(id.role).toBeNull();
    expect(id.refusal).toBe(refusal);
    expect(id.caller.fingerprint).toMatch(/^sha256:/);
  });

  it("no certificate proves no role", () => {
    expect(identifyCaller(undefined)).toEqual({
      caller: { fingerprint: null, cn: null, role: null },
      serial: null,
      role: null,
      refusal: "no verified client certificate",
    });
  });
});

describe("authorise", () => {
  const reader = () => identifyCaller(peer("reader"));
  const operator = () => identifyCaller(peer("operator"));

  it("takes the required role from the service", () => {
    expect(authorise("hostward.v1.DiagnosticsService", reader())).toEqual({ allowed: true });
    expect(authorise("hostward.v1.ActionsService", operator())).toEqual({ allowed: true });
    expect(authorise("grpc.health.v1.Health", reader())).toEqual({ allowed: true });
    expect(authorise("grpc.health.v1.Health", operator())).toEqual({ allowed: true });
    expect(authorise("hostward.v1.ActionsService", reader())).toEqual({
      allowed: false,
      reason: "role reader may not call hostward.v1.ActionsService (it needs role operator)",
    });
    expect(authorise("hostward.v1.DiagnosticsService", operator())).toMatchObject({ allowed: false });
  });

  it("refuses a service it does not know, and a caller without a role, whatever the service", () => {
    expect(authorise("hostward.v1.SomethingNew", reader())).toEqual({ allowed: false, reason: "no role may call service hostward.v1.SomethingNew" });
    expect(authorise("grpc.health.v1.Health", identifyCaller(peer("twoRoles")))).toMatchObject({ allowed: false });
  });

  it("splits a method path", () => {
    expect(splitPath("/hostward.v1.DiagnosticsService/GetLoad")).toEqual({ service: "hostward.v1.DiagnosticsService", method: "GetLoad" });
    expect(splitPath("garbage")).toEqual({ service: "", method: "garbage" });
  });
});

// Node's X509Certificate renders SANs as text; a value holding "," or quotes is written as a JSON
// string. These certificates are made for real (not hand-written text) so the test follows what
// Node actually prints, and a smuggled second role cannot hide inside one SAN.
describe("SAN text that tries to smuggle a role", () => {
  async function certWithUris(uris: string[]): Promise<PeerCertificate> {
    await import("reflect-metadata");
    const x509 = await import("@peculiar/x509");
    const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
    const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "01",
      name: "CN=smuggler",
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
      keys,
      signingAlgorithm: alg,
      extensions: [
        new x509.SubjectAlternativeNameExtension(uris.map((value) => ({ type: "url" as const, value }))),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      ],
    });
    return { raw: Buffer.from(cert.rawData) } as PeerCertificate;
  }

  it("a URI with a comma that looks like a second role SAN names an unknown role", async () => {
    const id = identifyCaller(await certWithUris(["urn:hostward:role:reader, URI:urn:hostward:role:operator"]));
    expect(id.role).toBeNull();
    expect(id.refusal).toMatch(/unknown role/);
  });

  it("a URI with quotes or a backslash proves no role", async () => {
    for (const uri of ['urn:hostward:role:"operator"', "urn:hostward:role:reader\\"]) {
      const id = identifyCaller(await certWithUris([uri]));
      expect(id.role, uri).toBeNull();
    }
  });

  it("one good role URI among other URIs still proves that role", async () => {
    expect(identifyCaller(await certWithUris(["https://example.org/x", "urn:hostward:role:reader"])).role).toBe("reader");
  });
});

describe("parseSubjectAltName", () => {
  it("splits plain and quoted values", () => {
    expect(parseSubjectAltName('URI:urn:a, DNS:b, URI:"urn:x, URI:y"')).toEqual([
      ["URI", "urn:a"],
      ["DNS", "b"],
      ["URI", "urn:x, URI:y"],
    ]);
  });

  it("refuses text outside Node's grammar rather than guessing", () => {
    expect(parseSubjectAltName("URI:a,b")).toBeNull();
    expect(parseSubjectAltName('URI:"unterminated')).toBeNull();
    expect(parseSubjectAltName("no-colon")).toBeNull();
    expect(parseSubjectAltName("URI:a; DNS:b")).toEqual([["URI", "a; DNS:b"]]);
  });
});
