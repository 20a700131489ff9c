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
import { identifyCaller } from "../../agent/src/server/caller";
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
    ["serverOnly", "client certificate has no role SAN URI (urn:hostward:role:<role>)"],
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
