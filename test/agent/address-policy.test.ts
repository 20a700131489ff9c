// The address policy of network probes (agent/src/address-policy.ts): which addresses
// test_connectivity, dns_lookup's server and check_http may reach. Pure: no traffic here.
import { describe, expect, it } from "vitest";
import {
  assertAddressesAllowed,
  checkAddress,
  classifyAddress,
  normaliseAddress,
  type AddressCategory,
  type AddressPolicy,
} from "../../agent/src/address-policy";
import { DiagnosticError } from "../../agent/src/diagnostics/context";

const DEFAULT: AddressPolicy = { allowLinkLocal: false, allowLoopback: true };
const OPEN: AddressPolicy = { allowLinkLocal: true, allowLoopback: true };
const NO_LOOPBACK: AddressPolicy = { allowLinkLocal: false, allowLoopback: false };

describe("classifyAddress", () => {
  const cases: [string, AddressCategory][] = [
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["::", "unspecified"],
    ["0:0:0:0:0:0:0:0", "unspecified"],
    ["255.255.255.255", "broadcast"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["ff02::1", "multicast"],
    ["FF05::FB", "multicast"],
    ["240.0.0.1", "reserved"],
    ["::1.2.3.4", "reserved"],
    ["169.254.169.254", "metadata"],
    ["169.254.170.2", "metadata"],
    ["168.63.129.16", "metadata"],
    ["100.100.100.200", "metadata"],
    ["fd00:ec2::254", "metadata"],
    ["FD00:EC2:0:0:0:0:0:254", "metadata"],
    ["169.254.0.1", "link-local"],
    ["169.254.255.255", "link-local"],
    ["fe80::1", "link-local"],
    ["febf:ffff::1", "link-local"],
    ["fe80::1%eth0", "link-local"],
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["::1", "loopback"],
    ["0:0:0:0:0:0:0:1", "loopback"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "private"],
    ["fd12:3456::1", "private"],
    ["8.8.8.8", "public"],
    ["172.32.0.1", "public"],
    ["169.253.255.255", "public"],
    ["2001:db8::1", "public"],
    ["fec0::1", "public"],
    ["2606:4700:4700::1111", "public"],
  ];
  for (const [address, category] of cases) {
    it(`${address} is ${category}`, () => {
      expect(classifyAddress(address).category).toBe(category);
    });
  }

  it("refuses what is not an IP literal with INVALID_ARGUMENT", () => {
    for (const bad of ["example.org", "", "1.2.3", "1.2.3.4.5", "::g", "127.0.0.1 ", "-1.2.3.4"]) {
      expect(() => classifyAddress(bad), bad).toThrowError(DiagnosticError);
    }
  });
});

describe("normaliseAddress", () => {
  it("turns IPv4-mapped IPv6 (dotted and hex) into the IPv4 address", () => {
    expect(normaliseAddress("::ffff:169.254.169.254")).toEqual({ address: "169.254.169.254", family: 4 });
    expect(normaliseAddress("::ffff:a9fe:a9fe")).toEqual({ address: "169.254.169.254", family: 4 });
    expect(normaliseAddress("0:0:0:0:0:ffff:7f00:1")).toEqual({ address: "127.0.0.1", family: 4 });
    expect(normaliseAddress("::FFFF:10.0.0.1")).toEqual({ address: "10.0.0.1", family: 4 });
  });

  it("turns NAT64 well-known-prefix addresses into the embedded IPv4 address", () => {
    expect(normaliseAddress("64:ff9b::a9fe:a9fe")).toEqual({ address: "169.254.169.254", family: 4 });
    expect(normaliseAddress("64:ff9b::8.8.8.8")).toEqual({ address: "8.8.8.8", family: 4 });
  });

  it("drops an IPv6 zone and lower-cases", () => {
    expect(normaliseAddress("FE80::1%eth0")).toEqual({ address: "fe80::1", family: 6 });
  });

  it("leaves other addresses alone and rejects non-addresses", () => {
    expect(normaliseAddress("2001:db8::1")).toEqual({ address: "2001:db8::1", family: 6 });
    expect(normaliseAddress("::ffff:0:1:2")).toEqual({ address: "::ffff:0:1:2", family: 6 });
    expect(normaliseAddress("10.0.0.1")).toEqual({ address: "10.0.0.1", family: 4 });
    expect(normaliseAddress("localhost")).toBeNull();
    expect(normaliseAddress("999.1.1.1")).toBeNull();
  });
});

describe("checkAddress under the default policy (no link-local, loopback allowed)", () => {
  const refused = [
    "0.0.0.0",
    "::",
    "255.255.255.255",
    "224.0.0.251",
    "ff02::fb",
    "240.1.2.3",
    "169.254.169.254",
    "::ffff:169.254.169.254",
    "::ffff:a9fe:a9fe",
    "64:ff9b::a9fe:a9fe",
    "fd00:ec2::254",
    "100.100.100.200",
    "168.63.129.16",
    "169.254.1.1",
    "fe80::1",
    "fe80::abcd%lo",
  ];
  for (const a of refused) {
    it(`refuses ${a}`, () => {
      const v = checkAddress(a, DEFAULT);
      expect(v.allowed).toBe(false);
      expect(v.reason).toMatch(/refused/);
    });
  }
  const allowed = ["127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1", "10.0.0.1", "192.168.0.10", "8.8.8.8", "2001:db8::2", "fd12::1"];
  for (const a of allowed) {
    it(`allows ${a}`, () => {
      const v = checkAddress(a, DEFAULT);
      expect(v.allowed).toBe(true);
      expect(v.reason).toBeNull();
    });
  }

  it("names the config switch in the reason", () => {
    expect(checkAddress("169.254.169.254", DEFAULT).reason).toMatch(/cloud metadata.*network\.allowLinkLocal/);
    expect(checkAddress("fe80::1", DEFAULT).reason).toMatch(/link-local.*network\.allowLinkLocal/);
    expect(checkAddress("127.0.0.1", NO_LOOPBACK).reason).toMatch(/loopback.*network\.allowLoopback/);
    expect(checkAddress("0.0.0.0", OPEN).reason).toMatch(/always refused/);
  });
});

describe("checkAddress with the switches", () => {
  it("allowLinkLocal opens link-local and metadata, never unspecified, multicast or broadcast", () => {
    for (const a of ["169.254.169.254", "169.254.1.1", "fe80::1", "fd00:ec2::254", "100.100.100.200"]) {
      expect(checkAddress(a, OPEN).allowed, a).toBe(true);
    }
    for (const a of ["0.0.0.0", "::", "255.255.255.255", "224.0.0.1", "ff02::1", "240.0.0.1", "::ffff:0.0.0.0"]) {
      expect(checkAddress(a, OPEN).allowed, a).toBe(false);
    }
  });

  it("allowLoopback false refuses 127.0.0.0/8, ::1 and mapped loopback", () => {
    for (const a of ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "::ffff:7f00:1"]) {
      expect(checkAddress(a, NO_LOOPBACK).allowed, a).toBe(false);
    }
    expect(checkAddress("10.0.0.1", NO_LOOPBACK).allowed).toBe(true);
  });

  it("reports the normalised address and family", () => {
    expect(checkAddress("::ffff:8.8.4.4", DEFAULT)).toMatchObject({ address: "8.8.4.4", family: 4, category: "public", allowed: true });
  });
});

describe("assertAddressesAllowed", () => {
  it("passes when every address is allowed and returns the verdicts in order", () => {
    const v = assertAddressesAllowed(["127.0.0.1", "::1"], DEFAULT, "host", "localhost");
    expect(v.map((x) => x.address)).toEqual(["127.0.0.1", "::1"]);
  });

  it("refuses the whole name when one resolved address is refused, naming field, name and address", () => {
    let err: unknown;
    try {
      assertAddressesAllowed(["93.184.216.34", "169.254.169.254"], DEFAULT, "url", "evil.example");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DiagnosticError);
    expect((err as DiagnosticError).code).toBe("PERMISSION_DENIED");
    expect((err as DiagnosticError).message).toMatch(/^url: refused \("evil\.example" resolves to 169\.254\.169\.254\): .*metadata/);
  });

  it("does not repeat the address when the caller gave it literally", () => {
    expect(() => assertAddressesAllowed(["fe80::1"], DEFAULT, "host", "fe80::1")).toThrowError(/^host: refused: fe80::1 is a link-local/);
  });
});
