// The helper's first gate (agent/src/helper/guard.ts) as a pure function: sudo mode as the
// package runs it (root, SUDO_USER=hostward-operator, secure_path, no arguments) and direct mode.
// Replaces the skeleton's test/packaging/helper.test.ts, whose "one ACTION argument" no longer holds.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decide, HELPER_EXIT, type Invocation } from "../../agent/src/helper/guard";
import { ROOT } from "./support";

const SUDO_ENV = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: "/root",
  LOGNAME: "root",
  USER: "root",
  SHELL: "/bin/sh",
  SUDO_USER: "hostward-operator",
  SUDO_UID: "996",
  SUDO_GID: "996",
  SUDO_COMMAND: "/usr/libexec/hostward/hostward-action",
};

function invocation(over: Partial<Invocation> = {}): Invocation {
  return {
    args: [],
    execArgv: [],
    env: SUDO_ENV,
    euid: 0,
    uid: 0,
    self: { path: "/usr/libexec/hostward/hostward-action", uid: 0, mode: 0o100755, dirUid: 0, dirMode: 0o40755 },
    ...over,
  };
}

const message = (inv: Invocation) => {
  const r = decide(inv);
  return "ok" in r ? "ok" : r.message;
};
const exitCode = (inv: Invocation) => {
  const r = decide(inv);
  return "ok" in r ? 0 : r.exitCode;
};

