// `hostward approve` / `reject` / `actions` and `pki approver-key`, through the BUILT CLI with no
// terminal: it shows exactly what will run, refuses to approve without a TTY unless --yes, and its
// signature verifies (our verifier and the real `ssh-keygen -Y verify`).
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson, canonicalStatement, parseApproverLine, previewDigest, parseOpenSshPublicKey, verifySshSig } from "../../../proto/catalog/approval";
import { flushDnsCache, restartService } from "../../../proto/catalog/actions/index";
import { commandLine, renderPlan } from "../../../proto/catalog/define-action";
import { previewSummary } from "../../../proto/catalog/preview-summary";
import { ActionStore } from "../../../broker/src/actions/store";
import { BROKER_BUNDLE, type BrokerDir } from "../helpers/broker-dir";
import { brokerDir, pendingRequest, runCli, TEST_HOST_KEY, TEST_PREVIEW, type CliRun } from "./cli-support";

/** What a host running unbound would report for flush_dns_cache. */
const flushPreview = { action: "flush_dns_cache", facts: { systemd: true, resolver: "unbound.service", paths: { "unbound-control": "/usr/sbin/unbound-control" } }, summary: ["flushes the cache of unbound.service"] };

let root: string;
let bd: BrokerDir;
let env: Record<string, string>;
let keyFile: string;
let approverLine: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "hw-approve-"));
  bd = brokerDir(root);
  env = { HOME: root };
  const made = await runCli(["pki", "approver-key", "alice", "--max-impact", "MEDIUM", "--out", join(root, "keys")], env);
  expect(made.code, made.stderr).toBe(0);
  keyFile = join(root, "keys", "alice");
  approverLine = made.stdout.trim();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("hostward pki approver-key", () => {
  it("writes an OpenSSH key pair and prints the host's approver line", () => {
    expect(approverLine).toMatch(/^max-impact="MEDIUM" ssh-ed25519 AAAA\S+ alice$/);
    const approver = parseApproverLine(approverLine);
    expect(approver.maxImpact).toBe("MEDIUM");
    expect(readFileSync(keyFile, "utf8")).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(root, "keys", "alice.approver"), "utf8").trim()).toBe(approverLine);
    // The real ssh-keygen reads the private key and derives the same public key.
    const derived = execFileSync("ssh-keygen", ["-y", "-f", keyFile], { encoding: "utf8" }).trim();
    expect(derived.split(" ").slice(0, 2)).toEqual(readFileSync(join(root, "keys", "alice.pub"), "utf8").trim().split(" ").slice(0, 2));
  });

  it("never overwrites an existing key", async () => {
    const again = await runCli(["pki", "approver-key", "alice", "--out", join(root, "keys")], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already exists");
  });
});

