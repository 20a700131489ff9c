// Issue 11 (found by reading the helper): a command's deadline ends its whole process tree, not
// only the direct child. A stand-in for systemctl (bind-mounted over /usr/bin/systemctl in a
// private mount namespace, for one runner process only) starts a grandchild that holds the output
// pipe for 30 s and exits at once, or stays itself. Before this issue the diagnostics spawner
// (agent/src/exec.ts) waited for that pipe far past its deadline (it killed only a child that had
// not exited yet), and both spawners left the grandchild running.
//
// The runner is a small bundle of the real spawning modules (exec.ts, helper/spawn.ts), built here
// with esbuild, run as a real process; it prints what each spawner returned and how long it took.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
let dir: string;
let runner: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "hw-deadline-tree-"));
  runner = join(dir, "runner.cjs");
  await build({
    stdin: {
      contents: `
import { run } from "./agent/src/exec";
import { loadPty, spawnProgram } from "./agent/src/helper/spawn";
const which = process.argv[2];
const t0 = Date.now();
const done = (r) => { process.stdout.write(JSON.stringify({ ...r, ms: Date.now() - t0 }) + "\\n"); process.exit(0); };
if (which === "exec") run("systemctl", ["status"], [], { timeoutMs: 800 }).then((r) => done({ ok: true, stdout: r.stdout }), (e) => done({ ok: false, kind: e.kind, message: e.message }));
else {
  loadPty("direct", ${JSON.stringify(join(ROOT, "dist", "agent"))});
  spawnProgram("systemctl", ["status"], [], { timeoutMs: 800, pipes: which === "pipes", onLine: () => undefined }).then((r) => done({ ok: true, timedOut: r.timedOut, lines: r.lines }), (e) => done({ ok: false, message: e.message }));
}`,
      resolveDir: ROOT,
      loader: "ts",
    },
    bundle: true,
    platform: "node",
    format: "cjs",
    outfile: runner,
    logLevel: "warning",
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in systemctl: prints a line, leaves `sleep 30` (holding stdout) and exits, or stays (`stay`). */
function standIn(name: string, stay: boolean): { script: string; pidFile: string } {
  const pidFile = join(dir, `${name}.pid`);
  const script = join(dir, `${name}.sh`);
  writeFileSync(script, `#!/bin/sh\necho started\nsleep 30 &\necho $! > ${pidFile}\n${stay ? "sleep 30\n" : ""}exit 0\n`);
  chmodSync(script, 0o755);
  return { script, pidFile };
}

/** Whether `pid` still runs: a killed process not yet reaped by PID 1 is a zombie ("Z"), not running. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

function runWith(which: "exec" | "pipes" | "pty", stay: boolean): { result: Record<string, unknown>; grandchildAlive: boolean } {
  const { script, pidFile } = standIn(`${which}-${stay ? "stay" : "exit"}`, stay);
  const out = execFileSync(
    "/usr/bin/unshare",
    ["--mount", "--propagation", "private", "--", "/bin/sh", "-c", `mount --bind ${script} /usr/bin/systemctl && exec ${process.execPath} ${runner} ${which}`],
    { encoding: "utf8", timeout: 60_000 },
  );
  const result = JSON.parse(out.trim().split("\n").pop() ?? "{}") as Record<string, unknown>;
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  // SIGKILL is delivered when the target is next scheduled: allow it 3 s (the grandchild sleeps 30 s).
  const until = Date.now() + 3_000;
  while (running(pid) && Date.now() < until) spawnSync("/bin/sleep", ["0.05"]);
  const alive = running(pid);
  if (alive) spawnSync("/bin/kill", ["-9", String(pid)]);
  return { result, grandchildAlive: alive };
}

const usable = existsSync("/usr/bin/unshare") && existsSync("/usr/bin/systemctl") && process.geteuid?.() === 0;

describe.runIf(usable)("a deadline ends the whole process tree", () => {
  it("diagnostics (exec.ts): a grandchild holding the pipe after its parent exited does not hold the call past the deadline", () => {
    const { result, grandchildAlive } = runWith("exec", false);
    expect(result).toMatchObject({ ok: false, kind: "timeout" });
    expect(Number(result.ms)).toBeLessThan(10_000); // the stand-in's grandchild holds the pipe for 30 s
    expect(grandchildAlive).toBe(false);
  });

  it("diagnostics (exec.ts): a program that outlives its deadline goes with its children", () => {
    const { result, grandchildAlive } = runWith("exec", true);
    expect(result).toMatchObject({ ok: false, kind: "timeout" });
    expect(grandchildAlive).toBe(false);
  });

  it("the root helper on pipes: the same", () => {
    const exited = runWith("pipes", false);
    expect(exited.result).toMatchObject({ ok: true, timedOut: true });
    expect(Number(exited.result.ms)).toBeLessThan(10_000);
    expect(exited.grandchildAlive).toBe(false);
    const stayed = runWith("pipes", true);
    expect(stayed.result).toMatchObject({ ok: true, timedOut: true });
    expect(stayed.grandchildAlive).toBe(false);
  });

  it("the root helper on a pty: the program and every process of its session end at the deadline", () => {
    const { result, grandchildAlive } = runWith("pty", true);
    expect(result).toMatchObject({ ok: true, timedOut: true });
    expect(Number(result.ms)).toBeLessThan(10_000);
    expect(grandchildAlive).toBe(false);
  });
});
