// The host's own record of actions (agent/src/helper/ledger.ts), with the BUILT helper in direct
// mode: an approved action is on the ledger (root-owned file per request id, 0600 in a 0700
// directory) before anything runs and with its end once it ran; a ledger query answers with it;
// a request id that already ran is refused whatever its nonce; an interrupted run (the helper
// killed mid-action) reads back as STARTED with its helper gone.
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { HELPER_EXIT } from "../../agent/src/helper/exit-codes";
import { currentBootId, ledgerDir, type LedgerEntry } from "../../agent/src/helper/ledger";
import { newNonce } from "../../proto/catalog/approval";
import { approve, helperRequest, makeApprover, makeHost, runHelperBundle, type Approver, type HostDirs } from "./support";

let alice: Approver;
let host: HostDirs;

beforeAll(() => {
  alice = makeApprover("MEDIUM", "alice@laptop");
  host = makeHost([alice]);
});

const restart = { action: "restart_service", params: { unit: "nginx.service" }, impact: "MEDIUM" as const };
const query = (requestId: string) => JSON.stringify({ query: "ledger", requestId });

/** An approval for request `id` (the broker's ids), with a fresh nonce each time. */
const approvalFor = (id: string) => approve(alice, { ...restart, id });

describe("the helper's ledger", () => {
  it("records an approved action's start and end, 0600 in a 0700 directory, and answers a query with it", async () => {
    const id = "act-0123456789ab";
    const run = await runHelperBundle(host.env, helperRequest("restart_service", { unit: "nginx.service" }, approvalFor(id)));
    // No systemd on this machine: the pre-check fails, but the action did start (and is recorded).
    expect(run.lines.at(-1)).toMatchObject({ type: "result", verdict: "FAILED" });
    const file = join(ledgerDir(host.stateDir), `${id}.json`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(ledgerDir(host.stateDir)).mode & 0o777).toBe(0o700);
    const entry = JSON.parse(readFileSync(file, "utf8")) as LedgerEntry;
    expect(entry).toMatchObject({ requestId: id, action: "restart_service", params: { unit: "nginx.service" }, state: "ENDED", verdict: "FAILED", reason: "systemd is not running on this host", keyId: alice.keyId, bootId: currentBootId(), helperStart: expect.stringMatching(/^\d+$/) });
    expect(entry.output).toEqual(["pre-check: systemd is not running (/run/systemd/system is missing)"]);

    const q = await runHelperBundle(host.env, query(id));
    expect(q.code).toBe(HELPER_EXIT.succeeded);
    expect(q.lines).toEqual([{ type: "ledger", entry }]);
    expect(q.audit).toMatchObject({ event: "queried", requestId: id, spawns: 0 });
  });

  it("a request id that already ran is refused (REPLAYED) even with a fresh nonce, and nothing runs", async () => {
    const id = "act-aaaaaaaaaaaa";
    await runHelperBundle(host.env, helperRequest("restart_service", { unit: "nginx.service" }, approvalFor(id)));
    const again = await runHelperBundle(host.env, helperRequest("restart_service", { unit: "nginx.service" }, approvalFor(id)));
    expect(again.lines.at(-1)).toMatchObject({ type: "refused", code: "REPLAYED", spawns: 0 });
    expect(String(again.lines.at(-1)?.reason)).toMatch(/already ran on this host/);
    expect(again.lines.filter((l) => l.type === "output")).toEqual([]);
  });

  it("a request the helper never started: the query voids it, so a late start is refused and 'not started' stays true", async () => {
    const id = "act-bbbbbbbbbbbb";
    const q = await runHelperBundle(host.env, query(id));
    expect(q.lines).toEqual([{ type: "ledger", entry: { v: 1, requestId: id, state: "VOIDED", voidedAt: expect.any(String) } }]);
    // The operator agent got the request just after the broker asked: the helper refuses it.
    const late = await runHelperBundle(host.env, helperRequest("restart_service", { unit: "nginx.service" }, approvalFor(id)));
    expect(late.lines.at(-1)).toMatchObject({ type: "refused", code: "REPLAYED", spawns: 0 });
    expect(String(late.lines.at(-1)?.reason)).toMatch(/declared not started .* can never run now/);
    expect(late.lines.filter((l) => l.type === "output")).toEqual([]);
    // Asking again answers the same.
    expect((await runHelperBundle(host.env, query(id))).lines).toEqual(q.lines);
  });

  it("a record that cannot be read is said to be unreadable, never 'not started'", async () => {
    const id = "act-dddddddddddd";
    writeFileSync(join(ledgerDir(host.stateDir), `${id}.json`), "{not json", { mode: 0o600 });
    const q = await runHelperBundle(host.env, query(id));
    expect(q.lines).toEqual([{ type: "ledger", entry: null, unreadable: expect.stringContaining("cannot be read") }]);
  });

  it("a ledger that cannot be written: the approved action is refused (CONFIG) and nothing runs", async () => {
    const broken = makeHost([alice]);
    mkdirSync(broken.stateDir, { recursive: true, mode: 0o700 });
    writeFileSync(ledgerDir(broken.stateDir), "not a directory");
    const r = await runHelperBundle(broken.env, helperRequest("restart_service", { unit: "nginx.service" }, approvalFor("act-eeeeeeeeeeee")));
    expect(r.lines.at(-1)).toMatchObject({ type: "refused", code: "CONFIG", spawns: 0 });
    expect(String(r.lines.at(-1)?.reason)).toMatch(/action ledger .* nothing runs/);
    expect(r.lines.filter((l) => l.type === "output")).toEqual([]);
  });

  it("a STARTED record whose helper is gone (killed mid-action) reads back as not running", async () => {
    const id = "act-cccccccccccc";
    const entry: LedgerEntry = { v: 1, requestId: id, action: "restart_service", params: { unit: "nginx.service" }, requester: "r", keyId: alice.keyId, nonce: newNonce(), state: "STARTED", startedAt: new Date().toISOString(), helperPid: 999_999_999, bootId: currentBootId() };
    writeFileSync(join(ledgerDir(host.stateDir), `${id}.json`), JSON.stringify(entry), { mode: 0o600 });
    const q = await runHelperBundle(host.env, query(id));
    expect(q.lines).toEqual([{ type: "ledger", entry, running: false }]);
    // A live pid that is another process (pid reused: its start time differs) is not the helper.
    const reused = { ...entry, helperPid: process.pid, helperStart: "1" };
    writeFileSync(join(ledgerDir(host.stateDir), `${id}.json`), JSON.stringify(reused), { mode: 0o600 });
    expect((await runHelperBundle(host.env, query(id))).lines).toEqual([{ type: "ledger", entry: reused, running: false }]);
  });

  it("refuses a query whose id is not a ledger id, or any extra field", async () => {
    for (const input of [query("../../etc/passwd"), JSON.stringify({ query: "ledger", requestId: "act-0123456789ab", approval: null })]) {
      const r = await runHelperBundle(host.env, input);
      expect(r.lines.at(-1)).toMatchObject({ type: "refused", spawns: 0 });
    }
  });
});
