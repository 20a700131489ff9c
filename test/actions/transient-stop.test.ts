// A transient step that outlives the action's deadline (helper/actions.ts plan.run): spawn.ts ends
// `systemd-run --wait` at the deadline, which would leave its unit running; the plan then runs the
// step's own stop step — `systemctl stop -- hostward-<request>-<step>.service`, the line the
// approver read — printing it first, and reports the step as timed out. No systemd runs on this
// machine, so the step that hangs is a real `journalctl --follow` (it waits for journal files for
// ever) standing in for systemd-run, with the unit renderPlan gave it; the stop is the real
// systemctl, which answers that no systemd runs (so the stop is reported as not confirmed).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { planOf } from "../../agent/src/helper/actions";
import { loadPty } from "../../agent/src/helper/spawn";
import { actions } from "../../proto/catalog/actions/index";
import { commandLine, renderPlan, type ActionDef, type RenderedStep } from "../../proto/catalog/define-action";

beforeAll(() => loadPty("direct", join(import.meta.dirname, "..", "..", "dist", "agent")));

const have = ["/usr/bin/journalctl", "/usr/bin/systemctl"].every((p) => existsSync(p)) && !existsSync("/run/systemd/system");

/** truncate_log's plan on a host with systemd, for request act-0123456789ab: its transient step and its stop step. */
function truncatePlan(): { step: RenderedStep; stop: RenderedStep } {
  const def = actions.find((a) => a.name === "truncate_log") as ActionDef;
  const facts = { systemd: true, path: "/var/log/app/debug.log", device: 1, inode: 2, sizeBytes: 3, paths: { truncate: "/usr/bin/truncate", "systemd-run": "/usr/bin/systemd-run", systemctl: "/usr/bin/systemctl" } };
  const [step, stop] = renderPlan(def, { path: "/var/log/app/debug.log" }, facts, { requestId: "act-0123456789ab" });
  return { step: step!, stop: stop! };
}

/** The transient step with its command swapped for one that never ends (and keeps its unit). */
function hanging(step: RenderedStep): RenderedStep {
  const { inner: _inner, ...rest } = step;
  return { ...rest, program: "journalctl", path: "/usr/bin/journalctl", options: ["--follow", "--no-pager"], values: [] };
}

describe.runIf(have)("a transient step past the deadline", () => {
  it("is ended at the deadline, then its unit is stopped by the plan's stop step, whose line is printed; the step is reported timed out", async () => {
    const { step, stop } = truncatePlan();
    expect(step.unit).toBe("hostward-0123456789ab-truncate.service");
    expect(commandLine(stop)).toBe("/usr/bin/systemctl stop --no-pager --no-ask-password -- hostward-0123456789ab-truncate.service");
    const lines: string[] = [];
    const plan = planOf([hanging(step), stop], { emit: (l) => lines.push(l), deadline: Date.now() + 1_500 });
    const t0 = Date.now();
    const r = await plan.run("truncate");
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.timedOut).toBe(true);
    expect(r.stopped).toEqual({ unit: "hostward-0123456789ab-truncate.service", ok: false });
    expect(lines[0]).toBe("$ /usr/bin/journalctl --follow --no-pager");
    const at = lines.indexOf("truncate did not finish before the action's deadline: stopping its transient unit hostward-0123456789ab-truncate.service");
    expect(at, lines.join("\n")).toBeGreaterThan(0);
    expect(lines[at + 1]).toBe(`$ ${commandLine(stop)}`);
    // No systemd here: systemctl says so, and the helper does not claim the unit stopped.
    expect(lines.at(-1), JSON.stringify(lines.at(-1))).toMatch(/^the stop of hostward-0123456789ab-truncate\.service did not confirm \(systemctl stop exited with 1: .*\); systemd still runs the stop job it was given$/);
  });

  it("an abort (the helper told to stop) ends the step at once and stops the unit the same way; later steps do not start", async () => {
    const { step, stop } = truncatePlan();
    const lines: string[] = [];
    const abort = new AbortController();
    const plan = planOf([hanging(step), stop], { emit: (l) => lines.push(l), deadline: Date.now() + 60_000, signal: abort.signal });
    setTimeout(() => abort.abort(), 500);
    const t0 = Date.now();
    const r = await plan.run("truncate");
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r).toMatchObject({ timedOut: false, aborted: true, stopped: { unit: step.unit, ok: false } });
    expect(lines).toContain("truncate was aborted: stopping its transient unit hostward-0123456789ab-truncate.service");
    expect(lines).toContain(`$ ${commandLine(stop)}`);
    const again = await plan.run("truncate");
    expect(again).toMatchObject({ aborted: true, exitCode: 128 });
  });

  it("a runner cannot start a stop step itself", async () => {
    const { step, stop } = truncatePlan();
    const plan = planOf([step, stop], { emit: () => undefined, deadline: Date.now() + 1_000 });
    await expect(plan.run("truncate:stop")).rejects.toThrow(/runs only when truncate outlives the action's deadline/);
  });
});
