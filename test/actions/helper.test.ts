// The BUILT root helper (dist/agent/hostward-action.cjs) run as a child process in direct mode,
// with a temporary approvers directory, state directory and allowlist. Every refusal class has
// its own exit code, its own stdout "refused" line and an audit line on stderr with spawns: 0 —
// the helper's own count of the processes it started, which the positive control at the end
// proves is not stuck at 0.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { HELPER_EXIT } from "../../agent/src/helper/exit-codes";
import { approve, helperRequest, makeApprover, makeHost, runHelperBundle, runProcess, HELPER_BUNDLE, type Approver, type HostDirs } from "./support";
import { itAsRoot } from "../support/root";

let alice: Approver; // MEDIUM
let bob: Approver; // LOW
let host: HostDirs;

beforeAll(() => {
  alice = makeApprover("MEDIUM", "alice@laptop");
  bob = makeApprover("LOW", "bob@laptop");
  host = makeHost([alice, bob]);
});

const restart = (unit = "nginx.service") => ({ action: "restart_service", params: { unit }, impact: "MEDIUM" as const });

function expectRefused(run: Awaited<ReturnType<typeof runHelperBundle>>, code: string, exitCode: number) {
  expect(run.lines.at(-1)).toMatchObject({ type: "refused", code, exitCode, spawns: 0 });
  expect(run.lines.filter((l) => l.type === "output")).toEqual([]);
  expect(run.audit).toMatchObject({ audit: "hostward-action", event: "refused", code, exitCode, spawns: 0, mode: "direct" });
  expect(run.code).toBe(exitCode);
}

describe("invocation: arguments and environment", () => {
  it("refuses any argument (exit 64), before reading the request", async () => {
    const r = await runHelperBundle(host.env, helperRequest("restart_service", { unit: "nginx.service" }, approve(alice, restart())), ["restart_service"]);
    expectRefused(r, "USAGE", HELPER_EXIT.usage);
    expect(String(r.lines[0]?.reason)).toMatch(/takes no arguments \(got 1\)/);
  });

  it.each([
    ["LD_PRELOAD", ""],
    ["LD_LIBRARY_PATH", "/tmp"],
    ["NODE_OPTIONS", "--no-warnings"],
    ["NODE_PATH", "/tmp"],
  ])("refuses %s in the environment (exit 77)", async (name, value) => {
    const r = await runHelperBundle({ ...host.env, [name]: value }, helperRequest("restart_service", { unit: "nginx.service" }, approve(alice, restart())));
    expectRefused(r, "ENVIRONMENT", HELPER_EXIT.noPermission);
    expect(String(r.lines[0]?.reason)).toContain(`${name} can change what runs`);
  });

  it("refuses a PATH other than sudo's secure_path and an unexpected variable (exit 77)", async () => {
    const path = await runHelperBundle({ ...host.env, PATH: "/tmp:/usr/bin:/bin" }, "{}");
    expectRefused(path, "ENVIRONMENT", HELPER_EXIT.noPermission);
    expect(String(path.lines[0]?.reason)).toMatch(/PATH is "\/tmp:\/usr\/bin:\/bin"/);
    expectRefused(await runHelperBundle({ ...host.env, FOO: "1" }, "{}"), "ENVIRONMENT", HELPER_EXIT.noPermission);
  });

  itAsRoot("refuses direct-mode settings when run through sudo (SUDO_USER set): HOSTWARD_* are unexpected there", "in sudo mode the helper first requires its own bundle to be owned by root", async () => {
    const r = await runHelperBundle({ ...host.env, SUDO_USER: "hostward-operator", SUDO_UID: "996", SUDO_GID: "996", SUDO_COMMAND: "/usr/libexec/hostward/hostward-action" }, "{}");
    expect(r.code).toBe(HELPER_EXIT.noPermission);
    expect(String(r.lines[0]?.reason)).toMatch(/unexpected environment variables "HOSTWARD_ACTIONS_FILE"/);
    expect(r.audit).toMatchObject({ mode: "sudo", spawns: 0 });
  });

  it("refuses node flags on the command line (exit 77)", async () => {
    const r = await runProcess(process.execPath, ["--no-warnings", HELPER_BUNDLE], host.env, "{}");
    expectRefused(r, "ENVIRONMENT", HELPER_EXIT.noPermission);
  });
});

