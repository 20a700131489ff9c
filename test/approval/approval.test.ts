// proto/catalog/approval.ts: canonical JSON, key parsing, SSHSIG signing/verification and the
// checkApproval refusals the root helper relies on (issue 4: "approval the model cannot forge").
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  approvalToMessage,
  armorSshSig,
  canonicalJson,
  canonicalStatement,
  checkApproval,
  formatOpenSshPrivateKey,
  formatOpenSshPublicKey,
  impactRank,
  IMPACTS,
  MAX_ARMORED_SIGNATURE,
  newNonce,
  parseApproverLine,
  parseOpenSshPrivateKey,
  parseOpenSshPublicKey,
  publicKeyBlob,
  signSshSig,
  sshSigSignedData,
  statementDigest,
  verifySshSig,
  type ApprovalRefusal,
} from "../../proto/catalog/approval";
import type { Approval } from "../../proto/gen/hostward/v1/actions";
import { CLOCK, HOST_KEY, makeKey, NOW, signed, statement, type TestKey } from "./keys";

describe("impact levels", () => {
  it("ranks LOW < MEDIUM < HIGH and refuses anything else", () => {
    expect(IMPACTS.map(impactRank)).toEqual([0, 1, 2]);
    expect(() => impactRank("CRITICAL" as never)).toThrow(/unknown impact level/);
  });
});

describe("canonicalJson", () => {
  it("gives the same text whatever the key order, at every depth, with no whitespace", () => {
    const a = { b: 1, a: { z: [3, { y: true, x: null }], c: "é\n\"" }, m: -0.5 };
    const b = { m: -0.5, a: { c: "é\n\"", z: [3, { x: null, y: true }] }, b: 1 };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"a":{"c":"é\\n\\"","z":[3,{"x":null,"y":true}]},"b":1,"m":-0.5}');
    expect(canonicalJson([2, 1])).toBe("[2,1]"); // arrays keep their order
    expect(JSON.parse(canonicalJson(a))).toEqual(a);
  });

  it("refuses values JSON cannot carry, naming where they are", () => {
    const cases: [unknown, RegExp][] = [
      [undefined, /\$ is undefined, which is not a JSON value/],
      [{ unit: undefined }, /\$\.unit is undefined/],
      [[1, undefined], /\$\[1\] is undefined/],
      [{ f: () => 1 }, /\$\.f is function/],
      [{ n: Number.NaN }, /\$\.n is NaN, which JSON cannot represent/],
      [{ n: Number.POSITIVE_INFINITY }, /Infinity, which JSON cannot represent/],
      [{ n: Number.NEGATIVE_INFINITY }, /-Infinity, which JSON cannot represent/],
      [{ n: 10n }, /\$\.n is a BigInt/],
      [{ s: Symbol("x") }, /\$\.s is symbol/],
      [{ d: new Date(0) }, /\$\.d is a Date, not a plain object/],
      [{ m: new Map() }, /is a Map/],
      [{ b: Buffer.from("x") }, /is a Buffer/],
    ];
    for (const [value, message] of cases) expect(() => canonicalJson(value), String(message)).toThrow(message);
  });

  it("refuses cyclic and absurdly deep values instead of overflowing the stack", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/deeper than 32 levels \(or is cyclic\)/);
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(/deeper than/);
  });

  it("accepts objects without a prototype", () => {
    const o = Object.create(null) as Record<string, unknown>;
    o.b = 2;
    o.a = 1;
    expect(canonicalJson(o)).toBe('{"a":1,"b":2}');
  });
});

