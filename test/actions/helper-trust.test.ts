// Issue 11, found by reading the helper (each its own test): trusted files are checked with their
// parent directories up to "/"; one approver key in two approver files is a configuration error;
// container allowlist entries match a container's exact name or full ID, never an ID prefix.
// The BUILT helper in direct mode; podman is a stand-in (an overlay adds it to /usr/bin in a
// private mount namespace for that one run), because no real podman or container exists here.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerAllowed } from "../../agent/src/helper/preview";
import type { ActionPreview } from "../../proto/catalog/define-action";
import { HELPER_EXIT } from "../../agent/src/helper/exit-codes";
import { approve, DEFAULT_ALLOWLIST, HELPER_BUNDLE, helperRequest, makeApprover, makeHost, runHelperBundle, runProcess, type Approver, type HelperRun, type HostDirs } from "./support";

let alice: Approver;
let scratch: string;

beforeAll(() => {
  alice = makeApprover("MEDIUM", "alice@laptop");
  scratch = mkdtempSync(join(tmpdir(), "hw-helper-trust-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const restartNginx = () => approve(alice, { action: "restart_service", params: { unit: "nginx.service" }, impact: "MEDIUM" });

function refusedConfig(r: HelperRun, reason: RegExp): void {
  expect(r.code, r.stderr).toBe(HELPER_EXIT.config);
  expect(r.lines.at(-1)).toMatchObject({ type: "refused", code: "CONFIG", spawns: 0 });
  expect(String(r.lines.at(-1)?.reason)).toMatch(reason);
}

describe("trusted files are checked with their parent directories", () => {
  it("an allowlist in a directory others can write is refused (it could be swapped), naming the directory", async () => {
    const host = makeHost([alice]);
    chmodSync(host.dir, 0o777);
    refusedConfig(await runHelperBundle(host.env, helperRequest("restart_service", { unit: "nginx.service" }, restartNginx())), new RegExp(`parent directory ${host.dir} is writable by group or others \\(mode 0777\\)`));
  });

  it("also a directory further up, owned by another user", async () => {
    const host = makeHost([alice]);
    const above = join(scratch, "owned-by-nobody");
    const deep = join(above, "etc", "hostward");
    mkdirSync(deep, { recursive: true });
    const actionsFile = join(deep, "actions.yaml");
    writeFileSync(actionsFile, DEFAULT_ALLOWLIST, { mode: 0o644 });
    chownSync(above, 65534, 65534);
    const r = await runHelperBundle({ ...host.env, HOSTWARD_ACTIONS_FILE: actionsFile }, helperRequest("restart_service", { unit: "nginx.service" }, restartNginx()));
    refusedConfig(r, new RegExp(`parent directory ${above} is owned by uid 65534`));
  });

  it("a sticky directory owned by root (/tmp) is fine: its entries only their owner may move", async () => {
    const host = makeHost([alice]); // under /tmp (mode 1777, root)
    const r = await runHelperBundle(host.env, helperRequest("restart_service", { unit: "nginx.service" }, restartNginx()));
    expect(r.audit, r.stderr).toMatchObject({ event: "executed" });
  });
});

describe("approver keys", () => {
  it("the same key in two approver files is a configuration error, not 'whichever file sorts first'", async () => {
    const host = makeHost([alice]);
    // The same public key again, with a higher limit, in a file that sorts first.
    writeFileSync(join(host.approversDir, "aaa-root.pub"), `${alice.line.replace('max-impact="MEDIUM"', 'max-impact="HIGH"')}\n`, { mode: 0o644 });
    const r = await runHelperBundle(host.env, helperRequest("restart_service", { unit: "nginx.service" }, restartNginx()));
    refusedConfig(r, /approver key SHA256:\S+ is listed twice, in .*aaa-root\.pub:1 and .*key0\.pub:1: one key has one max-impact; remove one of the lines/);
  });
});

describe("container allowlist entries: exact name or full ID, never an ID prefix", () => {
  const ID = "4f2b8c1d9e0a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c";
  const other = "9".repeat(64);

  it("containerAllowed compares exact names and full IDs only", () => {
    const c = { id: ID, name: "web" };
    expect(containerAllowed(["web"], c)).toBe(true);
    expect(containerAllowed([ID], c)).toBe(true);
    expect(containerAllowed([ID.slice(0, 12)], c)).toBe(false);
    expect(containerAllowed([ID.slice(0, 63)], c)).toBe(false);
    expect(containerAllowed(["we"], c)).toBe(false);
    expect(containerAllowed([other], c)).toBe(false);
  });

  it("an allowlist entry that is an ID prefix is refused as configuration", async () => {
    const host = makeHost([alice], `units: []\ncontainers: [${ID.slice(0, 12)}]\n`);
    const approval = approve(alice, { action: "restart_container", params: { name: "web" }, impact: "MEDIUM" });
    refusedConfig(await runHelperBundle(host.env, helperRequest("restart_container", { name: "web" }, approval)), /not ID prefixes/);
  });

  /** The helper with a stand-in podman that knows one container, "web" with ID, and resolves prefixes like podman. */
  async function withPodman(host: HostDirs, name: string): Promise<HelperRun> {
    // An overlay over /usr/bin, in this run's private mount namespace only: podman appears there,
    // nothing on the machine changes (no real /usr/bin/podman exists to bind over).
    const layer = join(scratch, `overlay-${Math.random().toString(16).slice(2)}`);
    mkdirSync(join(layer, "upper"), { recursive: true });
    mkdirSync(join(layer, "work"));
    const podman = join(layer, "upper", "podman");
    const inspect = JSON.stringify([{ Id: ID, Name: "web", State: { Status: "running", Pid: 4242, StartedAt: "2026-12-01T00:00:00Z" } }]);
    writeFileSync(
      podman,
      `#!/bin/sh\n# stand-in for podman: one container, found by name, full ID or ID prefix\nlast=""; for a in "$@"; do last="$a"; done\ncase "$1 $2" in\n"container inspect") case "$last" in web|${ID}|${ID.slice(0, 12)}*) echo '${inspect}'; exit 0;; esac; exit 125;;\nesac\ncase "$1" in restart) echo "$last"; exit 0;; esac\nexit 2\n`,
    );
    chmodSync(podman, 0o755);
    const envArgs = Object.entries(host.env).map(([k, v]) => `${k}=${v}`);
    const inNamespace = (input: string) =>
      runProcess(
        "/usr/bin/unshare",
        ["--mount", "--propagation", "private", "--", "/bin/sh", "-c", `mount -t overlay overlay -o lowerdir=/usr/bin,upperdir=${layer}/upper,workdir=${layer}/work /usr/bin && exec /usr/bin/env -i "$@"`, "sh", ...envArgs, process.execPath, HELPER_BUNDLE],
        { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
        input,
      );
    // The preview the approver reads comes from the same helper, with the stand-in podman in place.
    const asked = await inNamespace(JSON.stringify({ query: "preview", action: "restart_container", params: { name } }));
    const preview = asked.lines.find((l) => l.type === "preview")?.preview as ActionPreview | undefined;
    if (!preview) return asked;
    return inNamespace(helperRequest("restart_container", { name }, approve(alice, { action: "restart_container", params: { name }, impact: "MEDIUM", preview })));
  }

  it("a request by ID prefix is refused before the approval is spent, even when the container is allowlisted by name", async () => {
    const host = makeHost([alice], "units: []\ncontainers: [web]\n");
    const r = await runHelperBundle(host.env, helperRequest("restart_container", { name: ID.slice(0, 12) }, approve(alice, { action: "restart_container", params: { name: ID.slice(0, 12) }, impact: "MEDIUM" })));
    expect(r.lines.at(-1)).toMatchObject({ type: "refused", code: "NOT_ALLOWLISTED", spawns: 0 });
    expect(String(r.lines.at(-1)?.reason)).toMatch(/an ID prefix is not accepted/);
  });

  it.runIf(process.geteuid?.() === 0)("allowlisted by name: restarted by its name or its full ID (podman restart gets the full ID)", async () => {
    for (const name of ["web", ID]) {
      const r = await withPodman(makeHost([alice], "units: []\ncontainers: [web]\n"), name);
      // No systemd here: the transient wrapping does not apply, podman runs directly, by full ID.
      expect(r.lines.filter((l) => l.type === "output").map((l) => l.line), r.stderr).toContain(`$ /usr/bin/podman restart -- ${ID}`);
    }
  });

  it.runIf(process.geteuid?.() === 0)("allowlisted by full ID: a container of another ID is not matched by a shared prefix", async () => {
    const lookalike = `${ID.slice(0, 12)}${"0".repeat(52)}`;
    const r = await withPodman(makeHost([alice], `units: []\ncontainers: [${lookalike}]\n`), lookalike);
    // podman resolves the prefix to "web" (ID …4f2b8c1d9e0a…), which is neither the name nor the ID
    // asked for: the host's preview refuses it, so no approval is ever asked for.
    expect(r.lines.at(-1), r.stderr).toMatchObject({ type: "refused", code: "NOT_ALLOWLISTED" });
    expect(String(r.lines.at(-1)?.reason)).toMatch(/neither the name nor the full ID of the container podman found/);
    expect(r.lines.filter((l) => l.type === "output").map((l) => l.line).some((l) => String(l).startsWith("$ podman restart"))).toBe(false);
  });
});