describe("request validation (exit 65)", () => {
  it.each([
    ["--force", /must not start with "-"/],
    ["-x.service", /must not start with "-"/],
    ["nginx;reboot", /unit name is not valid/],
    ["$(reboot).service", /unit name is not valid/],
    ["nginx service", /unit name is not valid/],
    ["a|b", /unit name is not valid/],
  ])("refuses unit %j and names the field", async (unit, message) => {
    const r = await runHelperBundle(host.env, helperRequest("restart_service", { unit }, approve(alice, { ...restart(), params: { unit } })));
    expectRefused(r, "BAD_REQUEST", HELPER_EXIT.badRequest);
    expect(String(r.lines[0]?.reason)).toMatch(/invalid argument "unit"/);
    expect(String(r.lines[0]?.reason)).toMatch(message);
  });

  it("refuses an unknown action, an extra parameter, non-JSON and an oversized request", async () => {
    expectRefused(await runHelperBundle(host.env, helperRequest("run_shell", { cmd: "id" })), "BAD_REQUEST", HELPER_EXIT.badRequest);
    const extra = await runHelperBundle(host.env, helperRequest("restart_service", { unit: "nginx.service", force: true }));
    expectRefused(extra, "BAD_REQUEST", HELPER_EXIT.badRequest);
    expectRefused(await runHelperBundle(host.env, "restart nginx"), "BAD_REQUEST", HELPER_EXIT.badRequest);
    const big = await runHelperBundle(host.env, JSON.stringify({ action: "rotate_logs", params: {}, pad: "x".repeat(70 * 1024) }));
    expectRefused(big, "BAD_REQUEST", HELPER_EXIT.badRequest);
    expect(String(big.lines[0]?.reason)).toMatch(/larger than 65536 bytes/);
  });
});

describe("allowlist and approval", () => {
  it("refuses a unit that is not on the allowlist (exit 66) before looking at the approval", async () => {
    const params = { unit: "ssh.service" };
    const r = await runHelperBundle(host.env, helperRequest("restart_service", params, approve(alice, { ...restart(), params })));
    expectRefused(r, "NOT_ALLOWLISTED", HELPER_EXIT.notAllowlisted);
    // "nginx.socket" is not a service: the catalog refuses it for a service action, naming the field.
    const socket = await runHelperBundle(host.env, helperRequest("restart_service", { unit: "nginx.socket" }));
    expectRefused(socket, "BAD_REQUEST", HELPER_EXIT.badRequest);
    expect(String(socket.lines[0]?.reason)).toMatch(/invalid argument "unit": unit is not a service/);
  });

  it("refuses reboot_system unless actions.yaml says reboot: true", async () => {
    const params = { delaySeconds: 60 };
    const approval = approve(makeApprover("HIGH"), { action: "reboot_system", params, impact: "HIGH" });
    expectRefused(await runHelperBundle(host.env, helperRequest("reboot_system", params, approval)), "NOT_ALLOWLISTED", HELPER_EXIT.notAllowlisted);
  });

  it("refuses without an approval (exit 80)", async () => {
    expectRefused(await runHelperBundle(host.env, helperRequest("restart_service", { unit: "nginx.service" })), "NO_APPROVAL", HELPER_EXIT.noApproval);
  });

  it("refuses an expired approval (exit 84)", async () => {
    const approval = approve(alice, { ...restart(), notAfter: Math.floor(Date.now() / 1000) - 5 });
    expectRefused(await runHelperBundle(host.env, helperRequest("restart_service", { unit: "nginx.service" }, approval)), "EXPIRED", HELPER_EXIT.expired);
  });

  it("refuses an approval for another host (exit 85)", async () => {
    const approval = approve(alice, { ...restart(), host: "db1.test" });
    expectRefused(await runHelperBundle(host.env, helperRequest("restart_service", { unit: "nginx.service" }, approval)), "OTHER_HOST", HELPER_EXIT.otherHost);
  });

  it("refuses an approval for other parameters (exit 87) and one whose signed fields were edited (exit 83)", async () => {
    const forUnbound = approve(alice, restart("unbound.service"));
    expectRefused(await runHelperBundle(host.env, helperRequest("restart_service", { unit: "nginx.service" }, forUnbound)), "ALTERED", HELPER_EXIT.altered);
    const edited = { ...approve(alice, restart("unbound.service")), parametersJson: '{"unit":"nginx.service"}' };
    expectRefused(await runHelperBundle(host.env, helperRequest("restart_service", { unit: "nginx.service" }, edited)), "BAD_SIGNATURE", HELPER_EXIT.badSignature);
  });

  it("refuses an approval for another action (exit 86)", async () => {
    // start_service has restart_service's impact (MEDIUM), so the signature checks out and the action is what differs.
    const approval = approve(alice, { action: "start_service", params: { unit: "nginx.service" }, impact: "MEDIUM" });
    expectRefused(await runHelperBundle(host.env, helperRequest("restart_service", { unit: "nginx.service" }, approval)), "OTHER_ACTION", HELPER_EXIT.otherAction);
  });

  it("refuses a key whose max-impact is too low for the action (exit 88) and a key that is not an approver (exit 82)", async () => {
    // bob's key is LOW; restart_service is MEDIUM (the impact comes from the helper's catalog, not the request).
    expectRefused(await runHelperBundle(host.env, helperRequest("restart_service", { unit: "nginx.service" }, approve(bob, { ...restart(), impact: "LOW" }))), "BAD_SIGNATURE", HELPER_EXIT.badSignature);
    expectRefused(await runHelperBundle(host.env, helperRequest("restart_service", { unit: "nginx.service" }, approve(bob, restart()))), "IMPACT_TOO_HIGH", HELPER_EXIT.impactTooHigh);
    const stranger = makeApprover("HIGH", "mallory");
    expectRefused(await runHelperBundle(host.env, helperRequest("restart_service", { unit: "nginx.service" }, approve(stranger, restart()))), "UNKNOWN_KEY", HELPER_EXIT.unknownKey);
  });

  it("ignores an approver file writable by others, and refuses when no valid approver remains (exit 78)", async () => {
    const { chmodSync } = await import("node:fs");
    const lonely = makeHost([alice]);
    chmodSync(join(lonely.approversDir, "key0.pub"), 0o666);
    const r = await runHelperBundle(lonely.env, helperRequest("restart_service", { unit: "nginx.service" }, approve(alice, restart())));
    expectRefused(r, "CONFIG", HELPER_EXIT.config);
    expect(String(r.lines[0]?.reason)).toMatch(/writable by group or others/);
  });
});

