// The helper's parsers of program output it decides from (helper/preview.ts, helper/actions.ts),
// on real output captured from Debian 12's tools.
import { describe, expect, it } from "vitest";
import { diskUsageBytes } from "../../agent/src/helper/actions";
import { parseDpkgQuery } from "../../agent/src/helper/preview";

describe("journalctl --disk-usage", () => {
  it("reads the size with its unit (powers of 1024), and nothing from other text", () => {
    expect(diskUsageBytes(["Archived and active journals take up 8.0M in the file system."])).toBe(8 * 1024 * 1024);
    expect(diskUsageBytes(["Archived and active journals take up 1.5G in the file system."])).toBe(Math.round(1.5 * 1024 ** 3));
    expect(diskUsageBytes(["Archived and active journals take up 512B in the file system."])).toBe(512);
    expect(diskUsageBytes(["No journal files were found."])).toBeNull();
  });
});

describe("dpkg-query --show with DPKG_SHOWFORMAT", () => {
  it("keeps installed packages (status ii) only, without the architecture qualifier", () => {
    const lines = ["openssl\t3.0.15-1~deb12u1\tii ", "libssl3:amd64\t3.0.15-1~deb12u1\tii ", "removed\t1.0\trc ", "", "garbage"];
    expect([...parseDpkgQuery(lines)]).toEqual([
      ["openssl", "3.0.15-1~deb12u1"],
      ["libssl3", "3.0.15-1~deb12u1"],
    ]);
  });
});
