// M-of-N approvals (issue 15): a host can require several distinct approver keys for an impact
// level (actions.yaml approvals.required; HIGH needs 2 by default), every signature is over the
// same statement and is checked, a key counts once, and a key whose identity is the requester's
// approves nothing of that request (four eyes). proto/catalog/approval.ts checkApproval.
import { describe, expect, it } from "vitest";
import { approvalToMessage, canonicalStatement, checkApproval, DEFAULT_REQUIRED_APPROVALS, parseApproverLine, signSshSig, type ApprovalStatement } from "../../proto/catalog/approval";
import type { Approval } from "../../proto/gen/hostward/v1/actions";
import { CLOCK, HOST_KEY, makeKey, statement, type TestKey } from "./keys";

const alice = makeKey("HIGH", "alice");
const bob = makeKey("HIGH", "bob");
const carol = makeKey("MEDIUM", "carol");
const eve = makeKey("HIGH", "eve"); // not an approver on this host
const approvers = [alice.approver, bob.approver, carol.approver];
const reboot = (over: Partial<ApprovalStatement> = {}) => statement({ action: "reboot_system", params: { delaySeconds: 60 }, impact: "HIGH", ...over });
const expectFor = (over: Partial<Parameters<typeof checkApproval>[1]> = {}) => ({
  host: "web1",
  hostKey: HOST_KEY,
  action: "reboot_system",
  params: { delaySeconds: 60 },
  impact: "HIGH" as const,
  clock: CLOCK,
  approvers,
  required: DEFAULT_REQUIRED_APPROVALS.HIGH,
  ...over,
});

/** `s` signed by the first key, with the others' signatures as cosignatures (labelled `as`, signed by `by`). */
function signedBy(s: ApprovalStatement, first: TestKey, ...others: Array<TestKey | { as: TestKey; by: TestKey }>): Approval {
  const text = canonicalStatement(s);
  const cos = others.map((o) => ("as" in o ? { keyId: o.as.approver.keyId, signature: signSshSig(text, o.by.privateKey) } : { keyId: o.approver.keyId, signature: signSshSig(text, o.privateKey) }));
  return approvalToMessage(s, first.approver.keyId, signSshSig(text, first.privateKey), "", cos);
}