describe("hostward approve --key without a terminal", () => {
  it("shows what will run, and refuses without --yes (nothing changes)", async () => {
    const r = await pendingRequest(bd);
    const run = await runCli(["approve", r.id, "--key", keyFile, "--config", bd.dir], env, "y\n");
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("no terminal to confirm on");
    const runs = renderPlan(restartService, { unit: "nginx.service" }, TEST_PREVIEW.facts, { requestId: r.id }).map(commandLine);
    expect(runs.some((l) => l.includes("systemctl restart") && l.endsWith("-- nginx.service"))).toBe(true);
    for (const expected of [r.id, "host:      web1", "restart_service", '{"unit":"nginx.service"}', "impact:    MEDIUM", ...runs, "expires:"]) {
      expect(run.stdout).toContain(expected);
    }
    expect((await new ActionStore(bd.stateDir).get(r.id))!.state).toBe("PENDING");
  });

  it("with --yes: signs the canonical statement; the signature verifies, also with ssh-keygen -Y verify", async () => {
    const r = await pendingRequest(bd);
    const run = await runCli(["approve", r.id, "--key", keyFile, "--yes", "--config", bd.dir], env);
    expect(run.code, run.stderr).toBe(0);
    for (const line of [...TEST_PREVIEW.summary, ...renderPlan(restartService, { unit: "nginx.service" }, TEST_PREVIEW.facts, { requestId: r.id }).map(commandLine)]) expect(run.stdout).toContain(line);
    expect(run.stdout).toContain(`APPROVED ${r.id}`);
    const stored = (await new ActionStore(bd.stateDir).get(r.id))!;
    expect(stored.state).toBe("APPROVED");
    const approval = stored.approval!;
    expect(approval.via).toBe("cli");
    expect(approval.statement).toMatchObject({ v: 3, previewHash: previewDigest(canonicalJson(TEST_PREVIEW)), id: r.id, host: "localhost", hostKey: TEST_HOST_KEY, action: "restart_service", params: { unit: "nginx.service" }, impact: "MEDIUM", notAfter: r.expiresAt });
    const pub = parseOpenSshPublicKey(readFileSync(join(root, "keys", "alice.pub"), "utf8"));
    expect(approval.keyId).toBe(pub.keyId);
    const message = canonicalStatement(approval.statement);
    expect(verifySshSig(approval.signature, message, [pub])).toMatchObject({ ok: true });
    // An altered statement does not verify.
    expect(verifySshSig(approval.signature, canonicalStatement({ ...approval.statement, params: { unit: "sshd.service" } }), [pub]).ok).toBe(false);
    // Interoperability: OpenSSH's own verifier accepts it.
    const signers = join(root, "allowed_signers");
    writeFileSync(signers, `alice ${readFileSync(join(root, "keys", "alice.pub"), "utf8").trim()}\n`);
    const sigFile = join(root, "approval.sig");
    writeFileSync(sigFile, approval.signature);
    const out = execFileSync("ssh-keygen", ["-Y", "verify", "-f", signers, "-I", "alice", "-n", "hostward-approval", "-s", sigFile], { input: message, encoding: "utf8" });
    expect(out).toContain('Good "hostward-approval" signature for alice');
    // The audit chain has the approval with its code.
    const rec = bd.audit().find((x) => x.event === "action.approved" && x.actionId === r.id);
    expect(rec).toMatchObject({ code: "HW1101", via: "cli", keyId: pub.keyId });
  });

  it("approves a PENDING request once; an APPROVED one takes another approver's signature over the same statement, each key once", async () => {
    const r = await pendingRequest(bd);
    expect((await runCli(["approve", r.id, "--key", keyFile, "--yes", "--config", bd.dir], env)).code).toBe(0);
    const again = await runCli(["approve", r.id, "--key", keyFile, "--yes", "--config", bd.dir], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/not signed: action act-\w+ is already signed by the key SHA256:\S+: each approver key signs once/);
    // Bob, a second approver (M-of-N: a host may require two keys for an impact).
    const bobMade = await runCli(["pki", "approver-key", "bob", "--max-impact", "HIGH", "--out", join(root, "keys")], env);
    expect(bobMade.code, bobMade.stderr).toBe(0);
    const second = await runCli(["approve", r.id, "--key", join(root, "keys", "bob"), "--yes", "--config", bd.dir], env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/signed 1: SHA256:\S+ by .* \(cli\) at /);
    expect(second.stdout).toMatch(/SIGNED act-\w+ by .*: 2 signatures/);
    const stored = (await new ActionStore(bd.stateDir).get(r.id))!;
    expect(stored.state).toBe("APPROVED");
    expect(stored.approval!.cosignatures).toHaveLength(1);
    const bob = parseOpenSshPublicKey(readFileSync(join(root, "keys", "bob.pub"), "utf8"));
    expect(stored.approval!.cosignatures![0]!.keyId).toBe(bob.keyId);
    // Over the very statement the first approver signed.
    expect(verifySshSig(stored.approval!.cosignatures![0]!.signature, canonicalStatement(stored.approval!.statement), [bob]).ok).toBe(true);
    expect(bd.audit().find((x) => x.event === "action.cosigned" && x.actionId === r.id)).toMatchObject({ code: "HW1110", keyId: bob.keyId, signatures: 2 });
    const third = await runCli(["approve", r.id, "--key", join(root, "keys", "bob"), "--yes", "--config", bd.dir], env);
    expect(third.code).toBe(1);
    expect(third.stderr).toContain("already signed by the key");
  });

  it("accepts a key made by the real ssh-keygen", async () => {
    const file = join(root, "ssh-keygen-key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "bob@laptop", "-f", file]);
    const r = await pendingRequest(bd);
    const run = await runCli(["approve", r.id, "--key", file, "--yes", "--config", bd.dir], env);
    expect(run.code, run.stderr).toBe(0);
    const stored = (await new ActionStore(bd.stateDir).get(r.id))!;
    expect(verifySshSig(stored.approval!.signature, canonicalStatement(stored.approval!.statement), [parseOpenSshPublicKey(readFileSync(`${file}.pub`, "utf8"))]).ok).toBe(true);
  });

  it("needs exactly one of --key or --agent", async () => {
    const r = await pendingRequest(bd);
    expect((await runCli(["approve", r.id, "--yes", "--config", bd.dir], env)).code).toBe(2);
  });
});

describe("hostward approve on a terminal", () => {
  // A real pseudo-terminal from util-linux `script` (bsdutils, Essential on Debian): the y/N prompt.
  /** `whileAsked` runs when the y/N prompt is on the screen, before the answer is typed. */
  function onTty(id: string, answer: string, whileAsked: () => void = () => undefined): Promise<CliRun> {
    const cmd = [process.execPath, BROKER_BUNDLE, "approve", id, "--key", keyFile, "--config", bd.dir].join(" ");
    return new Promise((resolve) => {
      const child = spawn("script", ["-qec", cmd, "/dev/null"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: root, SHELL: "/bin/sh" }, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let answered = false;
      // The CLI may exit before the pipe is drained: a late write must not become an EPIPE.
      child.stdin.on("error", () => undefined);
      child.stdout.on("data", (c: Buffer) => {
        stdout += c.toString();
        if (!answered && stdout.includes("[y/N]")) {
          answered = true;
          whileAsked();
          child.stdin.write(`${answer}\r`);
        }
      });
      const kill = setTimeout(() => child.kill("SIGKILL"), 20_000);
      child.on("exit", (code) => {
        clearTimeout(kill);
        resolve({ code, stdout, stderr: "" });
      });
    });
  }

  it("asks y/N: y approves, anything else changes nothing", async () => {
    const no = await pendingRequest(bd);
    const refused = await onTty(no.id, "n");
    expect(refused.stdout).toContain("Not approved (nothing changed).");
    expect((await new ActionStore(bd.stateDir).get(no.id))!.state).toBe("PENDING");
    const yes = await pendingRequest(bd);
    const approved = await onTty(yes.id, "y");
    expect(approved.code, approved.stdout).toBe(0);
    expect(approved.stdout).toContain(`APPROVED ${yes.id}`);
    expect((await new ActionStore(bd.stateDir).get(yes.id))!.state).toBe("APPROVED");
  });

  it("signs exactly the request it showed: one changed while the human read it is not signed (issue 11)", async () => {
    const r = await pendingRequest(bd);
    const file = join(bd.stateDir, "actions", `${r.id}.json`);
    const swapped = await onTty(r.id, "y", () => {
      // Whoever can write the broker's state (a compromised broker, a race) swaps the parameters.
      const stored = JSON.parse(readFileSync(file, "utf8")) as { params: Record<string, unknown> };
      writeFileSync(file, JSON.stringify({ ...stored, params: { unit: "sshd.service" } }, null, 2));
    });
    expect(swapped.code, swapped.stdout).toBe(1);
    expect(swapped.stdout).toContain('"unit":"nginx.service"'); // what the human was shown
    expect(swapped.stdout).toMatch(/not approved: action act-[0-9a-f]+ changed after it was shown \(params\); nothing was signed/);
    const after = (await new ActionStore(bd.stateDir).get(r.id))!;
    expect(after.state).toBe("PENDING");
    expect(after.approval).toBeUndefined();
  });
});

describe("hostward reject and actions", () => {
  it("reject makes a PENDING request REJECTED (audited); actions list/show report it", async () => {
    const r = await pendingRequest(bd, { action: "flush_dns_cache", params: {}, impact: "LOW", preview: flushPreview });
    const run = await runCli(["reject", r.id, "--reason", "not now", "--config", bd.dir], env);
    expect(run.code, run.stderr).toBe(0);
    const stored = (await new ActionStore(bd.stateDir).get(r.id))!;
    expect(stored).toMatchObject({ state: "REJECTED", rejection: { reason: "not now", via: "cli" } });
    expect(bd.audit().find((x) => x.event === "action.rejected" && x.actionId === r.id)).toMatchObject({ code: "HW1102" });
    // A rejected request cannot be approved.
    expect((await runCli(["approve", r.id, "--key", keyFile, "--yes", "--config", bd.dir], env)).code).toBe(1);

    const list = await runCli(["actions", "list", "--state", "REJECTED", "--config", bd.dir], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(r.id);
    const show = await runCli(["actions", "show", r.id, "--config", bd.dir], env);
    for (const line of renderPlan(flushDnsCache, {}, flushPreview.facts, { requestId: r.id }).map(commandLine)) expect(show.stdout).toContain(line);
    expect(show.stdout).toContain('"state": "REJECTED"');
  });

  it("escapes control characters in what the requester wrote", async () => {
    const r = await pendingRequest(bd, { reason: "fix\u001b[2J\u001b[Hnothing to see\nhere" });
    const show = await runCli(["actions", "show", r.id, "--config", bd.dir], env);
    expect(show.stdout).not.toContain("\u001b");
    expect(show.stdout).toContain("fix\\u001b[2J");
  });

  it("escapes bidi overrides and marks, zero-width and tag characters everywhere it prints (show, list), the same way", async () => {
    const hidden = "ok\u202eexe.txt\u200e\u200f\u061c\u200b\u2060\ufeff\u{e0041}\u{e0042}";
    const r = await pendingRequest(bd, { reason: hidden, requester: "mcp:stdio:\u202eclaude" });
    const show = await runCli(["actions", "show", r.id, "--config", bd.dir], env);
    const list = await runCli(["actions", "list", "--config", bd.dir], env);
    for (const out of [show.stdout, list.stdout]) expect(out).toMatch(/^[\u0020-\u007e\n\u2264]*$/); // nothing but printable ASCII (and the catalog's "≤")
    expect(show.stdout).toContain("ok\\u202eexe.txt\\u200e\\u200f\\u061c\\u200b\\u2060\\ufeff\\udb40\\udc41\\udb40\\udc42");
    expect(show.stdout).toContain("requester: mcp:stdio:\\u202eclaude");
  });

  it("a reason cannot be laid out to look like the request's own fields: it comes last, fenced, in short lines", async () => {
    const forged = `restarting as agreed.${" ".repeat(60)}  params:    {"unit":"sshd.service"}\n  impact:    LOW`;
    const r = await pendingRequest(bd, { reason: forged });
    const show = await runCli(["actions", "show", r.id, "--config", bd.dir], env);
    const summary = show.stdout.slice(0, show.stdout.indexOf("\n{"));
    const lines = summary.split("\n");
    // Exactly one params line and one impact line, the real ones, before the reason.
    expect(lines.filter((l) => /^\s*params:/.test(l))).toEqual(['  params:    {"unit":"nginx.service"}']);
    expect(lines.filter((l) => /^\s*impact:/.test(l))).toEqual(["  impact:    MEDIUM"]);
    const fence = lines.findIndex((l) => l.startsWith("  reason given by the requester"));
    expect(fence).toBeGreaterThan(lines.findIndex((l) => l.startsWith("  runs on the host")));
    const reason = lines.slice(fence + 1).filter((l) => l !== "");
    expect(reason.length).toBeGreaterThan(1);
    for (const l of reason) {
      expect(l.startsWith("    > ")).toBe(true);
      expect(l.length).toBeLessThanOrEqual(6 + 64);
    }
    expect(reason.map((l) => l.slice(6)).join("")).toContain("\\u000a  impact:    LOW"); // the newline is shown escaped, inside the fence
  });
});

describe("what it touches: rendered from the host's facts, never the host's own text", () => {
  /** The stored request file, rewritten (what a compromised operator agent or a tampered state directory would give). */
  function rewriteStored(id: string, change: (r: { preview: { facts: Record<string, unknown>; summary: string[] } }) => void): void {
    const file = join(bd.stateDir, "actions", `${id}.json`);
    const r = JSON.parse(readFileSync(file, "utf8")) as { preview: { facts: Record<string, unknown>; summary: string[] } };
    change(r);
    writeFileSync(file, JSON.stringify(r));
  }

  it("a summary altered with the facts unchanged is not shown, and the request cannot be approved (nothing is signed)", async () => {
    const r = await pendingRequest(bd);
    rewriteStored(r.id, (x) => {
      x.preview.summary[0] = "nginx.service: inactive/dead, nobody uses it";
    });
    const show = await runCli(["actions", "show", r.id, "--config", bd.dir], env);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain("(the host's impact preview is refused: its summary is not the text its facts render to: line 1 reads \"nginx.service: inactive/dead, nobody uses it\"");
    expect(show.stdout).toContain("it cannot be approved; propose it again)");
    expect(show.stdout).not.toContain("what it touches");
    expect(show.stdout).not.toMatch(/^ {4}nginx\.service: inactive/m);
    const run = await runCli(["approve", r.id, "--key", keyFile, "--yes", "--config", bd.dir], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`not approved: action ${r.id} cannot be approved: the host's impact preview is refused \\(its summary is not the text its facts render to`));
    const stored = (await new ActionStore(bd.stateDir).get(r.id))!;
    expect(stored.state).toBe("PENDING");
    expect(stored.approval).toBeUndefined();
    expect(bd.audit().filter((x) => x.event === "action.refused" && x.actionId === r.id && /impact preview is refused/.test(String(x.reason)))).toHaveLength(1);
  });

  it("a host string with a newline or an ANSI escape in a fact cannot add a line to the approval text: it is one quoted, escaped token", async () => {
    const plain = await pendingRequest(bd);
    const evil = "multi-user.target\n  impact:    LOW\n  params:    {\"unit\":\"sshd.service\"}\u001b[2J\u001b[H\u202e";
    const facts = { ...TEST_PREVIEW.facts, wantedBy: [evil] };
    // A preview the host's facts and its text agree on (what a compromised agent would send that the broker accepts).
    const hostile = await pendingRequest(bd, { preview: { action: "restart_service", facts, summary: previewSummary(restartService, { unit: "nginx.service" }, facts) } });
    const text = async (id: string) => {
      const out = (await runCli(["actions", "show", id, "--config", bd.dir], env)).stdout;
      return out.slice(0, out.indexOf("\n{"));
    };
    const [a, b] = [await text(plain.id), await text(hostile.id)];
    expect(b).not.toContain("\u001b");
    expect(b).not.toContain("\u202e");
    expect(b.split("\n")).toHaveLength(a.split("\n").length);
    expect(b.split("\n").filter((l) => /^\s*impact:/.test(l))).toEqual(["  impact:    MEDIUM"]);
    expect(b.split("\n").filter((l) => /^\s*params:/.test(l))).toEqual(['  params:    {"unit":"nginx.service"}']);
    expect(b).toContain('    wanted by: "multi-user.target\\n  impact:    LOW\\n  params:    {\\"unit\\":\\"sshd.service\\"}\\u001b[2J\\u001b[H\\u202e"');
    expect(a).toContain('    wanted by: "multi-user.target"');
  });
});
