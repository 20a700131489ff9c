// What the approver reads is what runs (issue 13): the approval text `hostward approve` prints is
// rendered from the host's own preview (broker/src/actions/describe.ts approvalSummary), and every
// command the helper starts prints its line first ("$ …", helper/actions.ts plan.run). Here a real
// truncate_log runs through the BUILT helper in direct mode (no systemd on this machine, so the
// step is not wrapped in systemd-run): its "$ " lines must be exactly the approval's "$ " lines.
// And when the host changes between the preview and the execution (the file is replaced), the
// helper refuses HOST_CHANGED naming the fact, and nothing runs.
import { chmodSync, chownSync, linkSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approvalSummary } from "../../broker/src/actions/describe";
import type { ActionRequest } from "../../broker/src/actions/request";
import type { ActionPreview } from "../../proto/catalog/define-action";
import { HELPER_EXIT } from "../../agent/src/helper/exit-codes";
import { approve, helperRequest, HOST, HOST_CERT, makeApprover, makeHost, previewNow, runHelperBundle, type Approver, type HostDirs } from "./support";
import { itAsRoot } from "../support/root";

let alice: Approver;
let host: HostDirs;
let logs: string;

beforeAll(() => {
  alice = makeApprover("MEDIUM");
  logs = mkdtempSync(join(tmpdir(), "hw-plan-logs-"));
  host = makeHost([alice], `units: []\ncontainers: []\nlogFiles: [${logs}]\n`);
});
afterAll(() => {
  rmSync(logs, { recursive: true, force: true });
  rmSync(host.dir, { recursive: true, force: true });
});

function request(preview: ActionPreview, params: Record<string, unknown>): ActionRequest {
  const now = new Date().toISOString();
  return {
    v: 1, id: "act-000000000001", host: "web1", hostIdentity: HOST, hostKey: HOST_CERT.fingerprint, action: "truncate_log", params, impact: "MEDIUM",
    preview, reason: "disk full", requester: "mcp:test", state: "PENDING", createdAt: now, updatedAt: now, expiresAt: Math.floor(Date.now() / 1000) + 600, history: [],
  };
}