describe("statements", () => {
  it("canonicalStatement signs exactly the statement's fields; statementDigest is its sha256 hex", () => {
    const s = statement({ nonce: "0".repeat(32) });
    const withExtra = { ...s, note: "not signed" };
    expect(canonicalStatement(withExtra)).toBe(canonicalStatement(s));
    expect(canonicalStatement(s)).toBe(
      `{"action":"restart_service","host":"web1","hostKey":"${HOST_KEY}","id":"act-0001","impact":"MEDIUM","issuedAt":${NOW - 60},"nonce":"00000000000000000000000000000000",` +
        `"notAfter":${NOW + 600},"params":{"unit":"unbound.service"},"previewHash":"sha256:${"cd".repeat(32)}","requester":"claude@broker","v":3}`,
    );
    expect(statementDigest(s)).toBe(createHash("sha256").update(canonicalStatement(s)).digest("hex"));
    expect(statementDigest(s)).toMatch(/^[0-9a-f]{64}$/);
    expect(statementDigest(statement())).not.toBe(statementDigest(s));
  });

  it("newNonce is 32 lowercase hex and does not repeat", () => {
    const nonces = new Set(Array.from({ length: 1000 }, newNonce));
    expect(nonces.size).toBe(1000);
    for (const n of nonces) expect(n).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe("OpenSSH public keys", () => {
  const key = makeKey("MEDIUM");
  const b64 = publicKeyBlob(key.privateKey).toString("base64");

  it("parses ssh-ed25519 lines with and without a comment", () => {
    const info = parseOpenSshPublicKey(`ssh-ed25519 ${b64} alice@laptop with spaces\n`);
    expect(info.comment).toBe("alice@laptop with spaces");
    expect(info.keyId).toBe(`SHA256:${createHash("sha256").update(Buffer.from(b64, "base64")).digest("base64").replace(/=+$/, "")}`);
    expect(info.keyId).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(info.publicKey.asymmetricKeyType).toBe("ed25519");
    expect(parseOpenSshPublicKey(`ssh-ed25519 ${b64}`).comment).toBe("");
  });

  it("refuses other key types, bad base64, wrong, truncated or trailing blob bytes, control characters and huge lines", () => {
    const blob = Buffer.from(b64, "base64");
    const rsaTyped = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from("ssh-rsa\0\0\0\0"), blob.subarray(15)]);
    const cases: [string, RegExp][] = [
      [`ssh-rsa ${b64} x`, /key type "ssh-rsa" is not supported/],
      [`ecdsa-sha2-nistp256 ${b64}`, /not supported/],
      [`ssh-ed25519 ${b64.slice(0, -1)}!`, /not valid base64/],
      [`ssh-ed25519 ${b64.slice(0, -4)}`, /blob is 48 bytes/],
      [`ssh-ed25519 ${Buffer.concat([blob, Buffer.from([0, 0, 0])]).toString("base64")}`, /blob is 54 bytes/],
      [`ssh-ed25519 ${rsaTyped.toString("base64")}`, /is not ssh-ed25519/],
      [`ssh-ed25519 ${b64} a\u0000b`, /control character/],
      [`ssh-ed25519 ${b64} a\nssh-ed25519 ${b64}`, /control character/],
      [`ssh-ed25519 ${b64} ${"c".repeat(5000)}`, /longer than 4096/],
      [`ssh-ed25519`, /is not "ssh-ed25519 <base64> \[comment\]"/],
      [``, /is not "ssh-ed25519/],
    ];
    for (const [line, message] of cases) expect(() => parseOpenSshPublicKey(line), line.slice(0, 40)).toThrow(message);
  });

  it("parses approver lines and requires exactly one max-impact option", () => {
    expect(parseApproverLine(`max-impact="HIGH" ssh-ed25519 ${b64} root@admin`)).toMatchObject({ maxImpact: "HIGH", comment: "root@admin" });
    expect(parseApproverLine(key.line).maxImpact).toBe("MEDIUM");
    for (const line of [
      `ssh-ed25519 ${b64} no-limit`,
      `max-impact="high" ssh-ed25519 ${b64}`,
      `max-impact="CRITICAL" ssh-ed25519 ${b64}`,
      `max-impact=HIGH ssh-ed25519 ${b64}`,
      `max-impact="LOW",command="/bin/sh" ssh-ed25519 ${b64}`,
      `from="10.0.0.1" ssh-ed25519 ${b64}`,
      `max-impact="LOW" ssh-rsa ${b64}`,
    ]) {
      expect(() => parseApproverLine(line), line.slice(0, 40)).toThrow(/approver|not supported/);
    }
  });
});

describe("OpenSSH private keys", () => {
  const key = makeKey("LOW");
  const text = formatOpenSshPrivateKey(key.privateKey, "me@host");
  const blobOf = (t: string) => Buffer.from(t.split("\n").filter((l) => l && !l.startsWith("-----")).join(""), "base64");
  const armor = (b: Buffer) => `-----BEGIN OPENSSH PRIVATE KEY-----\n${b.toString("base64").match(/.{1,70}/g)!.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`;

  it("round-trips an ed25519 key and its comment", () => {
    const back = parseOpenSshPrivateKey(text);
    expect(back.comment).toBe("me@host");
    expect(formatOpenSshPublicKey(back.privateKey)).toBe(formatOpenSshPublicKey(key.privateKey));
    expect(formatOpenSshPublicKey(back.privateKey, "c")).toMatch(/^ssh-ed25519 [A-Za-z0-9+/]+=* c$/);
  });

  it("refuses a changed check integer, padding, trailing bytes, another frame and an oversized file", () => {
    const blob = blobOf(text);
    // the comment is the private section's last string; the padding 1, 2, 3… follows it
    const idx = blob.indexOf(Buffer.from("me@host"));
    const paddingAt = idx + "me@host".length;
    const badPad = Buffer.from(blob);
    if (paddingAt < badPad.length) badPad[paddingAt] = 9;
    else throw new Error("test key has no padding; pick another comment length");
    expect(() => parseOpenSshPrivateKey(armor(badPad))).toThrow(/bad padding/);
    // check 1 and check 2 are the 8 bytes before the section's string("ssh-ed25519") (the 2nd one in the blob)
    const checkAt = blob.indexOf(Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from("ssh-ed25519")]), 60) - 8;
    const badCheck = Buffer.from(blob);
    badCheck[checkAt]! ^= 0xff;
    expect(() => parseOpenSshPrivateKey(armor(badCheck))).toThrow(/check integers differ/);
    expect(() => parseOpenSshPrivateKey(armor(Buffer.concat([blob, Buffer.from([0])])))).toThrow(/trailing bytes/);
    expect(() => parseOpenSshPrivateKey(text.replace(/OPENSSH/g, "RSA"))).toThrow(/not an OpenSSH private key/);
    expect(() => parseOpenSshPrivateKey(text + " ".repeat(9000))).toThrow(/longer than 8192/);
  });
});

describe("SSHSIG", () => {
  const alice = makeKey("MEDIUM", "alice");
  const bob = makeKey("LOW", "bob");
  const message = canonicalStatement(statement());

  /** Re-armors a modified SSHSIG blob (field surgery for the negative cases). */
  function rearm(armored: string, edit: (blob: Buffer) => Buffer): string {
    const b64 = armored.split("\n").filter((l) => l && !l.startsWith("-----")).join("");
    const out = edit(Buffer.from(b64, "base64")).toString("base64");
    return `-----BEGIN SSH SIGNATURE-----\n${out.match(/.{1,70}/g)!.join("\n")}\n-----END SSH SIGNATURE-----\n`;
  }
  const str = (s: string | Buffer) => {
    const b = typeof s === "string" ? Buffer.from(s) : s;
    const l = Buffer.alloc(4);
    l.writeUInt32BE(b.length);
    return Buffer.concat([l, b]);
  };

  it("signs and verifies a round trip, for string and Buffer messages", () => {
    const armored = signSshSig(message, alice.privateKey);
    expect(armored).toMatch(/^-----BEGIN SSH SIGNATURE-----\n[A-Za-z0-9+/=\n]+\n-----END SSH SIGNATURE-----\n$/);
    const r = verifySshSig(armored, Buffer.from(message), [bob.approver, alice.approver]);
    expect(r).toMatchObject({ ok: true, key: { keyId: alice.approver.keyId } });
    expect(verifySshSig(armored.replace(/\n/g, "\r\n"), message, [alice.approver]).ok).toBe(true);
  });

  it("refuses another message, a key not in the list, and a flipped signature bit", () => {
    const armored = signSshSig(message, alice.privateKey);
    expect(verifySshSig(armored, `${message} `, [alice.approver])).toEqual({ ok: false, reason: expect.stringMatching(/does not match the message/) });
    expect(verifySshSig(armored, message, [bob.approver])).toEqual({ ok: false, reason: expect.stringMatching(/not among the 1 allowed key/) });
    const flipped = rearm(armored, (b) => {
      const c = Buffer.from(b);
      c[c.length - 1]! ^= 1;
      return c;
    });
    expect(verifySshSig(flipped, message, [alice.approver]).ok).toBe(false);
  });

  it("armorSshSig gives the same text for a raw ed25519 signature and an ssh-agent signature blob", () => {
    const blob = publicKeyBlob(alice.privateKey);
    const raw = sign(null, sshSigSignedData(message), alice.privateKey);
    const agentBlob = Buffer.concat([str("ssh-ed25519"), str(raw)]);
    expect(armorSshSig(blob, raw)).toBe(signSshSig(message, alice.privateKey)); // ed25519 is deterministic
    expect(armorSshSig(blob, agentBlob)).toBe(armorSshSig(blob, raw));
    expect(() => armorSshSig(blob, Buffer.concat([str("ssh-rsa"), str(raw)]))).toThrow(/is not ssh-ed25519/);
    expect(() => armorSshSig(blob, Buffer.alloc(63))).toThrow();
  });

  it("refuses other namespaces, hashes, versions, key types, reserved data and trailing bytes", () => {
    const blob = publicKeyBlob(alice.privateKey);
    const build = (o: { magic?: string; version?: number; ns?: string; reserved?: string; hash?: string; trailing?: boolean; key?: Buffer }) => {
      const data = Buffer.concat([
        Buffer.from("SSHSIG"),
        str(o.ns ?? "hostward-approval"),
        str(o.reserved ?? ""),
        str(o.hash ?? "sha512"),
        str(createHash(o.hash === "sha256" ? "sha256" : "sha512").update(message).digest()),
      ]);
      const sig = sign(null, data, alice.privateKey);
      const v = Buffer.alloc(4);
      v.writeUInt32BE(o.version ?? 1);
      const body = Buffer.concat([
        Buffer.from(o.magic ?? "SSHSIG"),
        v,
        str(o.key ?? blob),
        str(o.ns ?? "hostward-approval"),
        str(o.reserved ?? ""),
        str(o.hash ?? "sha512"),
        str(Buffer.concat([str("ssh-ed25519"), str(sig)])),
        o.trailing ? Buffer.from([0]) : Buffer.alloc(0),
      ]);
      return rearm("", () => body);
    };
    expect(verifySshSig(build({}), message, [alice.approver]).ok).toBe(true); // the builder itself is right
    const cases: [Parameters<typeof build>[0], RegExp][] = [
      [{ ns: "git" }, /namespace "git" is not "hostward-approval"/],
      [{ ns: "file" }, /namespace "file"/],
      [{ hash: "sha256" }, /hash algorithm "sha256" is not sha512/],
      [{ version: 2 }, /version 2 is not 1/],
      [{ magic: "SSHSIX" }, /magic is not "SSHSIG"/],
      [{ reserved: "x" }, /reserved field is not empty/],
      [{ trailing: true }, /1 unexpected trailing bytes/],
      [{ key: Buffer.concat([str("ssh-rsa"), str(Buffer.alloc(40))]) }, /public key is 55 bytes, more than 51/],
      [{ key: Buffer.concat([str("ssh-rsa"), str(Buffer.alloc(36))]) }, /key type "ssh-rsa" is not ssh-ed25519/],
    ];
    for (const [o, reason] of cases) expect(verifySshSig(build(o), message, [alice.approver]), String(reason)).toEqual({ ok: false, reason: expect.stringMatching(reason) });
  });

  it("refuses malformed armor: no frame, bad base64, a length past the end, oversized text", () => {
    const armored = signSshSig(message, alice.privateKey);
    const truncated = rearm(armored, (b) => b.subarray(0, 40));
    const hugeLength = rearm(armored, (b) => {
      const c = Buffer.from(b);
      c.writeUInt32BE(0xffffffff, 10); // the public key's length field
      return c;
    });
    const cases: [string, RegExp][] = [
      ["", /not framed/],
      [armored.replace("BEGIN SSH SIGNATURE", "BEGIN PGP SIGNATURE"), /not framed/],
      [armored.replace(/\n[A-Za-z]/, "\n!"), /not valid base64/],
      [armored.replace(/\n(.)/, "\n\n$1"), /empty or over-long line/],
      [truncated, /runs past the end/],
      [hugeLength, /more than 51/],
      [`${armored}${" ".repeat(MAX_ARMORED_SIGNATURE)}`, /longer than 2048 characters/],
    ];
    for (const [text, reason] of cases) expect(verifySshSig(text, message, [alice.approver]), String(reason)).toEqual({ ok: false, reason: expect.stringMatching(reason) });
  });

  it("signSshSig refuses keys that are not ed25519 private keys", () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    expect(() => signSshSig(message, privateKey)).toThrow(/needs an ed25519 private key/);
    expect(() => signSshSig(message, alice.approver.publicKey)).toThrow(/needs an ed25519 private key/);
  });
});

