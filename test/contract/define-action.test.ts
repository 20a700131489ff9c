// The action plans are data (proto/catalog/define-action.ts): these tests render every step of
// every action with sample host facts and check what the helper would be handed — every option
// passes the one option rule, every value the value rule, every {placeholder} resolves, a
// transient step wraps exactly its own command — so a definition that could never run on a real
// host (as once happened to caddy's pre-check, caught only by the nspawn suite) fails here.
import { describe, expect, it } from "vitest";
import { actions } from "../../proto/catalog/actions/index";
import { argvOf, commandLine, holds, renderPlan, renderTemplate, type ActionDef, type Facts } from "../../proto/catalog/define-action";
import { buildArgv, isFixedOption, isValue } from "../../shared/programs";

/** Facts as a host's preview reports them (helper/preview.ts), for every preview kind at once. */
function sampleFacts(over: Record<string, unknown> = {}): Facts {
  return {
    systemd: true,
    paths: {},
    unit: "nginx.service",
    loadState: "loaded",
    id: "a".repeat(64),
    name: "web",
    resolver: "unbound.service",
    minutes: 2,
    users: [],
    journalDir: "/var/log/journal",
    path: "/var/log/app/debug.log",
    device: 2049,
    inode: 1234,
    manager: "apt",
    versions: {},
    ...over,
  };
}

describe("every action's plan, rendered", () => {
  for (const def of actions as readonly ActionDef[]) {
    it(`${def.name}: each example renders to argv that passes the argument rule, with and without systemd`, () => {
      for (const example of def.examples) {
        const params = def.params.parse(example.params) as Record<string, unknown>;
        for (const systemd of [true, false]) {
          const plan = renderPlan(def, params, sampleFacts({ systemd }));
          if (def.needsSystemd && !systemd) expect(plan, `${def.name} needs systemd: no step without it`).toEqual([]);
          for (const step of plan) {
            for (const o of step.options) expect(isFixedOption(o), `${def.name}/${step.id}: option ${o}`).toBe(true);
            for (const v of step.values) expect(isValue(v), `${def.name}/${step.id}: value ${v}`).toBe(true);
            expect(commandLine(step)).not.toMatch(/(?<!\$)\{[A-Za-z][A-Za-z0-9]*(\.\.\.)?\}/);
            expect(commandLine(step).startsWith("/") || /^[A-Z_]+=/.test(commandLine(step))).toBe(true);
          }
        }
      }
    });
  }

  it("a step's `when` selects it: caddy's configuration check only for caddy.service", () => {
    const restart = actions.find((a) => a.name === "restart_service")!;
    const ids = (unit: string) => renderPlan(restart, { unit }, sampleFacts({ unit })).map((s) => s.id);
    expect(ids("caddy.service")).toEqual(["show", "caddy-validate", "restart", "show-after"]);
    expect(ids("unbound.service")).toEqual(["show", "unbound-checkconf", "restart", "show-after"]);
    expect(ids("nginx.service")).toEqual(["show", "restart", "show-after"]);
  });

  it("a transient step runs its command through systemd-run when systemd runs, and directly when it does not", () => {
    const truncate = actions.find((a) => a.name === "truncate_log")!;
    const params = { path: "/var/log/app/debug.log" };
    const [wrapped] = renderPlan(truncate, params, sampleFacts({ systemd: true, paths: { truncate: "/usr/bin/truncate", "systemd-run": "/usr/bin/systemd-run" } }));
    expect(wrapped!.program).toBe("systemd-run");
    const argv = argvOf(wrapped!);
    expect(argv.slice(argv.indexOf("--"))).toEqual(["--", "/usr/bin/truncate", "--no-create", "--size=0", "--", "/var/log/app/debug.log"]);
    expect(argv).toContain("--property=ReadWritePaths=/var/log/app/debug.log");
    expect(argv).toContain("--property=ProtectSystem=strict");
    const [direct] = renderPlan(truncate, params, sampleFacts({ systemd: false, paths: { truncate: "/usr/bin/truncate" } }));
    expect(commandLine(direct!)).toBe("/usr/bin/truncate --no-create --size=0 -- /var/log/app/debug.log");
  });

  it("`{name...}` spreads a list into values; `${…}` is not a placeholder", () => {
    expect(renderTemplate("{packages...}", {}, { packages: ["openssl", "libssl3"] })).toEqual(["openssl", "libssl3"]);
    expect(renderTemplate("--showformat=${Package}", {}, {})).toEqual(["--showformat=${Package}"]);
    expect(() => renderTemplate("--x={nope}", {}, {})).toThrow(/neither a fact nor a parameter/);
    expect(() => renderTemplate("a{packages...}", {}, { packages: [] })).toThrow(/whole word/);
  });

  it("facts come before parameters, and a value the host reports cannot smuggle an option", () => {
    const stop = actions.find((a) => a.name === "stop_service")!;
    const plan = renderPlan(stop, { unit: "nginx" }, sampleFacts({ unit: "nginx.service" }));
    expect(plan.find((s) => s.id === "stop")!.values).toEqual(["nginx.service"]);
    expect(() => renderPlan(stop, { unit: "nginx" }, sampleFacts({ unit: "--now" }))).toThrow(/refused value/);
  });

  it("holds(): equals and oneOf, on facts then parameters", () => {
    expect(holds({ fact: "signal", oneOf: ["HUP", "USR1"] }, {}, { signal: "HUP" })).toBe(true);
    expect(holds({ fact: "signal", oneOf: ["HUP", "USR1"] }, {}, { signal: "KILL" })).toBe(false);
    expect(holds({ fact: "resolver", equals: "unbound.service" }, { resolver: "unbound.service" }, {})).toBe(true);
    expect(holds(undefined, {}, {})).toBe(true);
  });
});

describe("the one argument rule (shared/programs.ts)", () => {
  it("accepts the literal operands the actions use", () => {
    for (const o of ["show", "--no-pager", "-p", "--no-ask-password", "flush_zone", ".", "flush-caches", "-r", "+60", "--config=/etc/caddy/Caddyfile", "Id,LoadState"]) {
      expect(isFixedOption(o), o).toBe(true);
    }
  });

  it("refuses what only a caller could send", () => {
    for (const o of ["/etc/passwd", "", "a b", "$(id)", "`id`", ";", "+99999", "..", "-", "nginx\nx", "--x=\u0000"]) expect(isFixedOption(o), JSON.stringify(o)).toBe(false);
    for (const v of ["", "-rf", "--now", "a\nb", "a\u0000b", "a\u007fb"]) expect(isValue(v), JSON.stringify(v)).toBe(false);
    expect(() => buildArgv(["restart"], ["-x"])).toThrow(/refused value/);
    expect(buildArgv(["restart"], ["nginx.service"])).toEqual(["restart", "--", "nginx.service"]);
  });
});
