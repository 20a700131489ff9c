// The runbooks (proto/catalog/runbooks/, issue 17) against the catalog and the broker's real tool
// list: every tool and action they name exists, every condition is typed against the tool's output
// schema, every call is valid for the tool's input schema once its templates are filled — and the
// same checker refuses a runbook that breaks any of these (negative controls). Their arguments are
// validated naming the argument; the prompt's text names no shell command; docs/runbooks.md is fresh.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { allTools } from "../../broker/src/mcp/tools/index";
import { checkGates, rolloutStrategy } from "../../broker/src/rollouts/strategy";
import { findAction } from "../../proto/catalog/actions/index";
import { diagnostics } from "../../proto/catalog/diagnostics/index";
import { outputField } from "../../proto/catalog/output-fields";
import {
  checkRunbook,
  defineRunbook,
  exampleCalls,
  parseRunbookArgs,
  renderRunbook,
  type RunbookArgKind,
  type RunbookDef,
  type RunbookStep,
  type ToolSchemas,
} from "../../proto/catalog/runbooks/define";
import { findRunbook, runbooks } from "../../proto/catalog/runbooks/index";
import { renderRunbooksDoc } from "../../scripts/runbooks-doc";
import { schemaOnlyBroker } from "../../scripts/tool-schemas";
import { describeIssues } from "../../shared/zod-issues";

const root = join(import.meta.dirname, "../..");

/** Every tool the broker registers (diagnostics included), with the schemas it serves, as scripts/tool-schemas.ts builds them. */
const tools: ReadonlyMap<string, ToolSchemas> = new Map(allTools(schemaOnlyBroker()).map((t) => [t.name, { input: t.input, output: t.output }]));

/** Arguments as a client would send them, per kind. */
const SAMPLE: Record<RunbookArgKind, string> = {
  host: "web1",
  tag: "web",
  target: "all",
  unit: "nginx",
  path: "/var/log/app/debug.log",
  url: "https://www.example.org/",
  domain: "db.internal.example",
  text: "anything",
};

function sampleArgs(def: RunbookDef, all: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of def.arguments) if (all || a.required) out[a.name] = a.example ?? SAMPLE[a.kind];
  return out;
}

function rendered(def: RunbookDef, all: boolean): string {
  const parsed = parseRunbookArgs(def, sampleArgs(def, all));
  if (!parsed.ok) throw new Error(parsed.problems.join("; "));
  return renderRunbook(def, parsed.args);
}

/** The runbook as written, with one step replaced. */
function withStep(def: RunbookDef, index: number, step: Partial<RunbookStep>): RunbookDef {
  return { ...def, steps: def.steps.map((s, i) => (i === index ? { ...s, ...step } : s)) };
}

const unitFailed = findRunbook("unit_failed")!;

