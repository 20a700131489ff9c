// `npm run demo` (= `hostward demo`): the README's main command runs end to end and tells the story
// it promises: fleet, MCP tools, diagnostics on one host and on *, a policy refusal, a refused bad
// input, an unreachable host reported (and the same call as a fleet summary), the audit chain
// verified, and nothing left running.
import { describe, expect, it } from "vitest";
import { alive, hostward } from "./cli";

describe("hostward demo", () => {
  it("runs the whole story and cleans up after itself", async () => {
    const r = await hostward(["demo"], { timeoutMs: 120_000 });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const t = r.stdout;
    const pids = [...t.matchAll(/127\.0\.0\.1:\d+ +pid (\d+)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(6);
    expect(t).toMatch(/server hostward [\d.]+; \d+ tools/);
    expect(t).toMatch(/> get_load \{"target":"\*"\}\n {2}local1 +ok +load [\d.]+/);
    expect(t).toMatch(/local2 +FAIL +POLICY_DENIED: test_connectivity is not allowed on local2/);
    expect(t).toMatch(/refused .*unit.*must not start with "-"/);
    expect(t).toMatch(/local3 +FAIL +UNAVAILABLE/);
    // The same call as a fleet summary: the stopped host named first, under its code.
    expect(t).toMatch(/> get_load \{"target":"\*","view":"summary"\}\n {2}3 hosts: 2 ok, 1 failed, 0 denied \(\d+ bytes\)\n {2}UNAVAILABLE +1: local3\n/);
    // The action workflow: refused while PENDING, approved by a human (the CLI), executed once by the
    // host's helper (which stops at its pre-check here: no systemd), never twice.
    expect(t).toMatch(/request act-[0-9a-f]+: PENDING, impact MEDIUM/);
    expect(t).toMatch(/is PENDING, not APPROVED/);
    expect(t).toMatch(/APPROVED act-[0-9a-f]+ by .* key SHA256:/);
    expect(t).toMatch(/verdict FAILED after \d+ ms\n {2}reason: systemd is not running on this host/);
    expect(t).toMatch(/is FAILED, not APPROVED/);
    expect(t).toMatch(/roll-out ro-[0-9a-f]{10}: PENDING; batches \[local1\] then \[local3\]/);
    expect(t).toMatch(/Roll-out ro-[0-9a-f]{10}: truncate_log - Empty a log file on 2 host\(s\) in 2 batch\(es\)/);
    expect(t).toMatch(/> get_rollout .*\n {2}HALTED: 1 GATE_FAILED, 1 UNTOUCHED\n {2}local1 +GATE_FAILED {2}check_http: status == 200, saw 503/);
    expect(t).toMatch(/why: the canary batch failed \(local1: GATE_FAILED\); stopped before batch 2\n {2}untouched: local3/);
    expect(t).toMatch(/\d+ records in .*audit\.jsonl; chain verified/);
    expect(t).toContain("local fleet stopped.");
    for (const pid of pids) expect(alive(pid)).toBe(false);
  }, 150_000);
});
