// proto/catalog/grammar.ts: the grammars every caller value passes before it reaches an argv slot,
// a file API or a resolver (issue 13, deliverable 6). Every export has its accepted and refused
// values; the refusals each name the rule. Regressions found by writing this file: "//" in a path
// was accepted although the doc comment said it was not; "127.1", "2130706433", "0x7f.0.0.1" and
// "1.2.3.4.5" passed as host names (inet_aton reads the first three as 127.0.0.1), and "a..b",
// "..", ":::::" or "abc:def" passed too (the address alphabet was accepted without an address in it).
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import {
  absolutePath,
  canonicalUnit,
  containerName,
  count,
  dnsName,
  hostName,
  ipAddress,
  journalCursor,
  journalTime,
  literalText,
  PRIORITIES,
  priority,
  serviceUnitName,
  tcpPort,
  unitName,
  unitType,
  userName,
} from "../../proto/catalog/grammar";
import { describeIssues } from "../../shared/zod-issues";

/** null when accepted, else the issues worded as a caller sees them. */
function refusal(schema: z.ZodType, value: unknown): string | null {
  const r = schema.safeParse(value);
  return r.success ? null : describeIssues(r.error);
}
const accepts = (schema: z.ZodType, values: unknown[]) => {
  for (const v of values) expect(refusal(schema, v), JSON.stringify(v)).toBeNull();
};
const refuses = (schema: z.ZodType, cases: [unknown, RegExp][]) => {
  for (const [v, why] of cases) expect(refusal(schema, v), JSON.stringify(v)).toMatch(why);
};

// What every token grammar refuses, whatever its alphabet: C0 controls, DEL, a leading "-".
const CONTROLS = ["\0", "\n", "\r", "\t", "\x1b", "\x7f"];

describe("every token grammar", () => {
  const tokens: [string, z.ZodType, string][] = [
    ["unitName", unitName, "nginx"],
    ["containerName", containerName, "web"],
    ["absolutePath", absolutePath, "/var/log"],
    ["hostName", hostName, "example.org"],
    ["dnsName", dnsName, "example.org"],
    ["userName", userName, "www-data"],
    ["journalCursor", journalCursor, "s=1;i=2"],
  ];
  it.each(tokens)("%s refuses control characters anywhere, naming them", (_name, schema, ok) => {
    for (const c of CONTROLS) {
      for (const v of [`${c}${ok}`, `${ok}${c}`, `${ok.slice(0, 1)}${c}${ok.slice(1)}`]) expect(refusal(schema, v), JSON.stringify(v)).toMatch(/contains a control character/);
    }
  });
  it.each(tokens)("%s refuses a leading \"-\" (an option to the program it reaches)", (_name, schema, ok) => {
    expect(refusal(schema, `-${ok}`)).toMatch(/must not start with "-"/);
    expect(refusal(schema, "--")).toMatch(/must not start with "-"/);
  });
  it.each(tokens)("%s refuses non-strings and the empty string", (_name, schema) => {
    for (const v of [undefined, null, 1, ["x"], { toString: () => "x" }]) expect(refusal(schema, v)).not.toBeNull();
    expect(refusal(schema, "")).not.toBeNull();
  });
});