describe("the runbooks", () => {
  it("are the eight of the issue, in its order, each found by its prompt name", () => {
    expect(runbooks.map((r) => r.name)).toEqual(["unit_failed", "disk_filling", "high_load", "dns_failing", "tls_expiring", "host_unreachable", "after_reboot", "fleet_health_sweep"]);
    for (const r of runbooks) expect(findRunbook(r.name)).toBe(r);
    expect(findRunbook("rm_rf")).toBeUndefined();
  });

  it.each(runbooks.map((r) => [r.name, r] as const))("%s holds against the catalog and the broker's tools", (_name, r) => {
    expect(checkRunbook(r, tools)).toEqual([]);
  });

  it("name only tools that exist (diagnostics or the broker's) and actions of the catalog", () => {
    const diagnosticNames = new Set<string>(diagnostics.map((d) => d.name));
    for (const r of runbooks) {
      for (const s of r.steps) expect(diagnosticNames.has(s.tool) || tools.has(s.tool), `${r.name}: ${s.tool}`).toBe(true);
      for (const p of r.repairs) expect(findAction(p.action), `${r.name}: ${p.action}`).toBeDefined();
    }
    // The broker's list really is the served one: the diagnostics, and its own tools.
    for (const d of diagnostics) expect(tools.has(d.name)).toBe(true);
    for (const t of ["ping_hosts", "describe_host", "compare_hosts", "propose_action", "propose_rollout"]) expect(tools.has(t)).toBe(true);
  });

  it("make calls valid for each tool's input schema, with every argument given and with only the required ones", () => {
    let calls = 0;
    for (const r of runbooks) {
      for (const all of [true, false]) {
        const { steps, proposals } = exampleCalls(r, all);
        for (const c of [...steps, ...proposals]) {
          const parsed = tools.get(c.tool)!.input.safeParse(c.args);
          expect(parsed.success, `${r.name} ${c.tool} ${JSON.stringify(c.args)}: ${parsed.success ? "" : describeIssues(parsed.error)}`).toBe(true);
          calls += 1;
        }
      }
    }
    expect(calls).toBeGreaterThan(100);
  });

  it("propose roll-outs whose strategy the broker accepts and whose gates it types (checkGates)", () => {
    let rollouts = 0;
    for (const r of runbooks) {
      for (const c of exampleCalls(r, true).proposals.filter((p) => p.tool === "propose_rollout")) {
        const strategy = rolloutStrategy.parse(c.args.strategy);
        expect(checkGates(strategy.gates), r.name).toEqual([]);
        rollouts += 1;
      }
    }
    expect(rollouts).toBeGreaterThanOrEqual(3);
  });

  it("say what to do when no typed repair fits", () => {
    for (const r of runbooks) expect(r.noRepair, r.name).toMatch(/hostward (has no action|cannot act)/);
  });
});

