// The audit log and the broker under ordinary faults, with real processes, real signals and a real
// full disk (issue "The audit and the action state stay true under faults"):
//   - 8 `hostward serve` processes on one state directory, each making calls through the SDK's
//     real MCP client to a real reader agent, while brokers are paused (SIGSTOP, longer than the
//     lock wait) and killed (SIGKILL) at random: the chain verifies, no seq is shared, and every call
//     is answered, or refused (AUDIT_BUSY) with no record and no host call, or lost with its broker;
//   - a disk that fills up (a tmpfs mounted by the test; root): calls are refused while it is full,
//     a record cut short by a crash on a full disk keeps a new broker from starting with a message
//     naming why, and once space is freed the next broker starts, recovers and verifies;
//   - SIGHUP reloads a serving broker, and a reload naming a missing or mismatched certificate is
//     refused with the file named while the last good configuration keeps serving.
import { execFileSync, spawn } from "node:child_process";
import { appendFileSync, closeSync, copyFileSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anchorFilesIn, AuditLog } from "../../broker/src/audit/log";
import { verifyAuditFile } from "../../broker/src/audit/verify";
import { KernelLock } from "../../broker/src/file-lock";
import { configFiles } from "../../broker/src/paths";
import { startAgent, type TestAgent } from "../support/agent";
import { createTestPki, type TestPki } from "../support/pki";
import { BROKER_BUNDLE, brokerEnv, createBrokerDir, type BrokerDir } from "./helpers/broker-dir";
import { call, connectBroker, textOf, type BrokerSession } from "./helpers/mcp-client";

const isRoot = process.getuid?.() === 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rand = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo));

let dir: string;
let pki: TestPki;
let agent: TestAgent;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hw-audit-faults-"));
  pki = await createTestPki(join(dir, "pki"));
  agent = await startAgent({ role: "reader", pki, dir: join(dir, "agent") });
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function brokerDirFor(name: string, settings: Record<string, unknown> = {}, stateDir?: string): BrokerDir {
  const bd = createBrokerDir(join(dir, name), pki);
  bd.writeHosts([{ name: "web1", port: agent.port }]);
  bd.writePolicy([{ target: "*", allow: ["*"] }]);
  bd.writeBroker({ ...settings, ...(stateDir && { stateDir }) });
  if (!stateDir) return bd;
  const auditFile = join(stateDir, "audit.jsonl");
  const audit = () => readFileSync(auditFile, "utf8").trimEnd().split("\n").filter((l) => l).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { ...bd, stateDir, auditFile, audit };
}

const pidOf = (s: BrokerSession) => (s.client.transport as unknown as { pid: number | null } | undefined)?.pid ?? undefined;
/** Sends a signal if the process is still there. */
function signal(pid: number | undefined, sig: NodeJS.Signals): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

