// The sudo helper skeleton (agent/src/main-helper.ts → dist/agent/hostward-action.cjs, installed
// as /usr/libexec/hostward/hostward-action): it refuses every invocation, and refuses an unexpected
// environment, caller or argument list before anything else, each with its own exit code.
import { chmodSync, copyFileSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decide, HELPER_EXIT, type Invocation } from "../../agent/src/helper/guard";
import { ROOT, tool } from "./tools";

const BUNDLE = join(ROOT, "dist/agent/hostward-action.cjs");
/** What sudo's env_reset leaves for hostward-operator on Debian. */
const SUDO_ENV = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: "/root",
  LOGNAME: "root",
  USER: "root",
  SHELL: "/bin/sh",
  SUDO_USER: "hostward-operator",
  SUDO_UID: "996",
  SUDO_GID: "996",
  SUDO_COMMAND: "/usr/libexec/hostward/hostward-action restart_service",
};

function invocation(over: Partial<Invocation> = {}): Invocation {
  return {
    args: ["restart_service"],
    execArgv: [],
    env: SUDO_ENV,
    euid: 0,
    uid: 0,
    self: { path: "/usr/libexec/hostward/hostward-action", uid: 0, mode: 0o100755, dirUid: 0, dirMode: 0o40755 },
    ...over,
  };
}

function runBundle(args: string[], env: Record<string, string>, nodeArgs: string[] = [], file = BUNDLE) {
  return tool(process.execPath, [...nodeArgs, file, ...args], { env });
}