describe("unitName, canonicalUnit, unitType, serviceUnitName", () => {
  it("accepts systemd's alphabet, templates, escapes and every unit type", () => {
    accepts(unitName, ["nginx", "nginx.service", "getty@tty1.service", "systemd-fsck@dev-disk-by\\x2duuid-1.service", "a:b_c.socket", "home.mount", "x".repeat(250)]);
  });
  it("refuses globs, spaces, slashes, over-long names and non-ASCII look-alikes", () => {
    refuses(unitName, [
      ["ng*nx", /not valid/],
      ["nginx?", /not valid/],
      ["[ab].service", /not valid/],
      ["my unit", /not valid/],
      ["../etc/passwd", /not valid/],
      ["a/b.service", /not valid/],
      ["x".repeat(251), /not valid/],
      ["x".repeat(257), /longer than 256/],
      ["ngin\u0445", /not valid/], // Cyrillic ha
      ["nginx\u200b", /not valid/], // zero-width space
      ["nginx\u202e", /not valid/], // right-to-left override
    ]);
  });
  it("canonicalUnit adds .service only where systemctl would", () => {
    expect(canonicalUnit("nginx")).toBe("nginx.service");
    expect(canonicalUnit("nginx.service")).toBe("nginx.service");
    expect(canonicalUnit("nginx.socket")).toBe("nginx.socket");
    expect(canonicalUnit("backup.timer")).toBe("backup.timer");
    expect(canonicalUnit("getty@tty1")).toBe("getty@tty1.service");
    expect(canonicalUnit("foo.bar")).toBe("foo.bar.service"); // not a unit suffix
    expect(canonicalUnit("-.mount")).toBe("-.mount");
  });
  it("unitType reads the suffix as systemd does", () => {
    expect(unitType("nginx")).toBe("service");
    expect(unitType("nginx.socket")).toBe("socket");
    expect(unitType("dev-sda.device")).toBe("device");
    expect(unitType("foo.bar")).toBe("service");
  });
  it("serviceUnitName canonicalises and refuses other unit types, naming the rule", () => {
    expect(serviceUnitName.parse("nginx")).toBe("nginx.service");
    expect(serviceUnitName.parse("getty@tty1.service")).toBe("getty@tty1.service");
    for (const other of ["nginx.socket", "backup.timer", "home.mount", "multi-user.target", "user.slice"]) {
      expect(refusal(serviceUnitName, other), other).toMatch(/unit is not a service/);
    }
    // A refusal for a control character or a "-" is not also called "not a service".
    expect(refusal(serviceUnitName, "-x.socket")).not.toMatch(/not a service/);
    expect(refusal(serviceUnitName, "a\n.socket")).not.toMatch(/not a service/);
  });
});

describe("containerName", () => {
  it("accepts podman names and IDs", () => {
    accepts(containerName, ["web", "web_1", "my.app-2", "0123456789ab", "a".repeat(128)]);
  });
  it("refuses a leading dot or underscore, slashes, colons, spaces and over-long names", () => {
    refuses(containerName, [
      [".hidden", /starting with a letter or digit/],
      ["_x", /starting with a letter or digit/],
      ["a/b", /not valid/],
      ["docker.io/library/nginx:latest", /not valid/],
      ["a b", /not valid/],
      ["a".repeat(129), /longer than 128/],
      ["w\u0435b", /not valid/], // Cyrillic ie
    ]);
  });
});