describe("8 brokers on one state directory, paused and killed at random", () => {
  it("never fork the chain; every call is answered, refused before its host was called, or lost with its broker", async () => {
    const bd = brokerDirFor("many", { audit: { lockWaitMs: 300 } });
    const N = 8;
    const DURATION_MS = 12_000;
    const tally = { ok: 0, busy: 0, lost: 0, other: [] as string[], pauses: 0, kills: 0 };
    const sessions: Array<BrokerSession | undefined> = [];
    let stopping = false;

    const worker = async (slot: number) => {
      while (!stopping) {
        let s = sessions[slot];
        if (!s) {
          try {
            s = sessions[slot] = await connectBroker(bd.dir, dir, `fault-${slot}`);
          } catch (err) {
            // A new broker started while another holds the lock past its wait may refuse to start.
            tally.other.push(`start: ${(err as Error).message.slice(0, 200)}`);
            await sleep(100);
            continue;
          }
        }
        try {
          const r = await call(s, "get_load", { target: "web1" });
          if (!r.isError) tally.ok += 1;
          else if (/AUDIT_BUSY/.test(textOf(r)) && /nothing was executed/.test(textOf(r))) tally.busy += 1;
          else tally.other.push(textOf(r).slice(0, 300));
        } catch {
          // The broker was killed under the call: its client sees the transport close.
          tally.lost += 1;
          sessions[slot] = undefined;
        }
      }
    };

    const chaos = async () => {
      while (!stopping) {
        await sleep(rand(50, 300));
        const slot = rand(0, N);
        const s = sessions[slot];
        if (!s) continue;
        const pid = pidOf(s);
        if (pid === undefined) continue;
        if (Math.random() < 0.25) {
          tally.kills += 1;
          sessions[slot] = undefined;
          signal(pid, "SIGKILL");
          void s.close().catch(() => undefined);
        } else if (signal(pid, "SIGSTOP")) {
          // Longer than the lock wait: a broker paused while it holds the lock makes the others wait
          // and refuse; the kernel never hands its lock to another while it lives.
          tally.pauses += 1;
          await sleep(rand(400, 1500));
          signal(pid, "SIGCONT");
        }
      }
    };

    const workers = Array.from({ length: N }, (_, i) => worker(i));
    const chaosDone = Promise.all([chaos(), chaos(), chaos()]);
    await sleep(DURATION_MS);
    stopping = true;
    await chaosDone;
    for (const s of sessions) if (s) signal(pidOf(s), "SIGCONT");
    await Promise.all(workers);
    await Promise.all(sessions.map((s) => s?.close().catch(() => undefined)));
    await sleep(300);

    // The chain is whole, no seq is shared, and the signed head verifies.
    const verdict = verifyAuditFile(bd.auditFile, { head: anchorFilesIn(bd.dir).head });
    expect(verdict.failure).toBeUndefined();
    expect(verdict.ok).toBe(true);
    const recs = bd.audit();
    expect(new Set(recs.map((r) => r.seq)).size).toBe(recs.length);
    expect(new Set(recs.map((r) => r.prev)).size).toBe(recs.length);

    // Hosts are called only for calls on record: every call id the agent saw is in the audit.
    const calls = recs.filter((r) => r.event === "tool.call" && r.tool === "get_load");
    const recorded = new Set(calls.map((r) => r.callId));
    const seen = agent.rpcLines().filter((l) => l.method === "GetLoad" && typeof l.callId === "string");
    // Every answered call reached the agent (and carried its call id there)…
    expect(seen.length).toBeGreaterThanOrEqual(tally.ok);
    for (const l of seen) expect(recorded.has(l.callId)).toBe(true);
    // …and a refused call left no record (so it reached no host): records ≤ answered + lost.
    expect(calls.length).toBeLessThanOrEqual(tally.ok + tally.lost);
    expect(tally.ok).toBeGreaterThan(0);
    expect(tally.other, tally.other.join("\n")).toEqual([]);
    console.log(`8-broker fault test: ${JSON.stringify({ ...tally, other: tally.other.length, records: recs.length, hostCalls: seen.length })}`);
  }, 90_000);
});