describe("M-of-N approvals", () => {
  it("HIGH needs two distinct keys by default: one is refused TOO_FEW_APPROVALS, naming how to add one", () => {
    expect(DEFAULT_REQUIRED_APPROVALS).toEqual({ LOW: 1, MEDIUM: 1, HIGH: 2 });
    const s = reboot();
    const one = checkApproval(signedBy(s, alice), expectFor());
    expect(one).toMatchObject({ ok: false, code: "TOO_FEW_APPROVALS" });
    expect(!one.ok && one.reason).toMatch(/HIGH actions need 2 distinct approvers on this host \(approvals\.required\.HIGH in actions\.yaml\); this approval has 1: another approver adds a signature with "hostward approve act-0001"/);
    const two = checkApproval(signedBy(s, alice, bob), expectFor());
    expect(two).toMatchObject({ ok: true, key: { keyId: alice.approver.keyId } });
    expect(two.ok && two.keys.map((k) => k.keyId)).toEqual([alice.approver.keyId, bob.approver.keyId]);
  });

  it("a key counts once: the same key twice is refused, not counted as two", () => {
    const r = checkApproval(signedBy(reboot(), alice, alice), expectFor());
    expect(r).toMatchObject({ ok: false, code: "MALFORMED" });
    expect(!r.ok && r.reason).toMatch(/two signatures by the key/);
  });

  it("every cosignature is checked: an unknown key, a signature by another key, a signature over another statement", () => {
    const s = reboot();
    expect(checkApproval(signedBy(s, alice, eve), expectFor())).toMatchObject({ ok: false, code: "UNKNOWN_KEY" });
    // Labelled bob, signed by eve.
    expect(checkApproval(signedBy(s, alice, { as: bob, by: eve }), expectFor())).toMatchObject({ ok: false, code: "BAD_SIGNATURE" });
    // Bob signed another statement (another nonce): his signature does not count for this one.
    const other = reboot({ nonce: "0".repeat(32) });
    const mixed = signedBy(s, alice);
    mixed.cosignatures = [{ keyId: bob.approver.keyId, signature: Buffer.from(signSshSig(canonicalStatement(other), bob.privateKey), "utf8") }];
    const r = checkApproval(mixed, expectFor());
    expect(r).toMatchObject({ ok: false, code: "BAD_SIGNATURE" });
    expect(!r.ok && r.reason).toMatch(/^cosignature 1 \(key /);
  });

  it("each signing key must allow the impact: a MEDIUM key does not make up a HIGH pair", () => {
    expect(checkApproval(signedBy(reboot(), alice, carol), expectFor())).toMatchObject({ ok: false, code: "IMPACT_TOO_HIGH" });
  });

  it("the host's own count: required 1 accepts one key; required 3 refuses two; MEDIUM stays one by default", () => {
    const s = reboot();
    expect(checkApproval(signedBy(s, alice), expectFor({ required: 1 }))).toMatchObject({ ok: true });
    expect(checkApproval(signedBy(s, alice, bob), expectFor({ required: 3 }))).toMatchObject({ ok: false, code: "TOO_FEW_APPROVALS" });
    const restart = statement();
    expect(checkApproval(signedBy(restart, alice), { ...expectFor({ required: DEFAULT_REQUIRED_APPROVALS.MEDIUM }), action: "restart_service", params: { unit: "unbound.service" }, impact: "MEDIUM" })).toMatchObject({ ok: true });
  });

  it("four eyes: a key whose identity is the requester's approves nothing of that request, alone or with another", () => {
    const aliceLine = alice.line.replace('max-impact="HIGH"', 'max-impact="HIGH",identity="alice"');
    const aliceId = { ...alice, approver: parseApproverLine(aliceLine) };
    expect(aliceId.approver.identity).toBe("alice");
    const keys = [aliceId.approver, bob.approver];
    const asked = reboot({ requester: "alice" });
    const r = checkApproval(signedBy(asked, aliceId, bob), expectFor({ approvers: keys }));
    expect(r).toMatchObject({ ok: false, code: "SELF_APPROVAL" });
    expect(!r.ok && r.reason).toMatch(/belongs to "alice", who requested this action/);
    // Asked by someone else, the same two keys approve it.
    expect(checkApproval(signedBy(reboot({ requester: "dave" }), aliceId, bob), expectFor({ approvers: keys }))).toMatchObject({ ok: true });
  });

  it("four eyes with the broker's requester strings: over HTTP the token's label names the person (mcp:http:CLIENT:LABEL)", () => {
    const aliceId = { ...alice, approver: parseApproverLine(alice.line.replace('max-impact="HIGH"', 'max-impact="HIGH",identity="alice"')) };
    const keys = [aliceId.approver, bob.approver];
    // What requesterOf() writes for an HTTP caller whose token is labelled "alice".
    const asked = reboot({ requester: "mcp:http:claude-code/2.1.0:alice" });
    expect(checkApproval(signedBy(asked, bob, aliceId), expectFor({ approvers: keys }))).toMatchObject({ ok: false, code: "SELF_APPROVAL" });
    // A stdio requester names no person: the same keys approve it.
    expect(checkApproval(signedBy(reboot({ requester: "mcp:stdio:claude-code/2.1.0" }), bob, aliceId), expectFor({ approvers: keys }))).toMatchObject({ ok: true });
  });

  it("two keys of one person count once: approver lines that name the same identity are one approver", () => {
    const laptop = makeKey("HIGH", "alice-laptop");
    const token = makeKey("HIGH", "alice-token");
    const a1 = { ...laptop, approver: parseApproverLine(laptop.line.replace('max-impact="HIGH"', 'max-impact="HIGH",identity="alice"')) };
    const a2 = { ...token, approver: parseApproverLine(token.line.replace('max-impact="HIGH"', 'max-impact="HIGH",identity="alice"')) };
    const r = checkApproval(signedBy(reboot(), a1, a2), expectFor({ approvers: [a1.approver, a2.approver, bob.approver] }));
    expect(r).toMatchObject({ ok: false, code: "TOO_FEW_APPROVALS" });
    expect(!r.ok && r.reason).toMatch(/this approval has 1 \(2 keys, but keys whose approver lines name the same identity count once\)/);
    expect(checkApproval(signedBy(reboot(), a1, bob), expectFor({ approvers: [a1.approver, a2.approver, bob.approver] }))).toMatchObject({ ok: true });
  });

  it("approver lines: identity is optional, bounded, and the only other option", () => {
    const base = bob.line.replace('max-impact="HIGH" ', "");
    expect(parseApproverLine(`max-impact="HIGH",identity="bob@ops" ${base}`)).toMatchObject({ maxImpact: "HIGH", identity: "bob@ops" });
    expect(parseApproverLine(`max-impact="HIGH" ${base}`).identity).toBeUndefined();
    expect(() => parseApproverLine(`max-impact="HIGH",identity="-x" ${base}`)).toThrow(/approver identity "-x" is not/);
    expect(() => parseApproverLine(`max-impact="HIGH",command="/bin/sh" ${base}`)).toThrow(/options .* are not max-impact/);
    expect(() => parseApproverLine(`identity="bob",max-impact="HIGH" ${base}`)).toThrow(/options .* are not max-impact/);
  });

  it("at most 8 cosignatures, each well-formed, before any signature is checked", () => {
    const a = signedBy(reboot(), alice);
    a.cosignatures = Array.from({ length: 9 }, () => ({ keyId: bob.approver.keyId, signature: Buffer.from("x") }));
    expect(checkApproval(a, expectFor())).toMatchObject({ ok: false, code: "MALFORMED" });
    a.cosignatures = [{ keyId: "nope", signature: Buffer.from("x") }];
    const r = checkApproval(a, expectFor());
    expect(!r.ok && r.reason).toMatch(/cosignatures\[0\]\.key_id is not/);
  });
});
