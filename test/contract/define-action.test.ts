// The action plans are data (proto/catalog/define-action.ts): these tests render every step of
// every action with sample host facts and check what the helper would be handed — every option
// passes the one option rule, every value the value rule, every {placeholder} resolves, a
// transient step wraps exactly its own command — so a definition that could never run on a real
// host (as once happened to caddy's pre-check, caught only by the nspawn suite) fails here.
import { describe, expect, it } from "vitest";
import { actions } from "../../proto/catalog/actions/index";
import { packageName } from "../../proto/catalog/actions/packages";
import { argvOf, commandLine, holds, renderPlan, renderTemplate, transientUnit, type ActionDef, type Facts, type PlanRun } from "../../proto/catalog/define-action";
import { describeIssues } from "../../shared/zod-issues";
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
    versions: { openssl: { from: "3.0.11-1~deb12u1", to: "3.0.11-1~deb12u2" }, libssl3: { from: "3.0.11-1~deb12u1", to: "3.0.11-1~deb12u2" } },
    pins: ["openssl=3.0.11-1~deb12u2", "libssl3=3.0.11-1~deb12u2"],
    changes: { libssl3: { from: "3.0.11-1~deb12u1", to: "3.0.11-1~deb12u2" }, openssl: { from: "3.0.11-1~deb12u1", to: "3.0.11-1~deb12u2" } },
    touched: ["libssl3", "openssl"],
    ...over,
  };
}

/** The request a plan is rendered for (the broker's ids: "act-" and 12 hex digits). */
const RUN: PlanRun = { requestId: "act-3f9c2a1b7d4e" };

