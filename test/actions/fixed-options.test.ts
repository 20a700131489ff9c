// Every option the helper passes to a program must pass its own option rule (helper/spawn.ts), or
// the action could never run on a real host — as once happened to caddy's pre-check, caught only by
// the nspawn suite. Here it is caught without one.
import { describe, expect, it } from "vitest";
import { CONFIG_CHECKS } from "../../agent/src/helper/actions";
import { isFixedOption } from "../../agent/src/helper/spawn";

describe("the helper's fixed options", () => {
  it.each(Object.entries(CONFIG_CHECKS))("%s's configuration check passes the option rule", (_unit, check) => {
    for (const o of check.options) expect(isFixedOption(o), o).toBe(true);
  });

  it("accepts the literal operands the actions use", () => {
    for (const o of ["show", "--no-pager", "-p", "--no-ask-password", "flush_zone", ".", "flush-caches", "-r", "+60", "--config=/etc/caddy/Caddyfile"]) {
      expect(isFixedOption(o), o).toBe(true);
    }
  });

  it("refuses what only a caller could send", () => {
    for (const o of ["/etc/passwd", "", "a b", "$(id)", "`id`", ";", "+99999", "..", "-", "nginx\nx"]) expect(isFixedOption(o), JSON.stringify(o)).toBe(false);
  });
});