describe("absolutePath", () => {
  it("accepts absolute paths, the root, a trailing slash and non-ASCII names", () => {
    accepts(absolutePath, ["/", "/var/log/syslog", "/var/log/", "/srv/app name/log.txt", "/var/log/caf\u00e9.log", "/a/.hidden", "/a/..b", "/a/b..", "/" + "a".repeat(4095)]);
  });
  it("refuses relative paths, dot segments, empty segments and over-long paths", () => {
    refuses(absolutePath, [
      ["var/log", /absolute path starting with \//],
      ["./var", /absolute path/],
      ["~/x", /absolute path/],
      ["/var/log/../../etc/shadow", /"\." or "\.\." segments/],
      ["/..", /"\." or "\.\." segments/],
      ["/var/./log", /"\." or "\.\." segments/],
      ["/var/log/.", /"\." or "\.\." segments/],
      ["/var/log/..", /"\." or "\.\." segments/],
      ["//etc/passwd", /"\/\/"/],
      ["/var//log", /"\/\/"/],
      ["/var/log//", /"\/\/"/],
      ["/" + "a".repeat(4096), /longer than 4096/],
      ["/var/log\0/x", /control character/],
    ]);
  });
});

describe("hostName", () => {
  it("accepts DNS names, a trailing dot, IPv4 and IPv6 literals", () => {
    accepts(hostName, ["localhost", "web1", "a.example.org", "example.org.", "xn--caf-dma.example", "1-2.example", "10.0.0.1", "255.255.255.255", "::1", "fe80::1", "2001:db8::8a2e:370:7334", "::ffff:192.0.2.1", `${"a".repeat(63)}.example`]);
  });
  it("refuses what a resolver would read as an address but is not one exactly", () => {
    refuses(hostName, [
      ["127.1", /neither a DNS name nor an IP address/],
      ["2130706433", /neither a DNS name nor an IP address/],
      ["0x7f000001", /neither a DNS name nor an IP address/],
      ["0x7f.0.0.1", /neither a DNS name nor an IP address/],
      ["127.0.0.0x1", /neither a DNS name nor an IP address/],
      ["1.2.3.4.5", /neither a DNS name nor an IP address/],
      ["256.1.1.1", /neither a DNS name nor an IP address/],
      ["01.02.03.04", /neither a DNS name nor an IP address/],
      [":::::", /neither a DNS name nor an IP address/],
      ["abc:def", /neither a DNS name nor an IP address/],
      ["[::1]", /not valid/],
      ["10.0.0.1:22", /neither a DNS name nor an IP address/],
    ]);
  });
  it("refuses labels outside RFC 1123, URLs, user@ forms and non-ASCII names", () => {
    refuses(hostName, [
      ["a..b", /neither a DNS name nor an IP address/],
      ["..", /neither a DNS name nor an IP address/],
      ["...", /neither a DNS name nor an IP address/],
      [".example", /not valid/],
      ["ex_ample.org", /not valid/],
      ["exa-.org", /not valid/],
      [`${"a".repeat(64)}.example`, /not valid/],
      ["a".repeat(254), /longer than 253/],
      ["http://example.org", /not valid/],
      ["root@example.org", /not valid/],
      ["caf\u00e9.example", /not valid/],
      ["\u0435xample.org", /not valid/], // Cyrillic ie
      ["example.org\u200b", /not valid/],
      ["a b", /not valid/],
    ]);
  });
});

describe("dnsName", () => {
  it("accepts names with _ labels (SRV), PTR names and IP literals", () => {
    accepts(dnsName, ["example.org", "_sip._tcp.example.org", "_dmarc.example.org", "1.2.0.192.in-addr.arpa", "192.0.2.1", "2001:db8::1", "example.org."]);
  });
  it("refuses IP look-alikes, empty labels and non-ASCII names", () => {
    refuses(dnsName, [
      ["127.1", /neither a DNS name nor an IP address/],
      ["1.2.3.4.5", /neither a DNS name nor an IP address/],
      [":::", /neither a DNS name nor an IP address/],
      ["a..b", /neither a DNS name nor an IP address/],
      ["..", /neither a DNS name nor an IP address/],
      ["...", /neither a DNS name nor an IP address/],
      ["caf\u00e9.example", /not valid/],
      ["a".repeat(254), /longer than 253/],
    ]);
  });
});

describe("ipAddress", () => {
  it("accepts IPv4 and IPv6 literals", () => {
    accepts(ipAddress, ["192.0.2.53", "0.0.0.0", "::", "::1", "2001:4860:4860::8888"]);
  });
  it("refuses names, ports, brackets, zones and malformed literals", () => {
    refuses(ipAddress, [
      ["dns.google", /IPv4 or IPv6/],
      ["192.0.2.53:53", /no port/],
      ["[::1]", /IPv4 or IPv6/],
      ["fe80::1%eth0", /IPv4 or IPv6/],
      ["256.0.0.1", /no port, no brackets/],
      ["1.2.3", /no port, no brackets/],
      ["1", /IPv4 or IPv6/],
      ["a".repeat(46), /longer than 45/],
    ]);
  });
});

describe("userName", () => {
  it("accepts POSIX user names, a trailing $ (machine accounts) and the 32-character bound", () => {
    accepts(userName, ["root", "www-data", "_apt", "systemd-network", "user.name", "host$", "a".repeat(32), `${"a".repeat(32)}$`]);
  });
  it("refuses upper case, leading digits, slashes, spaces, over-long and non-ASCII names", () => {
    refuses(userName, [
      ["Root", /POSIX user name/],
      ["1user", /POSIX user name/],
      ["a/b", /POSIX user name/],
      ["a b", /POSIX user name/],
      ["a$b", /POSIX user name/],
      ["a".repeat(33), /POSIX user name/],
      ["a".repeat(34), /longer than 33/],
      ["r\u043eot", /POSIX user name/], // Cyrillic o
    ]);
  });
});

describe("literalText", () => {
  const text = literalText("pattern", 8);
  it("accepts free text up to its bound, a leading dash and any script included", () => {
    accepts(text, ["x", "-v", "a b c", "caf\u00e9", "\u0395\u03bb\u03bb\u03ac\u03b4\u03b1", "12345678"]);
    accepts(literalText("reason"), ["r".repeat(256)]);
  });
  it("refuses empty text, control characters and text over its bound, naming the field", () => {
    refuses(text, [
      ["", /pattern must not be empty/],
      ["a\nb", /pattern contains a control character/],
      ["a\0", /pattern contains a control character/],
      ["\x1b[2J", /pattern contains a control character/],
      ["123456789", /pattern is longer than 8 characters/],
    ]);
    refuses(literalText("reason"), [["r".repeat(257), /longer than 256/]]);
  });
});

describe("journalTime", () => {
  it("accepts the relative, named and absolute forms", () => {
    accepts(journalTime, ["-1h", "-30min", "-2d", "-45s", "-10sec", "-5m", "-1w", "-999999h", "now", "today", "yesterday", "2026-01-31", "2026-01-31 12:30", "2026-01-31 12:30:59"]);
  });
  it("refuses everything else, including what journalctl would accept but the safe subset does not", () => {
    for (const v of ["", "1h", "+1h", "-1 h", "-1000000h", "-1y", "tomorrow", "Now", "2026-1-31", "2026-01-31T12:30", "2026-01-31 12:30:59.5", "@1700000000", "-1h; rm", "now\n", "2026-01-31 12:30:59 UTC", "x".repeat(33)]) {
      expect(refusal(journalTime, v), JSON.stringify(v)).toMatch(/time must be relative|longer than 32/);
    }
  });
});

describe("priority, PRIORITIES", () => {
  it("accepts journald's eight priority names, in severity order, and nothing else", () => {
    expect(PRIORITIES).toEqual(["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]);
    accepts(priority, [...PRIORITIES]);
    for (const v of ["error", "warn", "ERR", "3", 3, "", "emerg "]) expect(refusal(priority, v), String(v)).not.toBeNull();
  });
});

describe("journalCursor", () => {
  it("accepts journalctl's cursor alphabet up to 512 characters", () => {
    accepts(journalCursor, ["s=0123abcd;i=1f;b=abc;m=2a;t=5f;x=99", "a".repeat(512)]);
  });
  it("refuses other characters and longer cursors", () => {
    refuses(journalCursor, [
      ["s=1 i=2", /journal cursor/],
      ["s=1;i=2\u200b", /journal cursor/],
      ["s=1;i=2/..", /journal cursor/],
      ["a".repeat(513), /longer than 512/],
    ]);
  });
});

describe("tcpPort", () => {
  it("accepts 1 to 65535 and refuses 0, out-of-range, fractions and strings", () => {
    accepts(tcpPort, [1, 22, 443, 65535]);
    for (const v of [0, -1, 65536, 22.5, "22", NaN, Infinity, null]) expect(refusal(tcpPort, v), String(v)).not.toBeNull();
  });
});

describe("count", () => {
  const lines = count(1, 100, 20);
  it("defaults when absent and accepts its bounds", () => {
    expect(lines.parse(undefined)).toBe(20);
    expect(lines.parse(1)).toBe(1);
    expect(lines.parse(100)).toBe(100);
  });
  it("refuses values outside its bounds, fractions and strings", () => {
    for (const v of [0, 101, -5, 2.5, "10", NaN, null]) expect(refusal(lines, v), String(v)).not.toBeNull();
  });
});