describe("checkApproval", () => {
  const alice = makeKey("MEDIUM", "alice");
  const lowKey = makeKey("LOW", "elicitation");
  const root = makeKey("HIGH", "root");
  const eve = makeKey("HIGH", "eve"); // not an approver on this host
  const approvers = [alice.approver, lowKey.approver, root.approver];
  const expectFor = (over: Partial<Parameters<typeof checkApproval>[1]> = {}) => ({
    host: "web1",
    hostKey: HOST_KEY,
    action: "restart_service",
    params: { unit: "unbound.service" },
    impact: "MEDIUM" as const,
    clock: CLOCK,
    approvers,
    ...over,
  });
  /** The host's clock at `now` (other settings as CLOCK). */
  const at = (now: number, over: Partial<typeof CLOCK> & { notBefore?: number } = {}) => ({ clock: { ...CLOCK, now, ...over } });
  function refused(a: Approval | undefined, code: ApprovalRefusal, over: Partial<Parameters<typeof checkApproval>[1]> = {}, reason?: RegExp) {
    const r = checkApproval(a, expectFor(over));
    expect(r.ok, JSON.stringify(r)).toBe(false);
    if (!r.ok) {
      expect(r.code, r.reason).toBe(code);
      if (reason) expect(r.reason).toMatch(reason);
    }
  }

  it("accepts a valid approval and returns the statement and the approver key", () => {
    const s = statement();
    const r = checkApproval(signed(s, alice), expectFor());
    expect(r).toMatchObject({ ok: true, statement: s, key: { keyId: alice.approver.keyId, maxImpact: "MEDIUM" } });
    // valid while now + the allowed skew ≤ notAfter (a host clock lagging by up to maxSkew cannot extend it)
    expect(checkApproval(signed(s, alice), expectFor(at(s.notAfter - CLOCK.maxSkewSeconds))).ok).toBe(true);
    const higher = statement({ action: "reboot_system", params: { delaySeconds: 60 }, impact: "HIGH" });
    expect(checkApproval(signed(higher, root), expectFor({ action: "reboot_system", params: { delaySeconds: 60 }, impact: "HIGH" })).ok).toBe(true);
  });

  it("UNKNOWN_KEY: a key that is not an approver on this host", () => {
    refused(signed(statement(), eve), "UNKNOWN_KEY", {}, new RegExp(eve.approver.keyId.replace(/[+/]/g, "\\$&")));
  });

  it("BAD_SIGNATURE: a flipped signature, another key's signature under an approver's id, a field changed after signing", () => {
    const a = signed(statement(), alice);
    const text = a.signature.toString("utf8");
    const i = text.indexOf("\n", 40) - 5; // a base64 character inside the signature body
    const swapped = text.slice(0, i) + (text[i] === "A" ? "B" : "A") + text.slice(i + 1);
    refused({ ...a, signature: Buffer.from(swapped) }, "BAD_SIGNATURE");
    refused(signed(statement(), alice, eve), "BAD_SIGNATURE", {}, /not among the 1 allowed key/);
    refused(signed(statement(), alice, root), "BAD_SIGNATURE"); // root is an approver, but alice's id is claimed
    refused({ ...a, requestId: "act-0002" }, "BAD_SIGNATURE", {}, /does not match the message/);
    refused({ ...a, requester: "mallory" }, "BAD_SIGNATURE");
    refused({ ...a, notAfterUnix: a.notAfterUnix + 3600 }, "BAD_SIGNATURE");
    refused({ ...a, nonce: newNonce() }, "BAD_SIGNATURE");
    refused({ ...a, host: "db1" }, "BAD_SIGNATURE", { host: "db1" });
    // the verifier's catalog says the action is HIGH while the approver signed MEDIUM
    refused(a, "BAD_SIGNATURE", { impact: "HIGH" });
  });

  it("OTHER_HOST: a genuine approval for another host", () => {
    refused(signed(statement({ host: "web2" }), alice), "OTHER_HOST", {}, /"web2", this host is "web1"/);
  });

  it("OTHER_ACTION: a genuine approval for another action", () => {
    refused(signed(statement({ action: "reload_service" }), alice), "OTHER_ACTION", {}, /reload_service, not restart_service/);
  });

  it("ALTERED: the parameters to run differ from the approved ones (value, extra key, missing key)", () => {
    const a = signed(statement(), alice);
    refused(a, "ALTERED", { params: { unit: "nginx.service" } }, /differ from the parameters to run/);
    refused(a, "ALTERED", { params: { unit: "unbound.service", force: true } });
    refused(a, "ALTERED", { params: {} });
    refused(a, "ALTERED", { params: { unit: "unbound" } }); // canonicalising is the host's job, not a loophole
    // rewriting the message's parameters to match breaks the signature instead
    refused({ ...a, parametersJson: '{"unit":"nginx.service"}' }, "BAD_SIGNATURE", { params: { unit: "nginx.service" } });
    // same params built in another key order are NOT altered
    const two = statement({ action: "reboot_system", impact: "HIGH", params: { b: 1, a: 2 } });
    expect(checkApproval(signed(two, root), expectFor({ action: "reboot_system", impact: "HIGH", params: { a: 2, b: 1 } })).ok).toBe(true);
  });

  it("EXPIRED: now plus the allowed clock skew is past notAfter (a lagging host does not extend it)", () => {
    const s = statement();
    refused(signed(s, alice), "EXPIRED", at(s.notAfter + 1), /expired at/);
    refused(signed(s, alice), "EXPIRED", at(s.notAfter - CLOCK.maxSkewSeconds + 1), /plus the 120 s of clock error this host allows/);
    // with no skew allowed, notAfter itself is the last valid second
    expect(checkApproval(signed(s, alice), expectFor(at(s.notAfter, { maxSkewSeconds: 0 }))).ok).toBe(true);
  });

  it("OTHER_HOST: an approval for this host's name but another key (the host was re-enrolled since)", () => {
    refused(signed(statement({ hostKey: `sha256:${"cd".repeat(32)}` }), alice), "OTHER_HOST", {}, /host key sha256:cdcd.*this host's operator certificate has the key sha256:abab.*re-enrolled/);
  });

  it("CLOCK_SKEW: signed further in this host's future than it allows, naming the skew", () => {
    refused(signed(statement({ issuedAt: NOW + 3600, notAfter: NOW + 3900 }), alice), "CLOCK_SKEW", {}, /3600 s after this host's time .*at least 3600 s behind the approver's, more than the 120 s it allows/);
    // within the allowed skew it is accepted
    expect(checkApproval(signed(statement({ issuedAt: NOW + 120 }), alice), expectFor()).ok).toBe(true);
  });

  it("STALE: signed before the host's record of used approvals began", () => {
    refused(signed(statement({ issuedAt: NOW - 100 }), alice), "STALE", at(NOW, { notBefore: NOW - 99 }), /before this host's record of used approvals began/);
    expect(checkApproval(signed(statement({ issuedAt: NOW - 100 }), alice), expectFor(at(NOW, { notBefore: NOW - 100 }))).ok).toBe(true);
  });

  it("LIFETIME: valid for longer than the host's maximum, from its signing or from now", () => {
    refused(signed(statement({ issuedAt: NOW, notAfter: NOW + 3601 }), alice), "LIFETIME", {}, /3601 s\), longer than this host's maximum of 3600 s/);
    // a backdated issuedAt does not help: the lifetime counts from it
    refused(signed(statement({ issuedAt: NOW - 1000, notAfter: NOW + 2700 }), alice), "LIFETIME", {}, /3700 s\), longer than this host's maximum/);
    expect(checkApproval(signed(statement({ issuedAt: NOW, notAfter: NOW + 3600 }), alice), expectFor()).ok).toBe(true);
  });

  it("IMPACT_TOO_HIGH: the action's impact exceeds the key's max-impact", () => {
    refused(signed(statement(), lowKey), "IMPACT_TOO_HIGH", {}, /MEDIUM impact; key .* approves at most LOW/);
    const reboot = statement({ action: "reboot_system", params: { delaySeconds: 60 }, impact: "HIGH" });
    refused(signed(reboot, alice), "IMPACT_TOO_HIGH", { action: "reboot_system", params: { delaySeconds: 60 }, impact: "HIGH" });
    const flush = statement({ action: "flush_dns_cache", params: {}, impact: "LOW" });
    expect(checkApproval(signed(flush, lowKey), expectFor({ action: "flush_dns_cache", params: {}, impact: "LOW" })).ok).toBe(true);
  });

  it("MALFORMED: missing or out-of-bounds fields, non-canonical parameters, an oversized signature", () => {
    const a = signed(statement(), alice);
    refused(undefined, "MALFORMED", {}, /no approval/);
    const cases: [Partial<Approval>, RegExp][] = [
      [{ requestId: "" }, /request_id is missing/],
      [{ host: "" }, /host is missing/],
      [{ action: "" }, /action is missing/],
      [{ requester: "" }, /requester is missing/],
      [{ parametersJson: "" }, /parameters_json is missing/],
      [{ notAfterUnix: 0 }, /not_after_unix/],
      [{ issuedAtUnix: 0 }, /issued_at_unix is missing/],
      [{ hostKey: "" }, /host_key is not a "sha256:<64 hex>"/],
      [{ hostKey: `SHA256:${"a".repeat(64)}` }, /host_key/],
      // a requester cut inside a surrogate pair: it has no UTF-8 form, so the host would verify other bytes
      [{ requester: `claude ${"\u{1F600}".slice(0, 1)}` }, /requester is not well-formed Unicode \(a lone surrogate\)/],
      [{ nonce: "" }, /nonce/],
      [{ nonce: "A".repeat(32) }, /nonce/],
      [{ keyId: "" }, /key_id/],
      [{ keyId: "MD5:aa:bb" }, /key_id/],
      [{ signature: Buffer.alloc(0) }, /signature is missing/],
      [{ signature: Buffer.alloc(MAX_ARMORED_SIGNATURE + 1, 0x41) }, /signature is 2049 bytes, more than 2048/],
      [{ requestId: "x".repeat(129) }, /request_id is longer than 128/],
      [{ host: "web1\n" }, /host contains a control character/],
      [{ parametersJson: "not json" }, /parameters_json is not JSON/],
      [{ parametersJson: "[1]" }, /parameters_json is not a JSON object/],
      [{ parametersJson: '{ "unit": "unbound.service" }' }, /not in canonical form/],
      [{ parametersJson: "x".repeat(16 * 1024 + 1) }, /parameters_json is longer than 16384/],
    ];
    for (const [over, reason] of cases) refused({ ...a, ...over }, "MALFORMED", {}, reason);
  });

  it("throws when `now` is given in milliseconds instead of seconds (it would never expire)", () => {
    expect(() => checkApproval(signed(statement(), alice), expectFor(at(Date.now())))).toThrow(/unix seconds/);
  });

  it("approvalToMessage carries the canonical params and the armored signature as bytes", () => {
    const s = statement({ params: { z: 1, a: [1, 2] } });
    const m = approvalToMessage(s, alice.approver.keyId, "ARMORED", '{"action":"x"}');
    expect(m).toEqual({
      requestId: s.id, host: s.host, action: s.action, parametersJson: '{"a":[1,2],"z":1}', requester: s.requester,
      notAfterUnix: s.notAfter, nonce: s.nonce, keyId: alice.approver.keyId, signature: Buffer.from("ARMORED"),
      issuedAtUnix: s.issuedAt, hostKey: s.hostKey, previewHash: s.previewHash, previewJson: '{"action":"x"}', cosignatures: [],
    });
  });
});

// keep the TestKey type referenced for readers of this file's helpers
export type { TestKey };
