// The two systemd units, checked with the real systemd-analyze: `verify` must print nothing at all
// (it exits 0 on unknown keys and bad values and only warns on stderr), and the exposure score of
// `security --offline=true` must stay within each role's budget.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AGENT_ENVIRONMENT, AGENT_NODE_OPTIONS } from "../../broker/src/local/launcher";
import { ROOT, tool } from "./tools";

const UNITS = { reader: join(ROOT, "systemd/hostward-reader.service"), operator: join(ROOT, "systemd/hostward-operator.service") };

/** Exposure budgets. The reader meets the 1.5. The operator's is 5.8, not the 4.5:
 *  sudo must work from it, and on systemd 252 every seccomp-based directive forces no_new_privs on
 *  a User= unit (see the head of hostward-operator.service and packaging/README.md). */
const MAX_EXPOSURE = { reader: 1.5, operator: 5.8 } as const;

/** Directives that make systemd 252 set no_new_privs on a User= unit, which stops sudo. */
const FORCES_NO_NEW_PRIVS = [
  "LockPersonality",
  "MemoryDenyWriteExecute",
  "PrivateDevices",
  "ProtectClock",
  "ProtectHostname",
  "ProtectKernelLogs",
  "ProtectKernelModules",
  "ProtectKernelTunables",
  "RestrictAddressFamilies",
  "RestrictFileSystems",
  "RestrictNamespaces",
  "RestrictRealtime",
  "RestrictSUIDSGID",
  "SystemCallArchitectures",
  "SystemCallFilter",
];

function exposure(file: string): number {
  const r = tool("systemd-analyze", ["security", "--offline=true", "--no-pager", file]);
  const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(r.stdout);
  if (!m?.[1]) throw new Error(`no exposure score in systemd-analyze's output (exit ${r.code}):\n${r.stdout}${r.stderr}`);
  return Number(m[1]);
}

interface Directive {
  section: string;
  key: string;
  value: string;
  /** The comment lines right above it. */
  comment: string[];
}

function directives(file: string): Directive[] {
  const out: Directive[] = [];
  let section = "";
  let comment: string[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.startsWith("#")) comment.push(line);
    else if (/^\[.+\]$/.test(line)) {
      section = line.slice(1, -1);
      comment = [];
    } else if (line.includes("=")) {
      const i = line.indexOf("=");
      out.push({ section, key: line.slice(0, i), value: line.slice(i + 1), comment });
      comment = [];
    } else comment = [];
  }
  return out;
}

function scratchUnit(name: string, text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), "hostward-unit-")), name);
  writeFileSync(file, text);
  return file;
}

