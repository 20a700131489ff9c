// `hostward serve` fails fast at startup with a precise message (and nothing on stdout).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestPki, type TestPki } from "../support/pki";
import { BROKER_BUNDLE, brokerEnv, createBrokerDir } from "./helpers/broker-dir";

let dir: string;
let pki: TestPki;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hw-serve-"));
  pki = await createTestPki(join(dir, "pki"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function serve(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BROKER_BUNDLE, "serve", ...args], { env: brokerEnv(dir), stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

it("an invalid configuration: exit 1, every problem listed with file and field", async () => {
  const bd = createBrokerDir(join(dir, "bad"), pki);
  bd.writeHosts([{ name: "web1", port: 7443 }]);
  bd.writePolicy([{ target: "web1", allow: ["get_lod"] }]);
  bd.writeBroker({ fanout: { concurrency: 0 } });
  const r = await serve(["--config", bd.dir]);
  expect(r.code).toBe(1);
  expect(r.stdout).toBe("");
  expect(r.stderr).toContain(`${join(bd.dir, "policy.yaml")}: rules.0.allow.0: unknown tool "get_lod"`);
  expect(r.stderr).toContain(`${join(bd.dir, "broker.yaml")}: fanout.concurrency: `);
});

it("missing client TLS files: exit 1 naming the file and the command that creates it", async () => {
  const bd = createBrokerDir(join(dir, "notls"), undefined);
  bd.writeHosts([]);
  bd.writePolicy([]);
  const r = await serve(["--config", bd.dir]);
  expect(r.code).toBe(1);
  expect(r.stdout).toBe("");
  expect(r.stderr).toContain(`cannot read the broker's CA certificate ${join(bd.dir, "tls", "ca.crt")}: ENOENT`);
  expect(r.stderr).toContain("hostward pki issue-client --role reader");
});

it("an unknown option: exit 2 with the usage", async () => {
  const r = await serve(["--bogus"]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("Usage: hostward serve");
});

it("a malformed --http value: exit 2", async () => {
  const bd = createBrokerDir(join(dir, "http"), pki);
  const r = await serve(["--config", bd.dir, "--http", "8080"]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('--http must be HOST:PORT (e.g. 127.0.0.1:8765), got "8080"');
});