describe("every action's plan, rendered", () => {
  for (const def of actions as readonly ActionDef[]) {
    it(`${def.name}: each example renders to argv that passes the argument rule, with and without systemd`, () => {
      for (const example of def.examples) {
        const params = def.params.parse(example.params) as Record<string, unknown>;
        for (const systemd of [true, false]) {
          const plan = renderPlan(def, params, sampleFacts({ systemd }), RUN);
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
    const ids = (unit: string) => renderPlan(restart, { unit }, sampleFacts({ unit }), RUN).map((s) => s.id);
    expect(ids("caddy.service")).toEqual(["show", "caddy-validate", "restart", "show-after"]);
    expect(ids("unbound.service")).toEqual(["show", "unbound-checkconf", "restart", "show-after"]);
    expect(ids("nginx.service")).toEqual(["show", "restart", "show-after"]);
  });

  it("a transient step runs its command through systemd-run when systemd runs, and directly when it does not", () => {
    const truncate = actions.find((a) => a.name === "truncate_log")!;
    const params = { path: "/var/log/app/debug.log" };
    const [wrapped, stop] = renderPlan(truncate, params, sampleFacts({ systemd: true, paths: { truncate: "/usr/bin/truncate", "systemd-run": "/usr/bin/systemd-run", systemctl: "/usr/bin/systemctl" } }), RUN);
    expect(wrapped!.program).toBe("systemd-run");
    const argv = argvOf(wrapped!);
    expect(argv.slice(argv.indexOf("--"))).toEqual(["--", "/usr/bin/truncate", "--no-create", "--size=0", "--", "/var/log/app/debug.log"]);
    expect(argv).toContain("--property=ReadWritePaths=/var/log/app/debug.log");
    expect(argv).toContain("--property=ProtectSystem=strict");
    expect(argv).toContain("--unit=hostward-3f9c2a1b7d4e-truncate.service");
    // Its stop step, run by plan.run only when the step outlives the deadline, follows it in the plan.
    expect(stop).toMatchObject({ id: "truncate:stop", stops: "truncate", quiet: false });
    expect(commandLine(stop!)).toBe("/usr/bin/systemctl stop --no-pager --no-ask-password -- hostward-3f9c2a1b7d4e-truncate.service");
    const direct = renderPlan(truncate, params, sampleFacts({ systemd: false, paths: { truncate: "/usr/bin/truncate" } }), RUN);
    expect(direct.map(commandLine)).toEqual(["/usr/bin/truncate --no-create --size=0 -- /var/log/app/debug.log"]);
  });

  it("`{name...}` spreads a list into values; `${…}` is not a placeholder", () => {
    expect(renderTemplate("{packages...}", {}, { packages: ["openssl", "libssl3"] })).toEqual(["openssl", "libssl3"]);
    expect(renderTemplate("--showformat=${Package}", {}, {})).toEqual(["--showformat=${Package}"]);
    expect(() => renderTemplate("--x={nope}", {}, {})).toThrow(/neither a fact nor a parameter/);
    expect(() => renderTemplate("a{packages...}", {}, { packages: [] })).toThrow(/whole word/);
  });

  it("facts come before parameters, and a value the host reports cannot smuggle an option", () => {
    const stop = actions.find((a) => a.name === "stop_service")!;
    const plan = renderPlan(stop, { unit: "nginx" }, sampleFacts({ unit: "nginx.service" }), RUN);
    expect(plan.find((s) => s.id === "stop")!.values).toEqual(["nginx.service"]);
    expect(() => renderPlan(stop, { unit: "nginx" }, sampleFacts({ unit: "--now" }), RUN)).toThrow(/refused value/);
  });

  it("holds(): equals and oneOf, on facts then parameters", () => {
    expect(holds({ fact: "signal", oneOf: ["HUP", "USR1"] }, {}, { signal: "HUP" })).toBe(true);
    expect(holds({ fact: "signal", oneOf: ["HUP", "USR1"] }, {}, { signal: "KILL" })).toBe(false);
    expect(holds({ fact: "resolver", equals: "unbound.service" }, { resolver: "unbound.service" }, {})).toBe(true);
    expect(holds(undefined, {}, {})).toBe(true);
  });
});

describe("upgrade_packages, as the approver reads it", () => {
  const upgrade = actions.find((a) => a.name === "upgrade_packages")! as ActionDef;
  const params = { packages: ["openssl", "libssl3"] };
  const paths = { "apt-get": "/usr/bin/apt-get", "dpkg-query": "/usr/bin/dpkg-query", "systemd-run": "/usr/bin/systemd-run", systemctl: "/usr/bin/systemctl" };

  it("pins each package to the previewed candidate, never removes, needrestart only lists; the unit is named by the request", () => {
    const lines = renderPlan(upgrade, params, sampleFacts({ paths }), RUN).map(commandLine);
    expect(lines).toEqual([
      "/usr/bin/dpkg-query --show --showformat=${Package}\\t${Version}\\t${db:Status-Abbrev}\\n -- libssl3 openssl",
      "/usr/bin/systemd-run --wait --pipe --collect --quiet --unit=hostward-3f9c2a1b7d4e-upgrade.service --service-type=exec --property=RuntimeMaxSec=600 --property=TimeoutStopSec=10 --property=NoNewPrivileges=yes --setenv=DEBIAN_FRONTEND=noninteractive --setenv=NEEDRESTART_MODE=l -- /usr/bin/apt-get install --only-upgrade --no-remove --no-install-recommends --yes --quiet --option=Dpkg::Options::=--force-confold -- openssl=3.0.11-1~deb12u2 libssl3=3.0.11-1~deb12u2",
      "/usr/bin/systemctl stop --no-pager --no-ask-password -- hostward-3f9c2a1b7d4e-upgrade.service",
      "/usr/bin/dpkg-query --show --showformat=${Package}\\t${Version}\\t${db:Status-Abbrev}\\n -- libssl3 openssl",
    ]);
    // RuntimeMaxSec= is never more than the action's timeout.
    expect(upgrade.timeoutMs).toBe(600_000);
    const step = renderPlan(upgrade, params, sampleFacts({ paths }), RUN).find((s) => s.id === "upgrade:stop")!;
    expect(step.note).toMatch(/only if upgrade is still running at the action's deadline/);
  });

  it("another request, another unit; a request id is made a valid unit name", () => {
    const unitOf = (requestId: string) => renderPlan(upgrade, params, sampleFacts({ paths }), { requestId }).find((s) => s.id === "upgrade")!.unit;
    expect(unitOf("act-0123456789ab")).toBe("hostward-0123456789ab-upgrade.service");
    expect(transientUnit("e2e-1a2b/../x y;z", "upgrade")).toBe("hostward-e2e-1a2b____x_y_z-upgrade.service");
    expect(transientUnit("", "upgrade")).toBe("hostward-_-upgrade.service");
    expect(transientUnit("x".repeat(200), "upgrade")).toBe(`hostward-${"x".repeat(48)}-upgrade.service`);
    for (const id of ["act-3f9c2a1b7d4e", "req-12345678", "a.b@c:d", "\u00e9t\u00e9"]) expect(transientUnit(id, "truncate")).toMatch(/^hostward-[A-Za-z0-9_-]+-truncate\.service$/);
  });

  it("a package name ending in '-' (apt: remove) is refused, naming the field; g++ and the like are real names", () => {
    for (const name of ["openssl-", "libssl3--"]) {
      const r = upgrade.params.safeParse({ packages: ["libssl3", name] });
      expect(r.success, name).toBe(false);
      expect(describeIssues(r.error!)).toMatch(/^packages\.1: a package name: .*not ending in "-", which apt reads as "remove"/);
    }
    // A trailing "+" is apt's "install" suffix, but Debian has such packages (g++, libdb5.3++) and
    // apt takes an existing package's name first; the upgrade passes name=version in any case.
    for (const name of ["g++", "libstdc++6", "libdb5.3++", "libssl3", "python3.11", "xz-utils", "a0"]) expect(packageName.safeParse(name).success, name).toBe(true);
    for (const name of ["a", "-x", "Openssl", "x=1", "x:amd64", "x/stable", "a".repeat(129)]) expect(packageName.safeParse(name).success, name).toBe(false);
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