describe("the helper's gates (decide)", () => {
  it("with everything as sudo sets it up, still refuses: no action exists yet", () => {
    const r = decide(invocation());
    expect(r.exitCode).toBe(HELPER_EXIT.unavailable);
    expect(r.message).toBe('refused: action "restart_service" is not available: this version of the helper implements no action yet');
  });

  it.each([
    ["LD_PRELOAD", "/tmp/evil.so"],
    ["LD_LIBRARY_PATH", "/tmp"],
    ["NODE_OPTIONS", "--require /tmp/x.js"],
    ["NODE_PATH", "/tmp"],
    ["GLIBC_TUNABLES", "x"],
    ["BASH_ENV", "/tmp/x"],
  ])("refuses %s in the environment", (name, value) => {
    const r = decide(invocation({ env: { ...SUDO_ENV, [name]: value } }));
    expect(r.exitCode).toBe(HELPER_EXIT.noPermission);
    expect(r.message).toContain(`${name} can change what runs`);
  });

  it("refuses an unexpected variable, a PATH sudo would not set and control characters", () => {
    expect(decide(invocation({ env: { ...SUDO_ENV, FOO: "1" } })).message).toBe('refused: unexpected environment variable "FOO"');
    const path = decide(invocation({ env: { ...SUDO_ENV, PATH: "/tmp:/usr/bin" } }));
    expect(path.exitCode).toBe(HELPER_EXIT.noPermission);
    expect(path.message).toMatch(/^refused: PATH is "\/tmp:\/usr\/bin", expected sudo's secure_path/);
    expect(decide(invocation({ env: { ...SUDO_ENV, TERM: "xterm\nLD_PRELOAD=x" } })).message).toMatch(/TERM is longer than .* or contains control characters/);
    // The Fedora/RHEL secure_path and a locale are fine.
    expect(decide(invocation({ env: { ...SUDO_ENV, PATH: "/sbin:/bin:/usr/sbin:/usr/bin", LANG: "C.UTF-8", LC_ALL: "C" } })).exitCode).toBe(HELPER_EXIT.unavailable);
  });

  it("refuses a caller that is not root through sudo for hostward-operator", () => {
    expect(decide(invocation({ euid: 996, uid: 996 })).message).toBe("refused: must run as root through sudo (uid 996, euid 996)");
    const { SUDO_USER: _, ...noSudo } = SUDO_ENV;
    expect(decide(invocation({ env: noSudo })).message).toMatch(/only hostward-operator may run this helper, through sudo \(SUDO_USER is not set\)/);
    expect(decide(invocation({ env: { ...SUDO_ENV, SUDO_USER: "mallory" } })).exitCode).toBe(HELPER_EXIT.noPermission);
  });

  it("refuses unexpected arguments with the usage code", () => {
    expect(decide(invocation({ args: [] })).exitCode).toBe(HELPER_EXIT.usage);
    expect(decide(invocation({ args: ["restart_service", "nginx"] })).message).toMatch(/exactly one argument, got 2/);
    expect(decide(invocation({ args: ["--help"] })).message).toMatch(/"--help" is not an action name/);
    expect(decide(invocation({ args: ["Restart-Service"] })).exitCode).toBe(HELPER_EXIT.usage);
    expect(decide(invocation({ execArgv: ["--require", "/tmp/x.js"] })).exitCode).toBe(HELPER_EXIT.noPermission);
  });

  it("refuses to run from a file or directory that is not root's alone", () => {
    const self = invocation().self;
    expect(decide(invocation({ self: { ...self, uid: 1000 } })).message).toMatch(/is not owned by root \(uid 1000\)/);
    expect(decide(invocation({ self: { ...self, mode: 0o100775 } })).message).toMatch(/is writable by group or others \(mode 775\)/);
    expect(decide(invocation({ self: { ...self, dirMode: 0o41777 } })).message).toMatch(/directory of .* is not root's alone/);
  });
});

describe("the built helper (dist/agent/hostward-action.cjs)", () => {
  it("refuses with 69 and says why when everything is as sudo sets it up", () => {
    const r = runBundle(["restart_service"], SUDO_ENV);
    expect(r.stderr).toBe('hostward-action: refused: action "restart_service" is not available: this version of the helper implements no action yet\n');
    expect(r.code).toBe(69);
  });

  it("refuses LD_PRELOAD, NODE_OPTIONS, a foreign PATH and node flags with 77, bad arguments with 64", () => {
    expect(runBundle(["restart_service"], { ...SUDO_ENV, LD_PRELOAD: "" }).code).toBe(77);
    const nodeOptions = runBundle(["restart_service"], { ...SUDO_ENV, NODE_OPTIONS: "--no-warnings" });
    expect(nodeOptions.stderr).toMatch(/NODE_OPTIONS can change what runs/);
    expect(nodeOptions.code).toBe(77);
    expect(runBundle(["restart_service"], { ...SUDO_ENV, PATH: "/tmp:/usr/bin:/bin" }).code).toBe(77);
    expect(runBundle(["restart_service"], SUDO_ENV, ["--no-warnings"]).code).toBe(77);
    expect(runBundle(["restart_service", "nginx"], SUDO_ENV).code).toBe(64);
    expect(runBundle([], SUDO_ENV).code).toBe(64);
  });

  it("refuses to run from a group-writable copy", () => {
    const copy = join(mkdtempSync(join(tmpdir(), "hostward-helper-")), "hostward-action");
    copyFileSync(BUNDLE, copy);
    chmodSync(copy, 0o775);
    const r = runBundle(["restart_service"], SUDO_ENV, [], copy);
    expect(r.stderr).toMatch(/is writable by group or others/);
    expect(r.code).toBe(77);
  });

  it("is a single file built from the helper's own modules and node built-ins only", () => {
    const meta = JSON.parse(readFileSync(join(ROOT, "dist/meta/hostward-action.json"), "utf8")) as {
      inputs: Record<string, { imports: { path: string; external?: boolean }[] }>;
    };
    const inputs = Object.keys(meta.inputs).sort();
    expect(inputs).toEqual(["agent/src/helper/guard.ts", "agent/src/main-helper.ts"]);
    const imports = Object.values(meta.inputs).flatMap((i) => i.imports.filter((x) => x.external).map((x) => x.path));
    expect(imports.every((p) => p.startsWith("node:"))).toBe(true);
  });
});
