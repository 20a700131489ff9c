// `hostward local up|status|down`: the embedded default fleet the README and the demo rely on.
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadBrokerConfig } from "../../broker/src/config/load";
import { call, connectBroker } from "../broker/helpers/mcp-client";
import { alive, hostward } from "./cli";

interface Fleet {
  agents: Array<{ host: string; role: string; pid: number; port: number }>;
}

describe("hostward local", () => {
  let dir: string;
  let fleet: Fleet;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "hostward-local-"));
    const up = await hostward(["local", "up", "--dir", dir, "--hosts", "2"]);
    expect(up.stderr).toContain("local fleet up");
    expect(up.code).toBe(0);
    fleet = JSON.parse(readFileSync(join(dir, "fleet.json"), "utf8")) as Fleet;
  }, 60_000);

  afterAll(async () => {
    await hostward(["local", "down", "--dir", dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("starts a reader and an operator agent per host, each on its own loopback port", () => {
    expect(fleet.agents.map((a) => `${a.host}/${a.role}`)).toEqual(["local1/reader", "local1/operator", "local2/reader", "local2/operator"]);
    for (const a of fleet.agents) {
      expect(alive(a.pid)).toBe(true);
      expect(a.port).toBeGreaterThan(0);
    }
    expect(new Set(fleet.agents.map((a) => a.port)).size).toBe(4);
  });

  it("writes a broker configuration that the broker's own loader accepts, with the agents' real ports", () => {
    const config = loadBrokerConfig(dir);
    expect(config.hosts.map((h) => h.name)).toEqual(["local1", "local2"]);
    const local2 = config.hosts.find((h) => h.name === "local2")!;
    expect(local2.ports.reader).toBe(fleet.agents.find((a) => a.host === "local2" && a.role === "reader")!.port);
    expect(local2.tags).toContain("db");
  });

  it("keeps private keys readable by the owner only", () => {
    for (const key of ["tls/reader.key", "tls/operator.key", "pki/ca.key", "agents/local1/reader.key", "agents/local1/operator.key"]) {
      expect((statSync(join(dir, key)).mode & 0o077).toString(8), key).toBe("0");
    }
  });

  it("refuses a second `up` on a running fleet, and a bad host count, with a clear message", async () => {
    const again = await hostward(["local", "up", "--dir", dir]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already running/);
    const bad = await hostward(["local", "up", "--dir", join(dir, "other"), "--hosts", "0"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--hosts must be an integer from 1 to 50/);
  });

  it("status lists every agent as running; down stops them all", async () => {
    const status = await hostward(["local", "status", "--dir", dir]);
    expect(status.stdout.trim().split("\n")).toHaveLength(4);
    expect(status.stdout).not.toMatch(/stopped/);
    const down = await hostward(["local", "down", "--dir", dir]);
    expect(down.code).toBe(0);
    expect(down.stderr).toContain("4 agent(s) stopped");
    for (const a of fleet.agents) expect(alive(a.pid)).toBe(false);
  });

  it("up again after down keeps the CA, the approver key and the ports, renews the certificates, and a broker that kept running still reaches the hosts", async () => {
    const ca = readFileSync(join(dir, "pki", "ca.crt"), "utf8");
    const approver = readFileSync(join(dir, "approver", "local-admin.pub"), "utf8");
    const clientCert = readFileSync(join(dir, "tls", "reader.crt"), "utf8");
    const up = await hostward(["local", "up", "--dir", dir, "--hosts", "2"]);
    expect(up.code, up.stderr).toBe(0);
    const first = JSON.parse(readFileSync(join(dir, "fleet.json"), "utf8")) as Fleet;
    // A broker started now, on this configuration, and kept running across a restart of the fleet.
    const session = await connectBroker(dir, dir);
    try {
      expect((await call(session, "get_load", { target: "*" })).structuredContent).toMatchObject({ summary: { ok: 2 } });
      expect((await hostward(["local", "down", "--dir", dir])).code).toBe(0);
      const again = await hostward(["local", "up", "--dir", dir, "--hosts", "2"]);
      expect(again.code, again.stderr).toBe(0);
      const second = JSON.parse(readFileSync(join(dir, "fleet.json"), "utf8")) as Fleet;
      expect(second.agents.map((a) => [a.host, a.role, a.port])).toEqual(first.agents.map((a) => [a.host, a.role, a.port]));
      expect(second.agents.map((a) => a.pid)).not.toEqual(first.agents.map((a) => a.pid));
      expect(readFileSync(join(dir, "pki", "ca.crt"), "utf8")).toBe(ca);
      expect(readFileSync(join(dir, "approver", "local-admin.pub"), "utf8")).toBe(approver);
      expect(readFileSync(join(dir, "tls", "reader.crt"), "utf8")).not.toBe(clientCert);
      // Channels reconnect to the same ports with the same CA: the running broker answers again.
      let r = await call(session, "get_load", { target: "*" });
      for (let i = 0; i < 40 && (r.structuredContent as { summary: { ok: number } }).summary.ok !== 2; i++) {
        await new Promise((res) => setTimeout(res, 250));
        r = await call(session, "get_load", { target: "*" });
      }
      expect(r.structuredContent).toMatchObject({ summary: { ok: 2, failed: 0 } });
    } finally {
      await session.close();
    }
  }, 90_000);
});
