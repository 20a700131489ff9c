// Startup of the built agent bundles: options, configuration and TLS files fail fast with a
// precise message naming the field or the file; the good paths start, write the ready file and
// log the startup line; SIGTERM is a clean exit.
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { HealthService, ServingStatus } from "../../agent/src/server/health";
import { hashableActions } from "../../proto/catalog/actions/index";
import { diagnostics } from "../../proto/catalog/diagnostics/index";
import { catalogHash } from "../../proto/catalog/hash";
import { runBundle, startAgent } from "../support/agent";
import { clientCredentials, createTestPki, type TestPki } from "../support/pki";
import { itAsRoot } from "../support/root";

// The bundles carry package.json's version (scripts/build.mjs defines it).
const VERSION = (JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "package.json"), "utf8")) as { version: string }).version;

let dir: string;
let pki: TestPki;
let n = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hostward-startup-"));
  pki = await createTestPki(join(dir, "pki"));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a config file (JSON is YAML) with the test TLS files unless `tls` is given. */
function configFile(config: Record<string, unknown>): string {
  const file = join(dir, `agent-${++n}.yaml`);
  writeFileSync(file, JSON.stringify({ listen: { host: "127.0.0.1", port: 0 }, tls: { ca: pki.files.ca, cert: pki.files.cert.reader, key: pki.files.key.reader }, ...config }));
  return file;
}

describe("options", () => {
  it("--version prints the version", async () => {
    expect(await runBundle("reader", ["--version"])).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
  });

  it("--help describes the options and the TLS file defaults", async () => {
    const r = await runBundle("operator", ["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--ready-file FILE");
    expect(r.stdout).toContain("$CREDENTIALS_DIRECTORY/{ca.crt,agent.crt,agent.key}");
  });

  it("an unknown option is a usage error", async () => {
    const r = await runBundle("reader", ["--role", "operator"]);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("Unknown option '--role'");
  });
});

describe("configuration", () => {
  it("names every bad field", async () => {
    const file = configFile({ listen: { host: "127.0.0.1", port: "x" }, limits: { maxConcurrentCalls: 0 }, bogus: true });
    const r = await runBundle("reader", ["--config", file]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`${file}: invalid configuration:`);
    expect(r.stderr).toMatch(/listen\.port: .*expected number/);
    expect(r.stderr).toMatch(/limits\.maxConcurrentCalls: .*>=1/);
    expect(r.stderr).toMatch(/\(top level\): Unrecognized key: "bogus"/);
  });

  it("refuses YAML that does not parse, naming the file", async () => {
    const file = join(dir, "broken.yaml");
    writeFileSync(file, "listen: [unclosed\n");
    const r = await runBundle("reader", ["--config", file]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`${file}: not valid YAML`);
  });

  it("a --config file that does not exist is an error (only the default path may be absent)", async () => {
    const r = await runBundle("reader", ["--config", join(dir, "missing.yaml")]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`cannot read ${join(dir, "missing.yaml")}: ENOENT`);
  });

  it("a role in the config must match the entry point", async () => {
    const r = await runBundle("reader", ["--config", configFile({ role: "operator" })]);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/role: is "operator" but this is the reader agent/);
  });
});