describe("truncate_log through the built helper", () => {
  it("prints exactly the commands of the approval text, frees the bytes the preview promised, keeps the inode", async () => {
    const file = join(logs, "debug.log");
    writeFileSync(file, "x".repeat(123_456));
    const params = { path: file };
    const preview = previewNow("truncate_log", params, host.env)!;
    expect(preview.facts).toMatchObject({ path: file, sizeBytes: 123_456, inode: statSync(file).ino });
    expect(preview.summary.join("\n")).toMatch(/123456 bytes\) freed/);

    const shown = approvalSummary(request(preview, params));
    const approvedLines = shown.filter((l) => l.startsWith("    $ ")).map((l) => l.slice(4));
    expect(approvedLines).toEqual([`$ /usr/bin/truncate --no-create --size=0 -- ${file}`]);
    for (const line of preview.summary) expect(shown).toContain(`    ${line}`);

    const r = await runHelperBundle(host.env, helperRequest("truncate_log", params, approve(alice, { action: "truncate_log", params, impact: "MEDIUM", preview })));
    const ran = r.lines.filter((l) => l.type === "output" && String(l.line).startsWith("$ ")).map((l) => String(l.line));
    expect(ran).toEqual(approvedLines);
    expect(r.lines.at(-1), r.stderr).toMatchObject({ type: "result", verdict: "SUCCEEDED", before: { sizeBytes: 123_456 }, after: { sizeBytes: 0, freedBytes: 123_456 } });
    expect(statSync(file).size).toBe(0);
    expect(statSync(file).ino).toBe(preview.facts.inode);
  });

  it("refuses HOST_CHANGED, naming the fact, when the file was replaced after the preview; nothing is truncated", async () => {
    const file = join(logs, "app.log");
    writeFileSync(file, "old");
    const params = { path: file };
    const preview = previewNow("truncate_log", params, host.env)!;
    const approval = approve(alice, { action: "truncate_log", params, impact: "MEDIUM", preview });
    writeFileSync(`${file}.new`, "new content that must survive");
    renameSync(`${file}.new`, file);
    const r = await runHelperBundle(host.env, helperRequest("truncate_log", params, approval));
    expect(r.lines.at(-1)).toMatchObject({ type: "refused", code: "HOST_CHANGED", exitCode: HELPER_EXIT.hostChanged });
    expect(String(r.lines.at(-1)?.reason)).toMatch(/inode was \d+, is now \d+; nothing ran/);
    expect(r.lines.some((l) => l.type === "output" && String(l.line).startsWith("$ "))).toBe(false);
    expect(readFileSync(file, "utf8")).toBe("new content that must survive");
  });

  it("refuses an approval whose preview is not the one its signature covers (ALTERED)", async () => {
    const file = join(logs, "other.log");
    writeFileSync(file, "abc");
    const params = { path: file };
    const preview = previewNow("truncate_log", params, host.env)!;
    const approval = approve(alice, { action: "truncate_log", params, impact: "MEDIUM", preview });
    const forged = { ...approval, previewJson: approval.previewJson.replace(/"sizeBytes":3/, '"sizeBytes":1') };
    const r = await runHelperBundle(host.env, helperRequest("truncate_log", params, forged));
    expect(r.lines.at(-1)).toMatchObject({ type: "refused", code: "ALTERED" });
    expect(readFileSync(file, "utf8")).toBe("abc");
  });

  it("refuses ALTERED an approval whose preview's summary is not its facts' text (facts unchanged, the hash signed over the forged text); nothing is truncated", async () => {
    const file = join(logs, "forged.log");
    writeFileSync(file, "y".repeat(40 * 1024));
    const params = { path: file };
    const preview = previewNow("truncate_log", params, host.env)!;
    // What a compromised operator agent would have the human read: the real facts, a smaller file.
    const summary = preview.summary.map((l) => l.replace(/[\d.]+ MiB \(\d+ bytes\)/, "0.0 MiB (1 bytes)"));
    expect(summary).not.toEqual(preview.summary);
    const forged: ActionPreview = { ...preview, summary };
    // The broker would not show it: it renders the text from the facts and refuses this preview.
    expect(approvalSummary(request(forged, params)).join("\n")).toMatch(/the host's impact preview is refused: its summary is not the text its facts render to: line 1 reads .*0\.0 MiB \(1 bytes\).*it cannot be approved/);
    const r = await runHelperBundle(host.env, helperRequest("truncate_log", params, approve(alice, { action: "truncate_log", params, impact: "MEDIUM", preview: forged })));
    expect(r.lines.at(-1)).toMatchObject({ type: "refused", code: "ALTERED", exitCode: HELPER_EXIT.altered });
    expect(String(r.lines.at(-1)?.reason)).toMatch(/the impact preview that was approved is not what its facts say: its summary is not the text its facts render to: line 1 reads .*\(1 bytes\).*nothing ran/);
    expect(r.lines.some((l) => l.type === "output" && String(l.line).startsWith("$ "))).toBe(false);
    expect(statSync(file).size).toBe(40 * 1024);
    // The same approval with the preview the host gave runs (positive control).
    const ok = await runHelperBundle(host.env, helperRequest("truncate_log", params, approve(alice, { action: "truncate_log", params, impact: "MEDIUM", preview })));
    expect(ok.lines.at(-1), ok.stderr).toMatchObject({ type: "result", verdict: "SUCCEEDED" });
    expect(statSync(file).size).toBe(0);
  });

  it("the preview refuses a symlink, a file outside the roots, and a directory others can write", async () => {
    const target = join(logs, "real.log");
    writeFileSync(target, "data");
    const link = join(logs, "link.log");
    const { symlinkSync } = await import("node:fs");
    symlinkSync(target, link);
    const ask = (path: string) => runHelperBundle(host.env, JSON.stringify({ query: "preview", action: "truncate_log", params: { path } }));
    expect((await ask(link)).lines.at(-1)).toMatchObject({ type: "refused", code: "NOT_ALLOWLISTED" });
    expect((await ask("/etc/passwd")).lines.at(-1)).toMatchObject({ type: "refused", code: "NOT_ALLOWLISTED" });
    const open = join(logs, "shared");
    mkdirSync(open);
    chmodSync(open, 0o777);
    writeFileSync(join(open, "x.log"), "data");
    const r = await ask(join(open, "x.log"));
    expect(r.lines.at(-1)).toMatchObject({ type: "refused", code: "NOT_ALLOWLISTED" });
    expect(String(r.lines.at(-1)?.reason)).toMatch(/could be swapped for another file after this check: .*shared is writable by its group or by others \(mode 0777\)/);
  });

  it("the preview refuses a file with a second name (a hard link), so emptying it cannot reach another file", async () => {
    const file = join(logs, "linked.log");
    writeFileSync(file, "data");
    linkSync(file, join(logs, "second-name"));
    const r = await runHelperBundle(host.env, JSON.stringify({ query: "preview", action: "truncate_log", params: { path: file } }));
    expect(r.lines.at(-1)).toMatchObject({ type: "refused", code: "NOT_ALLOWLISTED" });
    expect(String(r.lines.at(-1)?.reason)).toMatch(/has 2 hard links; only a file with one name can be emptied/);
    expect(readFileSync(file, "utf8")).toBe("data");
  });

  itAsRoot("in a sticky directory (1777, like /tmp) a file another user owns is refused (its owner may swap it); root's own is accepted", "chown to another uid", async () => {
    const sticky = join(logs, "sticky");
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    const theirs = join(sticky, "theirs.log");
    const ours = join(sticky, "ours.log");
    writeFileSync(theirs, "data");
    writeFileSync(ours, "data");
    chownSync(theirs, 4242, 4242);
    const ask = (path: string) => runHelperBundle(host.env, JSON.stringify({ query: "preview", action: "truncate_log", params: { path } }));
    const refused = (await ask(theirs)).lines.at(-1);
    expect(refused).toMatchObject({ type: "refused", code: "NOT_ALLOWLISTED" });
    expect(String(refused?.reason)).toMatch(/theirs\.log is owned by uid 4242 in the sticky directory .*sticky \(mode 1777\), so its owner may rename or replace it/);
    expect((await ask(ours)).lines.at(-1)).toMatchObject({ type: "preview" });
  });
});