describe.each(["reader", "operator"] as const)("hostward-%s.service", (role) => {
  const file = UNITS[role];
  const all = directives(file);
  const get = (key: string) => all.filter((d) => d.key === key);

  it("passes systemd-analyze verify with nothing on stderr", () => {
    const r = tool("systemd-analyze", ["verify", file]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  it(`has an exposure of at most ${MAX_EXPOSURE[role]}`, () => {
    expect(exposure(file)).toBeLessThanOrEqual(MAX_EXPOSURE[role]);
  });

  it("lists its directives in alphabetical order within each section", () => {
    for (const section of ["Unit", "Service"]) {
      const keys = all.filter((d) => d.section === section).map((d) => d.key);
      expect(keys).toEqual([...keys].sort());
    }
  });

  it("starts only once enrolled, as its own user, with the TLS files as credentials", () => {
    // Each role its own key and certificate: the reader's unit never receives the operator's key.
    expect(get("ConditionPathExists").map((d) => d.value).sort()).toEqual(["/etc/hostward/tls/ca.crt", `/etc/hostward/tls/${role}.crt`, `/etc/hostward/tls/${role}.key`]);
    expect(get("LoadCredential").map((d) => d.value).sort()).toEqual([
      `agent.crt:/etc/hostward/tls/${role}.crt`,
      `agent.key:/etc/hostward/tls/${role}.key`,
      "ca.crt:/etc/hostward/tls/ca.crt",
    ]);
    // The source files are checked as root before the start (a 0644 key never reaches the agent).
    expect(get("ExecStartPre").map((d) => d.value)).toEqual([`+/usr/bin/node /usr/lib/hostward/hostward-agent.cjs check --role ${role}`]);
    expect(get("User").map((d) => d.value)).toEqual([`hostward-${role}`]);
    expect(get("ExecStart").map((d) => d.value)).toEqual([`/usr/bin/node ${AGENT_NODE_OPTIONS.join(" ")} /usr/lib/hostward/hostward-${role}.cjs --config /etc/hostward/agent.yaml`]);
    for (const key of ["ProtectSystem", "ProtectHome", "PrivateTmp", "StateDirectory", "RuntimeDirectory", "UMask", "CapabilityBoundingSet"]) {
      expect(get(key).length, key).toBe(1);
    }
    expect(get("ProtectSystem")[0]?.value).toBe("strict");
  });

  it("runs node with the same options and environment as `hostward local up` and the bench", () => {
    // One source of truth (broker/src/local/launcher.ts): a flag changed there and not here fails.
    expect(get("Environment").map((d) => d.value)).toEqual(Object.entries(AGENT_ENVIRONMENT).map(([k, v]) => `${k}=${v}`));
    expect(get("Environment")[0]?.comment.length, "Environment= needs a comment").toBeGreaterThan(0);
  });

  it("restarts on failure, within a start limit", () => {
    expect(get("Restart").map((d) => d.value)).toEqual(["on-failure"]);
    expect(Number(get("StartLimitBurst")[0]?.value)).toBeGreaterThan(0);
    expect(get("StartLimitIntervalSec")[0]?.value).toMatch(/^\d+s?$/);
  });

  it("explains each relaxation in a comment right above it", () => {
    for (const key of ["ProcSubset", "ProtectProc", "NoNewPrivileges", "SupplementaryGroups", "CapabilityBoundingSet"]) {
      for (const d of get(key)) {
        const relaxed = !(key === "ProcSubset" && d.value === "pid") && !(key === "ProtectProc" && d.value === "invisible") && !(key === "NoNewPrivileges" && d.value === "yes") && !(key === "CapabilityBoundingSet" && d.value === "");
        if (relaxed) expect(d.comment.length, `${key}=${d.value} needs a comment`).toBeGreaterThan(0);
      }
    }
    expect(readFileSync(file, "utf8")).toMatch(/MemoryDenyWriteExecute= is left out: V8/);
  });
});

describe("the role-specific hardening", () => {
  it("the reader has no privileges at all and a system call filter", () => {
    const d = directives(UNITS.reader);
    const value = (key: string) => d.filter((x) => x.key === key).map((x) => x.value);
    expect(value("NoNewPrivileges")).toEqual(["yes"]);
    expect(value("CapabilityBoundingSet")).toEqual([""]);
    expect(value("PrivateUsers")).toEqual(["yes"]);
    expect(value("SystemCallFilter")).toEqual(["@system-service @pkey", "~@privileged @resources"]);
    expect(value("SupplementaryGroups")).toEqual(["adm systemd-journal"]);
  });

  it("the operator keeps sudo usable: no_new_privs off and no directive that would force it", () => {
    const d = directives(UNITS.operator);
    expect(d.filter((x) => x.key === "NoNewPrivileges").map((x) => x.value)).toEqual(["no"]);
    expect(d.map((x) => x.key).filter((k) => FORCES_NO_NEW_PRIVS.includes(k))).toEqual([]);
    expect(d.find((x) => x.key === "SupplementaryGroups")).toBeUndefined();
    expect(d.find((x) => x.key === "CapabilityBoundingSet")?.value.split(" ").sort()).toEqual(["CAP_AUDIT_WRITE", "CAP_SETGID", "CAP_SETUID"]);
  });
});

describe("the checks themselves can fail", () => {
  it("verify's warning on an unknown key reaches stderr (exit code 0 notwithstanding)", () => {
    const text = readFileSync(UNITS.reader, "utf8").replace("[Service]\n", "[Service]\nNoSuchHardening=yes\n");
    const r = tool("systemd-analyze", ["verify", scratchUnit("hostward-reader.service", text)]);
    expect(r.stderr).toMatch(/NoSuchHardening/);
  });

  it("a unit without hardening scores above both budgets", () => {
    const bare = "[Unit]\nDescription=bare\n\n[Service]\nExecStart=/usr/bin/node -e 0\n";
    expect(exposure(scratchUnit("bare.service", bare))).toBeGreaterThan(MAX_EXPOSURE.operator);
  });
});