describe("a broker whose audit lock is held by a paused process", () => {
  it("waits its bound, then refuses with AUDIT_BUSY before calling the host; answers again once the holder is gone", async () => {
    const bd = brokerDirFor("held", { audit: { lockWaitMs: 250 } });
    const s = await connectBroker(bd.dir, dir);
    try {
      expect((await call(s, "get_load", { target: "web1" })).isError).toBeFalsy();
      const before = agent.rpcLines().length;
      // A stand-in for another broker frozen while it holds the lock (SIGSTOP, a suspend).
      const holder = new KernelLock(`${bd.auditFile}.lock`);
      expect(holder.tryAcquire()).toBe(true);
      const t0 = Date.now();
      const r = await call(s, "get_load", { target: "web1" }).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}\nbroker stderr:\n${s.stderr()}`);
      });
      const waited = Date.now() - t0;
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(/refused: the call could not be audited, so nothing was executed \[AUDIT_BUSY\] .*stayed locked .*250 ms/);
      expect(waited).toBeGreaterThanOrEqual(250);
      expect(agent.rpcLines().length).toBe(before);
      holder.close();
      expect((await call(s, "get_load", { target: "web1" })).isError).toBeFalsy();
      expect(verifyAuditFile(bd.auditFile).ok).toBe(true);
    } finally {
      await s.close();
    }
  }, 30_000);
});

describe.skipIf(!isRoot)("a full disk (tmpfs mounted by the test; needs root)", () => {
  let mnt: string;
  beforeAll(() => {
    mnt = join(dir, "small");
    mkdirSync(mnt);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", mnt]);
  });
  afterAll(() => {
    try {
      execFileSync("umount", [mnt]);
    } catch {
      // Already unmounted.
    }
  });

  /** Fills the filesystem until a write fails (ENOSPC). */
  function fillUp(file: string): void {
    const chunk = Buffer.alloc(4096, 0x61);
    try {
      for (;;) appendFileSync(file, chunk);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
    }
    // Down to the last bytes: what is left of a page is taken a byte at a time.
    try {
      for (;;) appendFileSync(file, "a");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
    }
  }

  it("refuses calls while full and answers again once space is freed, the chain whole", async () => {
    const state = join(mnt, "s1");
    const bd = brokerDirFor("full1", {}, state);
    const s = await connectBroker(bd.dir, dir);
    try {
      expect((await call(s, "get_load", { target: "web1" })).isError).toBeFalsy();
      fillUp(join(mnt, "filler"));
      // The log's last page may still hold a record or two: call until the disk is really full. A
      // call whose own record fit but whose result did not says that it reached its host; then
      // the next is refused before anything is sent. Never a refusal that hides a host call.
      let refused = await call(s, "get_load", { target: "web1" });
      for (let i = 0; i < 50 && !/nothing was executed/.test(textOf(refused)); i++) {
        if (refused.isError) expect(textOf(refused)).toMatch(/reached its hosts .* withheld: .*ENOSPC/);
        refused = await call(s, "get_load", { target: "web1" });
      }
      expect(refused.isError).toBe(true);
      expect(textOf(refused)).toMatch(/could not be audited, so nothing was executed \[AUDIT_FAILED\] .*ENOSPC/);
      // Nothing half-written: the log ends with a complete record.
      expect(verifyAuditFile(bd.auditFile)).toMatchObject({ ok: true });
      expect(verifyAuditFile(bd.auditFile).tornTail).toBeUndefined();
      rmSync(join(mnt, "filler"));
      const again = await call(s, "get_load", { target: "web1" });
      expect(again.isError).toBeFalsy();
      expect(verifyAuditFile(bd.auditFile, { head: anchorFilesIn(bd.dir).head })).toMatchObject({ ok: true, recoveries: [] });
    } finally {
      rmSync(join(mnt, "filler"), { force: true });
      await s.close();
    }
  }, 60_000);

  it("a torn record whose recovery record does not fit: set aside, and the recovery is recorded once space is freed", async () => {
    const dir2 = join(mnt, "s3");
    mkdirSync(dir2);
    const file = join(dir2, "audit.jsonl");
    const log = new AuditLog(file).open();
    // Records that end the log 96 bytes before a page boundary, then the torn bytes in that page.
    await log.append({ event: "tool.call", callId: "a" });
    const one = statSync(file).size;
    const pad = ((4000 - 2 * one) % 4096 + 4096) % 4096;
    await log.append({ event: "tool.call", callId: "b", pad: "x".repeat(Math.max(0, pad - 10)) });
    await log.close();
    appendFileSync(file, '{"v":1,"seq":3,"ts":"2026');
    // Full, then one page freed: room for the set-aside file, not for the recovery record.
    const filler = join(mnt, "filler");
    fillUp(filler);
    const fd = openSync(filler, "r+");
    ftruncateSync(fd, statSync(filler).size - 4096);
    closeSync(fd);
    const log2 = new AuditLog(file).open();
    const err = await log2.append({ event: "tool.call", callId: "c" }).catch((e: unknown) => e);
    rmSync(filler);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/ENOSPC.*set aside in audit\.jsonl\.torn-\d+ and its recovery is recorded by the next append/);
    await log2.append({ event: "tool.call", callId: "d" });
    await log2.close();
    // Whichever way the first append went, the torn bytes never left the log unrecorded.
    const r = verifyAuditFile(file);
    expect(r).toMatchObject({ ok: true, recoveries: [{ kept: "present" }] });
    expect(r.tornTail).toBeUndefined();
  }, 30_000);

  it("a record cut short on a full disk: a new broker says why it cannot start; after space is freed the next one recovers and verifies", async () => {
    const state = join(mnt, "s2");
    const bd = brokerDirFor("full2", {}, state);
    const first = await connectBroker(bd.dir, dir);
    expect((await call(first, "get_load", { target: "web1" })).isError).toBeFalsy();
    // A broker killed in the middle of a write on a full disk leaves half a record.
    signal(pidOf(first), "SIGKILL");
    await first.close().catch(() => undefined);
    fillUp(join(mnt, "filler"));
    try {
      appendFileSync(bd.auditFile, '{"v":1,"seq":99,"event":"tool.ca');
    } catch {
      // The disk may be too full even for that: make room for exactly the torn bytes.
      rmSync(join(mnt, "filler"));
      appendFileSync(bd.auditFile, '{"v":1,"seq":99,"event":"tool.ca');
      fillUp(join(mnt, "filler"));
    }
    const blocked = await runServe(bd);
    expect(blocked.code).not.toBe(0);
    expect(blocked.stderr).toMatch(/record cut short .* could not be set aside: ENOSPC.*free some space/);

    rmSync(join(mnt, "filler"));
    const t0 = Date.now();
    const next = await connectBroker(bd.dir, dir);
    const recoveredMs = Date.now() - t0;
    try {
      expect((await call(next, "get_load", { target: "web1" })).isError).toBeFalsy();
    } finally {
      await next.close();
    }
    const verdict = verifyAuditFile(bd.auditFile, { head: anchorFilesIn(bd.dir).head });
    expect(verdict).toMatchObject({ ok: true, recoveries: [{ kept: "present" }] });
    const rec = bd.audit().find((r) => r.event === "audit.recovered");
    expect(readFileSync(join(state, rec!.keptIn as string), "utf8")).toBe('{"v":1,"seq":99,"event":"tool.ca');
    console.log(`ENOSPC: broker started, recovered and ready in ${recoveredMs} ms after space was freed`);
  }, 60_000);
});

/** `hostward serve` with stdin closed at once: it either fails to start or stops at EOF. */
function runServe(bd: BrokerDir): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BROKER_BUNDLE, "serve", "--config", bd.dir], { env: brokerEnv(dir), stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("exit", (code) => resolve({ code, stderr }));
    child.stdin.end();
  });
}

describe("signals and reloads", () => {
  it("SIGHUP: the broker keeps serving and has reloaded; a reload naming a missing or mismatched certificate is refused, the last good configuration kept", async () => {
    const bd = brokerDirFor("hup");
    const s = await connectBroker(bd.dir, dir);
    const files = configFiles(bd.dir);
    const pid = pidOf(s)!;
    const hosts = async () => ((await call(s, "list_hosts", {})).structuredContent as { hosts: Array<{ name: string }> }).hosts.map((h) => h.name);
    const waitFor = async (pred: () => boolean) => {
      for (let i = 0; i < 100 && !pred(); i++) await sleep(50);
    };
    try {
      expect(await hosts()).toEqual(["web1"]);
      bd.writeHosts([{ name: "web1", port: agent.port }, { name: "web2", port: agent.port }]);
      process.kill(pid, "SIGHUP");
      await waitFor(() => bd.audit().some((r) => r.event === "config.reload" && r.via === "SIGHUP"));
      expect(await hosts()).toEqual(["web1", "web2"]);
      expect((await call(s, "get_load", { target: "web2" })).isError).toBeFalsy();

      // A missing certificate: refused, named, nothing changed.
      const cert = files.clientCert("reader");
      copyFileSync(cert, join(dir, "reader.crt.saved"));
      rmSync(cert);
      bd.writeHosts([{ name: "web1", port: agent.port }]);
      process.kill(pid, "SIGHUP");
      await waitFor(() => bd.audit().some((r) => r.event === "config.reload" && r.outcome === "REFUSED"));
      const refusedRecord = bd.audit().filter((r) => r.event === "config.reload").at(-1)!;
      expect(refusedRecord).toMatchObject({ outcome: "REFUSED", via: "SIGHUP" });
      expect(JSON.stringify(refusedRecord.problems)).toContain(cert);
      expect(await hosts()).toEqual(["web1", "web2"]);
      // The same through the tool, for a certificate that is not its key's pair.
      writeFileSync(cert, readFileSync(files.caCert));
      const tool = await call(s, "reload_config", {});
      expect(tool.isError).toBe(true);
      expect(textOf(tool)).toContain(`${cert} does not match its key`);
      // The running configuration still answers (its credentials were loaded before).
      expect((await call(s, "get_load", { target: "web2" })).isError).toBeFalsy();
      copyFileSync(join(dir, "reader.crt.saved"), cert);
    } finally {
      await s.close();
    }
    // A clean stop (stdin closed) writes the stop record after everything in flight.
    await waitFor(() => bd.audit().some((r) => r.event === "broker.stop"));
    expect(bd.audit().at(-1)).toMatchObject({ event: "broker.stop" });
  }, 60_000);

  it("SIGTERM ends a broker cleanly: a stop record, a signed head, a chain that verifies", async () => {
    const bd = brokerDirFor("term");
    const s = await connectBroker(bd.dir, dir);
    await call(s, "get_load", { target: "web1" });
    const pid = pidOf(s)!;
    const exited = new Promise<void>((resolve) => (s.client.transport as unknown as { onclose?: () => void }).onclose = resolve);
    process.kill(pid, "SIGTERM");
    await Promise.race([exited, sleep(5_000)]);
    await sleep(200);
    expect(bd.audit().at(-1)).toMatchObject({ event: "broker.stop", reason: "SIGTERM" });
    const head = JSON.parse(readFileSync(anchorFilesIn(bd.dir).head, "utf8")) as { seq: number };
    expect(head.seq).toBe(bd.audit().length);
    expect(verifyAuditFile(bd.auditFile, { head: anchorFilesIn(bd.dir).head })).toMatchObject({ ok: true, anchor: { status: "verified" } });
    await s.close().catch(() => undefined);
  }, 30_000);
});