describe("the helper's gates (decide)", () => {
  it("passes in sudo mode with exactly what sudo sets up, and no argument", () => {
    expect(decide(invocation())).toEqual({ ok: true, mode: "sudo" });
    expect(decide(invocation({ env: { ...SUDO_ENV, PATH: "/sbin:/bin:/usr/sbin:/usr/bin", LANG: "C.UTF-8", LC_ALL: "C" } }))).toEqual({ ok: true, mode: "sudo" });
  });

  it("refuses any argument with the usage code", () => {
    expect(exitCode(invocation({ args: ["restart_service"] }))).toBe(HELPER_EXIT.usage);
    expect(message(invocation({ args: ["--help"] }))).toMatch(/takes no arguments \(got 1\)/);
    expect(exitCode(invocation({ execArgv: ["--require", "/tmp/x.js"] }))).toBe(HELPER_EXIT.noPermission);
  });

  it.each(["LD_PRELOAD", "LD_LIBRARY_PATH", "NODE_OPTIONS", "NODE_PATH", "GLIBC_TUNABLES", "BASH_ENV"])("refuses %s", (name) => {
    expect(exitCode(invocation({ env: { ...SUDO_ENV, [name]: "x" } }))).toBe(HELPER_EXIT.noPermission);
    expect(message(invocation({ env: { ...SUDO_ENV, [name]: "x" } }))).toContain(`${name} can change what runs`);
  });

  it("refuses a foreign PATH, an unexpected variable and control characters", () => {
    expect(message(invocation({ env: { ...SUDO_ENV, PATH: "/tmp:/usr/bin" } }))).toMatch(/^refused: PATH is "\/tmp:\/usr\/bin"/);
    expect(message(invocation({ env: { ...SUDO_ENV, FOO: "1" } }))).toBe('refused: unexpected environment variable "FOO"');
    expect(message(invocation({ env: { ...SUDO_ENV, TERM: "xterm\nLD_PRELOAD=x" } }))).toMatch(/control characters/);
  });

  it("refuses a caller that is not root through sudo for hostward-operator", () => {
    expect(message(invocation({ euid: 996, uid: 996 }))).toBe("refused: must run as root through sudo (uid 996, euid 996)");
    expect(exitCode(invocation({ env: { ...SUDO_ENV, SUDO_USER: "mallory" } }))).toBe(HELPER_EXIT.noPermission);
  });

  it("refuses to run from a file or directory that is not root's alone (sudo mode)", () => {
    const self = invocation().self;
    expect(message(invocation({ self: { ...self, uid: 1000 } }))).toMatch(/is not owned by root \(uid 1000\)/);
    expect(message(invocation({ self: { ...self, mode: 0o100775 } }))).toMatch(/writable by group or others \(mode 775\)/);
    expect(message(invocation({ self: { ...self, dirMode: 0o41777 } }))).toMatch(/directory of .* is not root's alone/);
  });

  it("direct mode: only without sudo's variables, with every directory named, as the file's own user", () => {
    const direct = {
      PATH: SUDO_ENV.PATH,
      HOSTWARD_HELPER_MODE: "direct",
      HOSTWARD_APPROVERS_DIR: "/tmp/a",
      HOSTWARD_STATE_DIR: "/tmp/s",
      HOSTWARD_ACTIONS_FILE: "/tmp/actions.yaml",
      HOSTWARD_AGENT_CERT: "/tmp/operator.crt",
    };
    const self = { path: "/home/dev/hostward/dist/agent/hostward-action.cjs", uid: 1000, mode: 0o100644, dirUid: 1000, dirMode: 0o40755 };
    expect(decide(invocation({ env: direct, euid: 1000, uid: 1000, self }))).toEqual({ ok: true, mode: "direct" });
    expect(message(invocation({ env: { ...direct, HOSTWARD_STATE_DIR: "state" }, euid: 1000, uid: 1000, self }))).toMatch(/HOSTWARD_STATE_DIR as an absolute path/);
    // Another user's file is refused even in direct mode.
    expect(message(invocation({ env: direct, euid: 1001, uid: 1001, self }))).toMatch(/not owned by root \(uid 1000\)/);
    // Through sudo (SUDO_USER set) the same variables are unexpected: direct mode cannot be reached by sudo.
    expect(message(invocation({ env: { ...SUDO_ENV, ...direct } }))).toMatch(/unexpected environment variables "HOSTWARD_ACTIONS_FILE"/);
    // The clock seam (HOSTWARD_CLOCK_OFFSET_SECONDS) is a direct-mode variable: through sudo it is refused like the others.
    expect(decide(invocation({ env: { ...direct, HOSTWARD_CLOCK_OFFSET_SECONDS: "86400" }, euid: 1000, uid: 1000, self }))).toEqual({ ok: true, mode: "direct" });
    expect(message(invocation({ env: { ...SUDO_ENV, HOSTWARD_CLOCK_OFFSET_SECONDS: "86400" } }))).toMatch(/unexpected environment variable "HOSTWARD_CLOCK_OFFSET_SECONDS"/);
    expect(message(invocation({ env: { ...direct, HOSTWARD_AGENT_CERT: "operator.crt" }, euid: 1000, uid: 1000, self }))).toMatch(/HOSTWARD_AGENT_CERT as an absolute path/);
  });
});

describe("the helper bundle (dist/meta/hostward-action.json)", () => {
  const meta = JSON.parse(readFileSync(join(ROOT, "dist/meta/hostward-action.json"), "utf8")) as {
    inputs: Record<string, { imports: { path: string; external?: boolean }[] }>;
  };
  const inputs = Object.keys(meta.inputs);

  it("contains the helper, the action catalog and the approval verifier, and no agent server or diagnostic code", () => {
    expect(inputs).toEqual(expect.arrayContaining(["agent/src/main-helper.ts", "agent/src/helper/run.ts", "proto/catalog/approval.ts", "proto/catalog/actions/index.ts"]));
    expect(inputs.filter((i) => /agent\/src\/(?:server|diagnostics|actions)\/|agent\/src\/exec\.ts|@grpc|pino/.test(i))).toEqual([]);
  });

  it("starts processes only from agent/src/helper/spawn.ts (node-pty, or pipes for parsed output)", () => {
    const spawners = Object.entries(meta.inputs)
      .filter(([, input]) => input.imports.some((i) => /^(?:node:)?child_process$/.test(i.path)))
      .map(([path]) => path);
    // node-pty's own JavaScript imports child_process too; no other file of ours may.
    expect(spawners.filter((i) => !i.startsWith("node_modules/node-pty/"))).toEqual(["agent/src/helper/spawn.ts"]);
    expect(inputs.filter((i) => meta.inputs[i]?.imports.some((x) => x.path.includes("node_modules/node-pty/lib/index.js")))).toEqual(["agent/src/helper/spawn.ts"]);
  });
});
