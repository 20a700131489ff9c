// Issue 11, deliverable 1: an approval executes at most once on a host, for ever — across helper
// restarts (every run here is a new process), clock steps forward and back by up to a day, the
// helper's state removed (what `apt purge` + reinstall does), re-enrolment with a new certificate,
// concurrent runs and a full disk; expiry is judged so that a host whose clock is behind does not
// extend an approval, a skew beyond the host's bound is refused naming it, and an approval valid
// for longer than the host's maximum lifetime is refused.
//
// The BUILT helper runs in direct mode (as the operator agent runs it on a local fleet). Time is
// shifted with the helper's test seam HOSTWARD_CLOCK_OFFSET_SECONDS (direct mode only; through sudo
// it is refused like every HOSTWARD_* variable, test/actions/guard.test.ts): the helper scrubs its
// environment, so libfaketime cannot reach it. Each case names what the helper before this issue
// did (pruned nonces by the wall clock, judged expiry by the wall clock, kept no record of when its
// store began, bound no host key): each assertion below fails against that helper.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { HELPER_EXIT } from "../../agent/src/helper/exit-codes";
import {
  approve,
  DEFAULT_ALLOWLIST,
  HELPER_BUNDLE,
  hostCertificate,
  helperRequest,
  makeApprover,
  makeHost,
  runHelperBundle,
  runProcess,
  type Approver,
  type HelperRun,
  type HostDirs,
} from "./support";

const DAY = 86_400;
const params = { unit: "nginx.service" };
const now = () => Math.floor(Date.now() / 1000);

let alice: Approver;
let host: HostDirs;

beforeEach(() => {
  alice ??= makeApprover("MEDIUM", "alice@laptop");
  // Installed (its store created) a week ago.
  host = makeHost([alice], DEFAULT_ALLOWLIST, undefined, now() - 7 * DAY);
});

/** The helper at the host's clock shifted by `offset` seconds. */
function run(approval: ReturnType<typeof approve>, offset = 0, h: HostDirs = host): Promise<HelperRun> {
  const env = offset === 0 ? h.env : { ...h.env, HOSTWARD_CLOCK_OFFSET_SECONDS: String(offset) };
  return runHelperBundle(env, helperRequest("restart_service", params, approval));
}

const restart = (over: Partial<Parameters<typeof approve>[1]> = {}) => approve(alice, { action: "restart_service", params, impact: "MEDIUM", ...over });

/** It ran: the pre-check line (this machine has no systemd) and an "executed" audit line. */
function expectRan(r: HelperRun): void {
  expect(r.audit, r.stderr).toMatchObject({ event: "executed", action: "restart_service" });
  expect(r.lines.at(-1)).toMatchObject({ type: "result" });
  expect(r.code).toBe(HELPER_EXIT.failed); // FAILED: "systemd is not running on this host"
}

/** Refused before anything ran, with this code; returns the reason. */
function expectRefused(r: HelperRun, code: string, reason?: RegExp): string {
  expect(r.lines.at(-1), r.stderr).toMatchObject({ type: "refused", code, spawns: 0 });
  expect(r.lines.filter((l) => l.type === "output")).toEqual([]);
  expect(r.audit).toMatchObject({ event: "refused", code, spawns: 0 });
  const text = String(r.lines.at(-1)?.reason);
  if (reason) expect(text).toMatch(reason);
  return text;
}