describe("a valid approval on this host (no systemd here)", () => {
  it("runs the pre-check, reports FAILED 'systemd is not running on this host', and a replay is refused (exit 89)", async () => {
    const approval = approve(alice, restart());
    const input = helperRequest("restart_service", { unit: "nginx.service" }, approval);
    const startedMicros = Date.now() * 1000;
    const first = await runHelperBundle(host.env, input);
    const endedMicros = (Date.now() + 1) * 1000;
    expect(first.lines.filter((l) => l.type === "output").map((l) => l.line)).toEqual(["pre-check: systemd is not running (/run/systemd/system is missing)"]);
    // Each output line carries when the helper had it: µs since the Unix epoch, during this run.
    for (const l of first.lines.filter((x) => x.type === "output")) {
      expect(Number.isSafeInteger(l.at), JSON.stringify(l)).toBe(true);
      expect(Number(l.at)).toBeGreaterThanOrEqual(startedMicros);
      expect(Number(l.at)).toBeLessThanOrEqual(endedMicros);
    }
    expect(first.lines.at(-1)).toMatchObject({ type: "result", verdict: "FAILED", reason: "systemd is not running on this host", before: null, after: null, spawns: 0 });
    expect(first.audit).toMatchObject({ event: "executed", verdict: "FAILED", action: "restart_service", params: { unit: "nginx.service" }, keyId: alice.keyId, requester: "claude@workstation", spawns: 0 });
    expect(first.code).toBe(HELPER_EXIT.failed);
    expect(readdirSync(join(host.stateDir, "nonces"))).toContain(approval.nonce);

    expectRefused(await runHelperBundle(host.env, input), "REPLAYED", HELPER_EXIT.replayed);
  });

  itAsRoot("positive control for the spawn count: with /run/systemd/system present (private mount namespace) systemctl runs on a pty and is counted", "unshare -m and a tmpfs mount over /run", async () => {
    expect(existsSync("/usr/bin/unshare")).toBe(true);
    const approval = approve(alice, restart());
    const envArgs = Object.entries(host.env).map(([k, v]) => `${k}=${v}`);
    // A tmpfs over /run in a new mount namespace: the host's /run is untouched.
    const script = 'mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system && exec /usr/bin/env -i "$@"';
    const r = await runProcess("/usr/bin/unshare", ["--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", ...envArgs, process.execPath, HELPER_BUNDLE], { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" }, helperRequest("restart_service", { unit: "nginx.service" }, approval));
    // systemctl finds no systemd to talk to: the helper's preview of the unit (recomputed before
    // anything runs) fails, so the action is refused, after systemctl ran once and was counted.
    const result = r.lines.at(-1);
    expect(result).toMatchObject({ type: "refused", code: "BAD_REQUEST" });
    expect(String(result?.reason)).toMatch(/systemctl show nginx\.service failed/);
    expect(Number(result?.spawns)).toBeGreaterThanOrEqual(1);
    expect(Number(r.audit?.spawns)).toBeGreaterThanOrEqual(1);
  });
});

describe("M-of-N: a host that requires two approver keys (actions.yaml approvals.required)", () => {
  const ALLOW_TWO = "units: [nginx.service, unbound.service]\ncontainers: [web]\nreboot: true\napprovals:\n  required:\n    MEDIUM: 2\n";
  let carol: Approver;
  let dave: Approver;
  let two: HostDirs;
  beforeAll(() => {
    carol = makeApprover("MEDIUM", "carol@laptop");
    dave = makeApprover("HIGH", "dave@laptop");
    two = makeHost([carol, dave, bob], ALLOW_TWO);
  });

  it("one signature is refused TOO_FEW_APPROVALS (exit 94) without using the approval; with a second key over the same statement it runs, once", async () => {
    const nonce = "7".repeat(32);
    const single = approve(carol, { ...restart(), nonce, id: "req-two" });
    const refused = await runHelperBundle(two.env, helperRequest("restart_service", { unit: "nginx.service" }, single));
    expectRefused(refused, "TOO_FEW_APPROVALS", HELPER_EXIT.tooFewApprovals);
    expect(String(refused.lines.at(-1)?.reason)).toMatch(/MEDIUM actions need 2 distinct approvers on this host/);
    expect(readdirSync(join(two.stateDir, "nonces"))).not.toContain(nonce);
    // The same statement, now cosigned by dave: past every approval check (the pre-check then finds no systemd here).
    const both = approve(carol, { ...restart(), nonce, id: "req-two", issuedAt: Number(single.issuedAtUnix), notAfter: Number(single.notAfterUnix), cosigners: [dave] });
    const ran = await runHelperBundle(two.env, helperRequest("restart_service", { unit: "nginx.service" }, both));
    expect(ran.lines.at(-1)).toMatchObject({ type: "result", verdict: "FAILED", reason: "systemd is not running on this host" });
    expect(ran.audit).toMatchObject({ event: "executed", keyId: carol.keyId, cosigners: [dave.keyId] });
    expectRefused(await runHelperBundle(two.env, helperRequest("restart_service", { unit: "nginx.service" }, both)), "REPLAYED", HELPER_EXIT.replayed);
  });

  it("HIGH needs two keys by default here too; a LOW cosigner does not count (IMPACT_TOO_HIGH)", async () => {
    const params = { delaySeconds: 60 };
    expectRefused(await runHelperBundle(two.env, helperRequest("reboot_system", params, approve(dave, { action: "reboot_system", params, impact: "HIGH" }))), "TOO_FEW_APPROVALS", HELPER_EXIT.tooFewApprovals);
    expectRefused(
      await runHelperBundle(two.env, helperRequest("restart_service", { unit: "nginx.service" }, approve(carol, { ...restart(), cosigners: [bob] }))),
      "IMPACT_TOO_HIGH",
      HELPER_EXIT.impactTooHigh,
    );
  });

  it("four eyes: a key with identity=\"NAME\" does not approve NAME's own request (exit 95)", async () => {
    const erin = makeApprover("MEDIUM", "erin@laptop");
    erin.line = erin.line.replace('max-impact="MEDIUM"', 'max-impact="MEDIUM",identity="erin"');
    const own = makeHost([erin, carol], ALLOW_TWO);
    const approval = approve(erin, { ...restart(), requester: "erin", cosigners: [carol] });
    expectRefused(await runHelperBundle(own.env, helperRequest("restart_service", { unit: "nginx.service" }, approval)), "SELF_APPROVAL", HELPER_EXIT.selfApproval);
  });
});
