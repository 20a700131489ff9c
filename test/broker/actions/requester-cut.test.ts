// Issue 11 (found by reading the approval path): a value shortened to fit a field is cut on a
// code-point boundary. The requester is signed into every approval; cut inside a surrogate pair
// (a client name with an emoji at the limit) it had no UTF-8 form, so the host rebuilt other bytes
// from the proto message and every approval for that client failed verification.
import { describe, expect, it } from "vitest";
import { approvalToMessage, canonicalStatement, checkApproval, signSshSig, type ApprovalStatement } from "../../../proto/catalog/approval";
import { Approval } from "../../../proto/gen/hostward/v1/actions";
import { requesterOf } from "../../../broker/src/mcp/tools/actions";
import { CLOCK, HOST_KEY, makeKey, NOW } from "../../approval/keys";


function roundTrip(requester: string) {
  const key = makeKey("MEDIUM");
  const statement: ApprovalStatement = {
    v: 3, id: "act-000000000001", host: "web1", hostKey: HOST_KEY, action: "restart_service", params: { unit: "nginx.service" },
    requester, impact: "MEDIUM", issuedAt: NOW - 10, notAfter: NOW + 600, nonce: "0".repeat(32), previewHash: HOST_KEY,
  };
  const message = approvalToMessage(statement, key.approver.keyId, signSshSig(canonicalStatement(statement), key.privateKey));
  // What the host receives: the proto message, UTF-8 on the wire.
  const received = Approval.decode(Approval.encode(message).finish());
  return checkApproval(received, { host: "web1", hostKey: HOST_KEY, action: "restart_service", params: { unit: "nginx.service" }, impact: "MEDIUM", clock: CLOCK, approvers: [key.approver] });
}

describe("the requester signed into an approval", () => {
  it("is cut on a code-point boundary, ASCII-only, and verifies on the host after the proto round trip", () => {
    const name = `${"c".repeat(236)}\u{1F600}\u{1F600}`; // the emoji sit right at the 256-unit limit once prefixed
    const requester = requesterOf({ transport: "stdio", client: { name, version: "1" } } as Parameters<typeof requesterOf>[0]);
    expect(requester.length).toBeLessThanOrEqual(256);
    expect(requester).toMatch(/^[\u0020-\u007e]+$/);
    expect(roundTrip(requester)).toMatchObject({ ok: true });
  });

  it("control: the naive cut (inside a surrogate pair) fails verification on the host: it verifies other bytes than were signed", () => {
    const cut = `mcp:stdio:${"c".repeat(245)}\u{1F600}`.slice(0, 256);
    expect(/[\ud800-\udbff]$/.test(cut)).toBe(true);
    expect(roundTrip(cut)).toMatchObject({ ok: false, code: "BAD_SIGNATURE" });
  });
});
