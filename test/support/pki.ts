// Test certificates, good and deliberately bad, written into a directory (real files, real PEM),
// issued by the same library `hostward pki` uses (broker/src/pki). The bad ones are built with the
// library's low-level issueCertificate() so each differs from a good one in exactly one way.
//
//   const pki = await createTestPki(dir);
//   pki.files.ca / pki.files.cert.reader / pki.files.key.reader  → the agent's TLS files (one
//                                                                  key and certificate per role)
//   pki.clients.reader, .operator                                → good client certificates
//   pki.clients.otherCa, .noRole, .twoRoles, .unknownRole, .serverOnly, .serverAuthReader,
//              .expired                                          → bad ones
//   clientCredentials(pki, "reader")                             → grpc ChannelCredentials
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { EKU, issueCertificate } from "../../broker/src/pki/certificate";
import { createCa, issueAgentCert, issueAgentCerts, issueClientCert, roleUri, writePem, type PemPair } from "../../broker/src/pki/index";

const CLIENT_KINDS = ["reader", "operator", "otherCa", "noRole", "twoRoles", "unknownRole", "serverOnly", "serverAuthReader", "expired"] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

interface ClientFiles extends PemPair {
  certFile: string;
  keyFile: string;
}

export interface TestPki {
  dir: string;
  ca: PemPair;
  /** Each role's server certificate for localhost/127.0.0.1, with its own key. */
  agents: Record<"reader" | "operator", PemPair>;
  files: { ca: string; cert: Record<"reader" | "operator", string>; key: Record<"reader" | "operator", string> };
  clients: Record<ClientKind, ClientFiles>;
}

const HOUR = 3_600_000;

async function badClients(ca: PemPair): Promise<Omit<Record<ClientKind, PemPair>, "reader" | "operator">> {
  const now = Date.now();
  const valid = { notBefore: new Date(now - HOUR), notAfter: new Date(now + HOUR) };
  const otherCa = await createCa({ commonName: "some other CA" });
  return {
    // A perfectly formed reader certificate, but from a CA the agent does not trust.
    otherCa: await issueClientCert(otherCa, { role: "reader", name: "other-ca-reader" }),
    noRole: await issueCertificate(ca, { commonName: "no-role", ...valid, extendedKeyUsages: [EKU.clientAuth], dns: ["client.example"] }),
    twoRoles: await issueCertificate(ca, {
      commonName: "two-roles",
      ...valid,
      extendedKeyUsages: [EKU.clientAuth],
      uris: [roleUri("reader"), roleUri("operator")],
    }),
    unknownRole: await issueCertificate(ca, {
      commonName: "unknown-role",
      ...valid,
      extendedKeyUsages: [EKU.clientAuth],
      uris: ["urn:hostward:role:admin"],
    }),
    // An agent's server certificate (serverAuth only) presented by a client.
    serverOnly: await issueAgentCert(ca, { host: "some-agent", role: "reader" }),
    // A reader role URI, but an EKU that allows server authentication only.
    serverAuthReader: await issueCertificate(ca, {
      commonName: "server-auth-reader",
      ...valid,
      extendedKeyUsages: [EKU.serverAuth],
      uris: [roleUri("reader")],
    }),
    expired: await issueCertificate(ca, {
      commonName: "expired-reader",
      notBefore: new Date(now - 48 * HOUR),
      notAfter: new Date(now - 24 * HOUR),
      extendedKeyUsages: [EKU.clientAuth],
      uris: [roleUri("reader")],
    }),
  };
}

/** Issues the CA, an agent certificate for localhost/127.0.0.1 and every client kind into `dir`. */
export async function createTestPki(dir: string): Promise<TestPki> {
  mkdirSync(join(dir, "clients"), { recursive: true });
  const ca = await createCa({ commonName: "hostward test CA" });
  const agents = await issueAgentCerts(ca, { host: "localhost", ips: ["127.0.0.1"] });
  const files = {
    ca: join(dir, "ca.crt"),
    cert: { reader: join(dir, "reader.crt"), operator: join(dir, "operator.crt") },
    key: { reader: join(dir, "reader.key"), operator: join(dir, "operator.key") },
  };
  writePem(files.ca, ca.cert, { private: false });
  for (const role of ["reader", "operator"] as const) {
    writePem(files.cert[role], agents[role].cert, { private: false });
    writePem(files.key[role], agents[role].key, { private: true });
  }

  const pairs: Record<ClientKind, PemPair> = {
    reader: await issueClientCert(ca, { role: "reader", name: "test-reader" }),
    operator: await issueClientCert(ca, { role: "operator", name: "test-operator" }),
    ...(await badClients(ca)),
  };
  const clients = {} as Record<ClientKind, ClientFiles>;
  for (const kind of CLIENT_KINDS) {
    const pair = pairs[kind];
    const certFile = join(dir, "clients", `${kind}.crt`);
    const keyFile = join(dir, "clients", `${kind}.key`);
    writePem(certFile, pair.cert, { private: false });
    writePem(keyFile, pair.key, { private: true });
    clients[kind] = { ...pair, certFile, keyFile };
  }
  return { dir, ca, agents, files, clients };
}

/** Channel credentials presenting one client certificate (or none) and trusting the test CA. */
export function clientCredentials(pki: TestPki, kind: ClientKind | null): grpc.ChannelCredentials {
  const ca = Buffer.from(pki.ca.cert);
  if (kind === null) return grpc.credentials.createSsl(ca);
  const client = pki.clients[kind];
  return grpc.credentials.createSsl(ca, Buffer.from(client.key), Buffer.from(client.cert));
}