/** The lag a CLOCK_SKEW refusal names ("at least N s behind"): the test's own clock readings are seconds apart under load. */
function namedLag(reason: string): number {
  return Number(/at least (\d+) s behind the approver's/.exec(reason)?.[1]);
}

function clockState(h: HostDirs = host): { floor: number; highWater: number } {
  return JSON.parse(readFileSync(join(h.stateDir, "clock.json"), "utf8")) as { floor: number; highWater: number };
}

describe("one approval runs once", () => {
  it("across helper restarts: every run is a new process, the record is on disk", async () => {
    const a = restart();
    expectRan(await run(a));
    expectRefused(await run(a), "REPLAYED", /was already used: an approval runs once/);
    expectRefused(await run(a), "REPLAYED");
  });

  it("when several helpers get the same approval at once: exactly one runs", async () => {
    const a = restart();
    const runs = await Promise.all(Array.from({ length: 6 }, () => run(a)));
    expect(runs.filter((r) => r.audit?.event === "executed")).toHaveLength(1);
    expect(runs.filter((r) => r.lines.at(-1)?.code === "REPLAYED")).toHaveLength(5);
  });
});

describe("the clock steps forward and back", () => {
  it("forward a day (nonces pruned) then back: the used approval is not revived (the old helper ran it again)", async () => {
    const a = restart();
    expectRan(await run(a));
    // A day ahead (with an approver whose clock is a day ahead too): a run prunes the records of
    // approvals expired by then, A's included.
    expectRan(await run(restart({ issuedAt: now() + DAY, notAfter: now() + DAY + 600 }), DAY));
    expect(existsSync(join(host.stateDir, "nonces", a.nonce))).toBe(false);
    expect(clockState().highWater).toBeGreaterThanOrEqual(now() + DAY - 5);
    // Back to the real time: A is still judged by the latest time the helper has seen.
    expectRefused(await run(a, 0), "EXPIRED", /expired at .*this host's wall clock reads .*behind the latest time this helper has seen/);
    expect(readFileSync(join(host.stateDir, "clock.json"), "utf8")).toMatch(/"highWater"/);
  });

  it("back a day: an approval that expired in the meantime stays expired (the old helper judged by the wall clock)", async () => {
    // Signed a day ago, valid for ten minutes then; never used.
    const old = restart({ issuedAt: now() - DAY - 60, notAfter: now() - DAY + 600 });
    expectRan(await run(restart())); // the helper has seen the real time
    expectRefused(await run(old, -DAY), "EXPIRED", /behind the latest time this helper has seen/);
  });

  it("a host whose clock is behind does not extend an approval: expiry is judged with the allowed skew", async () => {
    // Expired 30 s ago in real time; the host's clock lags 100 s (within the default 120 s).
    const lapsed = restart({ issuedAt: now() - 600, notAfter: now() - 30 });
    expectRefused(await run(lapsed, -100), "EXPIRED", /plus the 120 s of clock error this host allows/);
    // A current approval on the same lagging host runs.
    expectRan(await run(restart(), -100));
  });

  it("a lag beyond the bound is refused, naming it", async () => {
    const reason = expectRefused(await run(restart(), -3600), "CLOCK_SKEW", /this host's clock is at least \d+ s behind the approver's, more than the 120 s it allows/);
    expect(namedLag(reason)).toBeGreaterThan(3500);
    expect(namedLag(reason)).toBeLessThanOrEqual(3600);
  });

  it("the bound and the maximum lifetime are the host's settings (actions.yaml approvals:)", async () => {
    const h = makeHost([alice], `${DEFAULT_ALLOWLIST}approvals:\n  maxClockSkewSeconds: 300\n  maxLifetimeSeconds: 600\n`);
    expectRan(await run(restart({ notAfter: now() + 500 }), -290, h)); // a lag of 290 s is within this host's 300 s
    // (on another host: this one has seen the later time, which it judges by now)
    const lagging = makeHost([alice], `${DEFAULT_ALLOWLIST}approvals:\n  maxClockSkewSeconds: 300\n  maxLifetimeSeconds: 600\n`, undefined, now() - DAY);
    const reason = expectRefused(await run(restart(), -400, lagging), "CLOCK_SKEW", /more than the 300 s it allows/);
    expect(namedLag(reason)).toBeGreaterThan(300);
    expect(namedLag(reason)).toBeLessThanOrEqual(400);
    expectRefused(await run(restart({ notAfter: now() + 900 }), 0, h), "LIFETIME", /longer than this host's maximum of 600 s/);
    // Settings that would refuse every approval are a configuration error.
    const bad = makeHost([alice], `${DEFAULT_ALLOWLIST}approvals:\n  maxClockSkewSeconds: 600\n  maxLifetimeSeconds: 600\n`);
    expectRefused(await run(restart(), 0, bad), "CONFIG", /maxClockSkewSeconds must be less than maxLifetimeSeconds/);
  });
});

describe("lifetime", () => {
  it("an approval whose notAfter lies further ahead than the host's maximum (default 3600 s) is refused", async () => {
    expectRefused(await run(restart({ notAfter: now() + 2 * 3600 })), "LIFETIME", /longer than this host's maximum of 3600 s/);
    // Backdating issuedAt does not help: notAfter − now is bounded as well.
    expectRefused(await run(restart({ issuedAt: now() - 3500, notAfter: now() + 3500 })), "LIFETIME");
    expectRan(await run(restart({ notAfter: now() + 3000 })));
  });
});

describe("the helper's state lost (purge + reinstall) and re-enrolment", () => {
  it("state removed: an approval signed before the new record began is refused (the old helper ran it again)", async () => {
    const a = restart({ issuedAt: now() - 2 });
    expectRan(await run(a));
    const before = clockState().floor;
    rmSync(host.stateDir, { recursive: true, force: true }); // what `apt purge` does to /var/lib/hostward
    const r = await run(a);
    expectRefused(r, "STALE", /before this host's record of used approvals began .*propose the action again/);
    expect(r.audit?.warnings).toEqual(expect.arrayContaining([expect.stringMatching(/started a new record of used approvals/)]));
    expect(clockState().floor).toBeGreaterThanOrEqual(before);
    // An approval signed after the new record began runs.
    await new Promise((res) => setTimeout(res, 1100));
    expectRan(await run(restart()));
  });

  it("re-enrolled with a new certificate (new key): approvals for the old key are refused, naming both keys", async () => {
    const a = restart();
    expectRan(await run(a));
    const reenrolled = await hostCertificate(); // same name, new key
    writeFileSync(host.agentCert, reenrolled.cert);
    rmSync(host.stateDir, { recursive: true, force: true });
    const r = await run(a);
    expectRefused(r, "OTHER_HOST", /approval is for the host key sha256:[0-9a-f]{64}, but this host's operator certificate has the key sha256:[0-9a-f]{64} \(the host was re-enrolled/);
    expect(String(r.lines.at(-1)?.reason)).toContain(reenrolled.fingerprint);
    // Approvals for the new key run.
    expectRan(await run(restart({ hostKey: reenrolled.fingerprint })));
  });

  it("records removed but the clock kept: refused until an administrator resets both", async () => {
    expectRan(await run(restart()));
    rmSync(join(host.stateDir, "nonces"), { recursive: true, force: true });
    expectRefused(await run(restart()), "CONFIG", /record of used approvals .*nonces is missing, but .*clock\.json says it began at/);
  });

  it("a damaged clock is refused, with the way out", async () => {
    expectRan(await run(restart()));
    writeFileSync(join(host.stateDir, "clock.json"), '{"v":1,"floor":5}\n', { mode: 0o600 });
    expectRefused(await run(restart()), "CONFIG", /clock\.json is damaged; remove it to start a new record/);
  });
});

describe("a full disk", () => {
  it("when the record cannot be written nothing runs, and the approval still runs once afterwards", async () => {
    const a = restart();
    const envArgs = Object.entries(host.env).map(([k, v]) => `${k}=${v}`);
    // A private mount namespace: a 32 KiB tmpfs over the state directory, filled up, for this run only.
    const script = `mkdir -p "$STATE" && mount -t tmpfs -o size=32k,mode=0700 tmpfs "$STATE" && (dd if=/dev/zero of="$STATE/fill" bs=4k count=64 2>/dev/null || true) && exec /usr/bin/env -i "$@"`;
    const full = await runProcess(
      "/usr/bin/unshare",
      ["--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", ...envArgs, process.execPath, HELPER_BUNDLE],
      { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", STATE: host.stateDir },
      helperRequest("restart_service", params, a),
    );
    expectRefused(full, "CONFIG", /cannot record .*ENOSPC/);
    expect(full.code).toBe(HELPER_EXIT.config);
    // With space again (the tmpfs is gone with its namespace) the approval runs, once.
    expectRan(await run(a));
    expectRefused(await run(a), "REPLAYED");
  });
});