describe("TLS files", () => {
  it("refuses a key readable by group or others, naming the file and its mode", async () => {
    const key = join(dir, "loose.key");
    copyFileSync(pki.files.key.reader, key);
    chmodSync(key, 0o640);
    const r = await runBundle("reader", ["--config", configFile({ tls: { ca: pki.files.ca, cert: pki.files.cert.reader, key } })]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`TLS key ${key} is readable or writable by group or others (mode 0640); refusing to start: chmod 600 ${key}`);
  });

  it.each([0o604, 0o620, 0o602, 0o644])("refuses a key with mode %o (any access for group or others), before listening", async (mode) => {
    const key = join(dir, `mode-${mode.toString(8)}.key`);
    copyFileSync(pki.files.key.reader, key);
    chmodSync(key, mode);
    const r = await runBundle("reader", ["--config", configFile({ tls: { ca: pki.files.ca, cert: pki.files.cert.reader, key } })]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`TLS key ${key} is readable or writable by group or others (mode 0${mode.toString(8)})`);
  });

  it("refuses a key owned by another user, naming the owner and the fix", async () => {
    const key = join(dir, "foreign.key");
    copyFileSync(pki.files.key.reader, key);
    chmodSync(key, 0o600);
    chownSync(key, 65534, 65534);
    const r = await runBundle("reader", ["--config", configFile({ tls: { ca: pki.files.ca, cert: pki.files.cert.reader, key } })]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`TLS key ${key} is owned by uid 65534, not by this agent's user (uid ${process.geteuid?.()}) or root; refusing to start`);
  });

  it("refuses the other role's certificate: each role has its own key and certificate", async () => {
    const r = await runBundle("operator", ["--config", configFile({ tls: { ca: pki.files.ca, cert: pki.files.cert.reader, key: pki.files.key.reader } })]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`agent certificate ${pki.files.cert.reader} is the reader's (urn:hostward:role:reader), but this is the operator agent: install operator.crt and operator.key for it`);
    const roleless = await runBundle("reader", ["--config", configFile({ tls: { ca: pki.files.ca, cert: pki.clients.noRole.certFile, key: pki.clients.noRole.keyFile } })]);
    expect(roleless.code).toBe(78);
    expect(roleless.stderr).toContain("has no role SAN URI");
  });

  /** A $CREDENTIALS_DIRECTORY as the role's unit receives it (LoadCredential=), its key at `keyMode`. */
  function credentialsDir(role: "reader" | "operator", keyMode: number): string {
    const creds = join(dir, `credentials-${role}`);
    mkdirSync(creds, { recursive: true });
    copyFileSync(pki.files.ca, join(creds, "ca.crt"));
    copyFileSync(pki.files.cert[role], join(creds, "agent.crt"));
    copyFileSync(pki.files.key[role], join(creds, "agent.key"));
    chmodSync(join(creds, "agent.key"), keyMode);
    return creds;
  }

  // systemd >= 256 (Debian 13) hands credentials out as root:root 0440 with an ACL for the unit's
  // user; the group bits are then the ACL mask. Only there, and only with root's group, is that
  // accepted. Needs root: the files must belong to group 0.
  itAsRoot("accepts a key in $CREDENTIALS_DIRECTORY as systemd 257 hands it out (root:root 0440), nothing looser, nowhere else", "the key must belong to group 0", async () => {
    const creds = credentialsDir("reader", 0o440);
    const agent = await startAgent({ role: "reader", pki, dir: join(dir, "creds-ok"), config: { tls: {} }, env: { CREDENTIALS_DIRECTORY: creds } });
    expect(agent.port).toBeGreaterThan(0);
    await agent.stop();
    chmodSync(join(creds, "agent.key"), 0o444);
    const loose = await runBundle("reader", ["--config", configFile({ tls: {} })], { CREDENTIALS_DIRECTORY: creds });
    expect(loose.code).toBe(78);
    expect(loose.stderr).toContain(`TLS key ${join(creds, "agent.key")} is readable or writable by group or others (mode 0444)`);
    // The same 0440 outside the credentials directory is refused.
    chmodSync(join(creds, "agent.key"), 0o440);
    const elsewhere = await runBundle("reader", ["--config", configFile({ tls: { ca: join(creds, "ca.crt"), cert: join(creds, "agent.crt"), key: join(creds, "agent.key") } })]);
    expect(elsewhere.code).toBe(78);
    expect(elsewhere.stderr).toContain("is readable or writable by group or others (mode 0440)");
  });

  it("names a missing CA file", async () => {
    const ca = join(dir, "nope", "ca.crt");
    const r = await runBundle("operator", ["--config", configFile({ tls: { ca, cert: pki.files.cert.reader, key: pki.files.key.reader } })]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`CA certificate ${ca} does not exist`);
  });

  it("refuses a certificate that does not match the key", async () => {
    const r = await runBundle("operator", [
      "--config",
      configFile({ tls: { ca: pki.files.ca, cert: pki.clients.reader.certFile, key: pki.files.key.reader } }),
    ]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`agent certificate ${pki.clients.reader.certFile} does not match the key ${pki.files.key.reader}`);
  });

  it("refuses an agent certificate from another CA", async () => {
    const r = await runBundle("operator", [
      "--config",
      configFile({ tls: { ca: pki.files.ca, cert: pki.clients.otherCa.certFile, key: pki.clients.otherCa.keyFile } }),
    ]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`agent certificate ${pki.clients.otherCa.certFile} was not issued by the CA in ${pki.files.ca}`);
  });

  it("defaults to $CREDENTIALS_DIRECTORY/{ca.crt,agent.crt,agent.key} (systemd LoadCredential=)", async () => {
    const creds = credentialsDir("operator", 0o400);
    const agent = await startAgent({
      role: "operator",
      pki,
      dir: join(dir, "creds-agent"),
      config: { tls: {} },
      env: { CREDENTIALS_DIRECTORY: creds },
    });
    try {
      const started = await agent.waitForLine((l) => l.msg === "started");
      expect(started).toMatchObject({ role: "operator", port: agent.port, version: VERSION, service: "hostward.v1.ActionsService" });
      expect(started.catalogHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    } finally {
      expect(await agent.stop()).toEqual({ code: 0, signal: null });
    }
  });
});

describe("lifecycle", () => {
  // scripts/build.mjs computes each bundle's catalog hash at build time (the agent does not build
  // every schema at start): it must be the hash of this catalog, as computed at run time.
  it.each([
    ["reader", () => catalogHash(diagnostics)],
    ["operator", () => catalogHash(hashableActions())],
  ] as const)("the %s logs the catalog hash of the catalog it was built from", async (role, expected) => {
    const agent = await startAgent({ role, pki, dir: join(dir, `hash-${role}`) });
    try {
      const started = await agent.waitForLine((l) => l.msg === "started", 5_000);
      expect(started.catalogHash).toBe(expected());
    } finally {
      expect(await agent.stop()).toEqual({ code: 0, signal: null });
    }
  });

  it("writes the ready file, and on SIGTERM exits 0 and removes it", async () => {
    const agent = await startAgent({ role: "operator", pki, dir: join(dir, "lifecycle") });
    expect(agent.port).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(agent.readyFile, "utf8"))).toEqual({ role: "operator", port: agent.port, pid: agent.pid });
    // The line travels through a pipe and may arrive just after the ready file: wait for it.
    expect(await agent.waitForLine((l) => l.msg === "started", 5_000)).toMatchObject({ msg: "started" });
    expect(await agent.stop()).toEqual({ code: 0, signal: null });
    expect(agent.lines().at(-1)).toMatchObject({ msg: "stopped" });
    expect(existsSync(agent.readyFile)).toBe(false);
  });

  it("a health Watch stream sees SERVING, then NOT_SERVING on SIGTERM, and does not hold the exit up", async () => {
    const agent = await startAgent({ role: "operator", pki, dir: join(dir, "watch") });
    const Health = grpc.makeGenericClientConstructor(HealthService, "grpc.health.v1.Health");
    const client = new Health(agent.address, clientCredentials(pki, "operator"));
    try {
      const statuses: ServingStatus[] = [];
      const watcher = client as unknown as { watch(request: { service: string }): grpc.ClientReadableStream<{ status: ServingStatus }> };
      const stream = watcher.watch({ service: "hostward.v1.ActionsService" });
      stream.on("data", (m: { status: ServingStatus }) => statuses.push(m.status));
      const ended = new Promise<grpc.StatusObject>((resolve) => stream.on("status", resolve));
      stream.on("error", () => undefined);
      for (let i = 0; i < 200 && statuses.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(statuses).toEqual([ServingStatus.SERVING]);
      const started = Date.now();
      expect(await agent.stop()).toEqual({ code: 0, signal: null });
      expect(Date.now() - started).toBeLessThan(4_000); // well inside the 5 s grace period
      expect((await ended).code).toBe(grpc.status.OK);
      expect(statuses).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    } finally {
      client.close();
    }
  });
});