describe("checkRunbook refuses a runbook that breaks the contract, naming where", () => {
  it("a tool that does not exist", () => {
    expect(checkRunbook(withStep(unitFailed, 1, { tool: "get_service_statu" }), tools)).toEqual([
      'steps[1].tool: "get_service_statu" is neither a diagnostic of the catalog nor a tool of the broker',
    ]);
  });

  it("a field the output does not have, a type that does not fit, an enum value it never takes, an order on a string", () => {
    const bad = withStep(unitFailed, 4, {
      lookFor: [
        { field: "verdikt", op: "==", value: "healthy", meaning: "" },
        { field: "status.restarts", op: "==", value: "3", meaning: "" },
        { field: "verdict", op: "==", value: "sick", meaning: "" },
        { field: "unit", op: ">", value: "a", meaning: "" },
        { field: "failedDependencies", op: "==", value: 1, meaning: "" },
        { field: "failedDependencies[].unit", op: "nonEmpty", meaning: "" },
        { field: "unit", op: "==", value: { field: "status.restarts" }, meaning: "" },
        { field: "status.loadError", op: "==", value: null, meaning: "" },
        { field: "unit", op: "==", value: null, meaning: "" },
      ],
    });
    expect(checkRunbook(bad, tools)).toEqual([
      expect.stringMatching(/^steps\[4\]\.lookFor\[0\]\.field: verdikt is not a field \(fields there: unit, verdict, reasons/),
      "steps[4].lookFor[1].value: status.restarts is a number, not a string",
      'steps[4].lookFor[2].value: "sick" is not a value of verdict ("healthy", "degraded", "failed", "inactive")',
      "steps[4].lookFor[3].op: > compares numbers; unit is a string (use == or !=)",
      expect.stringMatching(/^steps\[4\]\.lookFor\[4\]\.field: failedDependencies is an array/),
      "steps[4].lookFor[5].op: nonEmpty reads an array; failedDependencies[].unit is a string",
      "steps[4].lookFor[6].value: unit is a string, not a number",
      "steps[4].lookFor[8].value: unit is never null",
    ]);
  });

  it("a broker tool's field, typed against that tool's own output", () => {
    const host = findRunbook("host_unreachable")!;
    expect(checkRunbook(withStep(host, 0, { lookFor: [{ field: "results[].data.catalogMatched", op: "==", value: false, meaning: "" }] }), tools)).toEqual([
      expect.stringMatching(/^steps\[0\]\.lookFor\[0\]\.field: results\[\]\.data\.catalogMatched is not a field \(fields there: serving, latencyMs/),
    ]);
  });

  it("an input the diagnostic refuses, a target the tools cannot read, a template that names nothing, an optional argument not required", () => {
    expect(checkRunbook(withStep(unitFailed, 2, { input: { unit: "{unit}", lines: 5000 } }), tools)).toEqual([
      expect.stringMatching(/^steps\[2\]\.input: not a valid call of get_service_logs \(every argument given\): lines: /),
      expect.stringMatching(/^steps\[2\]\.input: not a valid call of the tool get_service_logs \(every argument given\): lines: /),
    ]);
    expect(checkRunbook(withStep(unitFailed, 0, { target: "{host}, -x" }), tools)).toContain('steps[0].target: "web1, -x" is not a target (every argument given)');
    expect(checkRunbook(withStep(unitFailed, 0, { target: "{hots}" }), tools)).toEqual(["steps[0]: {hots} is neither an argument nor a fill"]);
    const disk = findRunbook("disk_filling")!;
    expect(checkRunbook(withStep(disk, 3, { requires: [], input: { path: "{logFile}.1" } }), tools)).toEqual([expect.stringMatching(/^steps\[3\]: \{logFile\} is an optional argument without a default: list it in requires/)]);
    expect(checkRunbook(withStep(disk, 3, { requires: ["host"] }), tools)).toContain('steps[3].requires: "host" is not an optional argument');
  });

  it("an action that does not exist, parameters it refuses, a roll-out gate on a missing field", () => {
    const repairs = [
      { action: "restart_everything", when: "never" },
      { action: "restart_service", params: { unit: "nginx.socket" }, when: "never" },
      { action: "vacuum_journal", params: { by: "size", maxBytes: 1 }, when: "never" },
      { action: "flush_dns_cache", target: "*", when: "never" },
      { action: "flush_dns_cache", target: "*", rollout: true as const, strategy: { gates: [{ diagnostic: "dns_lookup", input: { name: "x.example" }, when: [{ field: "answer", op: "==", value: "x" }] }] }, when: "never" },
    ];
    expect(checkRunbook({ ...unitFailed, repairs }, tools)).toEqual([
      'repairs[0].action: "restart_everything" is not an action of the catalog',
      expect.stringMatching(/^repairs\[1\]\.params: not a valid call of the action restart_service \(every argument given\): unit: unit is not a service/),
      expect.stringMatching(/^repairs\[1\]: not a valid call of propose_action \(every argument given\)/),
      expect.stringMatching(/^repairs\[2\]\.params: not a valid call of the action vacuum_journal \(every argument given\): maxBytes: /),
      expect.stringMatching(/^repairs\[2\]: not a valid call of propose_action/),
      'repairs[3].target: "*" is not one host\'s name (every argument given)',
      expect.stringMatching(/^repairs\[3\]: not a valid call of propose_action/),
      expect.stringMatching(/^repairs\[4\]\.strategy\.gates\[0\]\.when\[0\]\.field: answer is not a field/),
    ]);
  });

  it("defineRunbook refuses a malformed definition at once", () => {
    expect(() => defineRunbook({ ...unitFailed, name: "Unit-Failed" })).toThrow(/not snake_case/);
    expect(() => defineRunbook({ ...unitFailed, arguments: [...unitFailed.arguments, unitFailed.arguments[0]!] })).toThrow(/declared twice/);
    expect(() => defineRunbook({ ...unitFailed, fill: { host: { from: "x", example: "y" } } })).toThrow(/also an argument/);
  });
});

describe("parseRunbookArgs", () => {
  it("returns the values, normalised, with the defaults of those not given", () => {
    expect(parseRunbookArgs(unitFailed, { host: "web1", unit: "nginx" })).toEqual({ ok: true, args: { host: "web1", unit: "nginx.service", since: "-1h" } });
    expect(parseRunbookArgs(unitFailed, { host: "web1", unit: "backup.timer", since: "-1d" })).toEqual({ ok: true, args: { host: "web1", unit: "backup.timer", since: "-1d" } });
    // An empty string is an argument not given (clients send "" for an empty field).
    expect(parseRunbookArgs(unitFailed, { host: "web1", unit: "nginx", since: "" })).toMatchObject({ ok: true, args: { since: "-1h" } });
    const sweep = findRunbook("fleet_health_sweep")!;
    expect(parseRunbookArgs(sweep, undefined)).toEqual({ ok: true, args: { target: "*" } });
    expect(parseRunbookArgs(sweep, { target: "all" })).toEqual({ ok: true, args: { target: "*" } });
    expect(parseRunbookArgs(sweep, { target: "web1, tag:db" })).toEqual({ ok: true, args: { target: "web1, tag:db" } });
  });

  it("refuses bad values, each problem naming its argument", () => {
    const problems = (def: RunbookDef, raw: Record<string, string> | undefined) => {
      const r = parseRunbookArgs(def, raw);
      return r.ok ? [] : r.problems;
    };
    expect(problems(unitFailed, { host: "-oProxyCommand=x", unit: "nginx" })).toEqual([expect.stringMatching(/^argument "host": host name must start with a letter or digit/)]);
    expect(problems(unitFailed, { host: "web1\nsudo reboot", unit: "nginx" })).toEqual(['argument "host" contains a control character (NUL, newline, …)']);
    expect(problems(unitFailed, { host: "web1", unit: "nginx\u0000" })).toEqual(['argument "unit" contains a control character (NUL, newline, …)']);
    expect(problems(unitFailed, { host: "web1", unit: "-nginx" })).toEqual(['argument "unit": unit name must not start with "-"']);
    expect(problems(unitFailed, { host: "web1", unit: "ng*" })).toEqual([expect.stringMatching(/^argument "unit": unit name is not valid/)]);
    expect(problems(unitFailed, { host: "web1", unit: "nginx", since: "last tuesday" })).toEqual([expect.stringMatching(/^argument "since": time must be relative/)]);
    expect(problems(unitFailed, { host: "web1", unit: "nginx", shell: "bash" })).toEqual(['unknown argument "shell" (unit_failed takes: host, unit, since)']);
    expect(problems(unitFailed, { host: "web1" })).toEqual([expect.stringMatching(/^argument "unit" is required: /)]);
    expect(problems(unitFailed, undefined)).toEqual([expect.stringMatching(/^argument "host" is required/), expect.stringMatching(/^argument "unit" is required/)]);
    const tls = findRunbook("tls_expiring")!;
    expect(problems(tls, { host: "web1", url: "https://user:pw@www.example.org/" })).toEqual(['argument "url": url must not contain credentials (user:password@)']);
    expect(problems(tls, { host: "web1", url: "file:///etc/shadow" })).toEqual([expect.stringMatching(/^argument "url": url must start with http:\/\/ or https:\/\//)]);
    expect(problems(findRunbook("fleet_health_sweep")!, { target: "web1,,tag:db" })).toEqual([expect.stringMatching(/^argument "target": target must be a host name/)]);
    expect(problems(findRunbook("dns_failing")!, { host: "web1", name: "a..b" })).toEqual([expect.stringMatching(/^argument "name": /)]);
    expect(problems(findRunbook("after_reboot")!, { host: "web1", tag: "web,db" })).toEqual([expect.stringMatching(/^argument "tag": tag must start/)]);
  });
});

describe("renderRunbook", () => {
  const texts = runbooks.flatMap((r) => [true, false].map((all) => [`${r.name} (${all ? "every argument" : "required only"})`, r, rendered(r, all)] as const));

  it.each(texts)("%s names no shell command", (_label, _r, text) => {
    const shellLines = text.split("\n").filter((l) => /^\s*(?:sudo\b|systemctl |\$ |#!)/.test(l));
    expect(shellLines).toEqual([]);
    expect(text).not.toMatch(/\bsudo\b/);
  });

  it.each(texts)("%s: each call is the named tool's JSON, valid for it where no value is left to read off a step", (_label, r, text) => {
    const calls = [...text.matchAll(/Call `([a-z_]+)` with:\n\n\s*```json\n\s*(.+)\n/g)];
    expect(calls.length).toBeGreaterThan(0);
    for (const [, tool, json] of calls) {
      const args = JSON.parse(json!) as Record<string, unknown>;
      expect(tools.has(tool!), tool).toBe(true);
      const open = JSON.stringify(args).includes('"<');
      if (!open) {
        const parsed = tools.get(tool!)!.input.safeParse(args);
        expect(parsed.success, `${r.name} ${tool} ${json}: ${parsed.success ? "" : describeIssues(parsed.error)}`).toBe(true);
      }
    }
  });

  it.each(texts)("%s shows each repair's impact from the catalog and ends saying nothing runs until a human approves", (_label, r, text) => {
    for (const p of r.repairs) if (text.includes(`**${p.action}**`)) expect(text).toContain(`**${p.action}**${p.rollout ? " (roll-out)" : ""}: impact **${findAction(p.action)!.impact}**`);
    const last = text.trimEnd().split("\n## ").at(-1)!;
    expect(last).toMatch(/^Nothing runs until a human approves\n/);
  });

  it("fills the arguments in, and leaves out what needs an argument not given, saying so", () => {
    const disk = findRunbook("disk_filling")!;
    const without = rendered(disk, false);
    expect(without).toContain('{"target":"web1"}');
    expect(without).toMatch(/step 4, `read_log_file`, needs the argument `logFile`/);
    expect(without).not.toContain("Call `read_log_file`");
    expect(without).toContain("### 5. get_kernel_messages");
    const withAll = rendered(disk, true);
    expect(withAll).toContain('{"target":"web1","mountPoint":"/var"}');
    expect(withAll).toContain('"request":{"action":"truncate_log","path":"/var/log/app/debug.log"}');
    const unit = renderRunbook(unitFailed, { host: "web1", unit: "nginx.service", since: "-1h" });
    expect(unit).toContain('{"target":"web1","unit":"nginx.service","since":"-1h","lines":100}');
    expect(unit).toContain('"unit":"<failedDependency: a unit of step 5\'s failedDependencies[].unit>"');
  });

  it("says a repair does not apply when the arguments rule it out (a timer is no service)", () => {
    const parsed = parseRunbookArgs(unitFailed, { host: "web1", unit: "backup.timer" });
    if (!parsed.ok) throw new Error(parsed.problems.join("; "));
    const text = renderRunbook(unitFailed, parsed.args);
    expect(text).toMatch(/\*\*restart_service\*\*[^\n]*\n {2}When: [^\n]*\n {2}Not applicable with these arguments: unit: unit is not a service/);
    expect(text).not.toContain('"action":"restart_service","unit":"backup.timer"');
  });
});

describe("output fields (proto/catalog/output-fields.ts)", () => {
  const schema = z.object({
    a: z.array(z.object({ n: z.number().nullable(), e: z.enum(["x", "y"]) })).optional(),
    o: z.object({ s: z.string() }),
  });

  it("steps into arrays with [] only when asked, and says what a field is", () => {
    expect(outputField(schema, "a[].n", { arrays: true })).toEqual({ kind: "number", nullable: true });
    expect(outputField(schema, "a[].e", { arrays: true })).toEqual({ kind: "string", nullable: true, values: ["x", "y"] });
    expect(outputField(schema, "a", { arrays: true })).toEqual({ kind: "array", nullable: true });
    expect(outputField(schema, "o", {})).toEqual({ kind: "object", nullable: false });
    expect(outputField(schema, "a[].n")).toEqual({ error: "a[] is not a field (fields there: a, o)" });
    expect(outputField(schema, "o[].s", { arrays: true })).toEqual({ error: 'o is not an array (drop the "[]")' });
    expect(outputField(schema, "o.s.t")).toEqual({ error: "o.s is not an object" });
  });
});

describe("docs/runbooks.md", () => {
  it("is what the runbooks generate (npm run gen)", () => {
    expect(readFileSync(join(root, "docs/runbooks.md"), "utf8")).toBe(`${renderRunbooksDoc()}\n`);
  });
});
