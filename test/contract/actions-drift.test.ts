// The action catalog and ActionsService agree: each action's params equal its proto request minus
// `approval` (at compile time, by actions-drift.types.ts), every RPC has exactly one action, and
// every example survives the wire (validated by the catalog, encoded with an approval, decoded,
// stripped of proto defaults and validated again to the same params).
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ActionsServiceService } from "../../proto/gen/hostward/v1/actions";
import { actions, findAction } from "../../proto/catalog/actions/index";
import type { ActionDef } from "../../proto/catalog/define-action";
import { methodKey } from "../../proto/catalog/define";
import { approvalToMessage, newNonce, type ApprovalStatement } from "../../proto/catalog/approval";
import { protoDefaults, stripProtoDefaults } from "../../agent/src/server/request";

const here = import.meta.dirname;
const tsc = join(here, "../../node_modules/.bin/tsc");
type Method = { requestSerialize(v: unknown): Buffer; requestDeserialize(b: Buffer): unknown };
const service = ActionsServiceService as unknown as Record<string, Method>;

describe("action catalog ↔ ActionsService drift", () => {
  it("every action's params equal its proto request minus approval, both ways, and every RPC is catalogued", () => {
    let output = "";
    let ok = true;
    try {
      execFileSync(tsc, ["-p", join(here, "tsconfig.actions-drift.json")], { encoding: "utf8", stdio: "pipe" });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      ok = false;
      output = `${e.stdout ?? ""}${e.stderr ?? ""}`;
    }
    expect(output).toBe("");
    expect(ok).toBe(true);
  }, 120_000);

  it("has exactly one action per ActionsService RPC and no other", () => {
    const catalogKeys = actions.map((a) => methodKey(a.name));
    expect(new Set(catalogKeys).size).toBe(catalogKeys.length);
    expect([...catalogKeys].sort()).toEqual(Object.keys(ActionsServiceService).sort());
  });

  it("holds the eighteen actions with their impact levels", () => {
    expect(Object.fromEntries(actions.map((a) => [a.name, a.impact]))).toEqual({
      restart_service: "MEDIUM",
      reload_service: "LOW",
      start_service: "MEDIUM",
      stop_service: "MEDIUM",
      enable_service: "LOW",
      disable_service: "LOW",
      reset_failed_unit: "LOW",
      signal_service: "MEDIUM",
      restart_container: "MEDIUM",
      stop_container: "MEDIUM",
      start_container: "MEDIUM",
      flush_dns_cache: "LOW",
      rotate_logs: "LOW",
      reboot_system: "HIGH",
      vacuum_journal: "LOW",
      truncate_log: "MEDIUM",
      clean_package_cache: "LOW",
      upgrade_packages: "HIGH",
    });
    expect(findAction("restart_service")?.name).toBe("restart_service");
    expect(findAction("rm_rf")).toBeUndefined();
  });

  for (const def of actions as readonly ActionDef[]) {
    it(`${def.name}: examples validate and survive a proto round trip with an approval; inverses are mutual`, () => {
      expect(def.examples.length).toBeGreaterThan(0);
      expect(def.steps.length).toBeGreaterThan(0);
      if (def.inverse) expect(findAction(def.inverse)?.inverse, `${def.inverse} undoes ${def.name} back`).toBe(def.name);
      expect(def.timeoutMs).toBeGreaterThan(0);
      const method = service[methodKey(def.name)];
      expect(method, `no RPC for ${def.name}`).toBeDefined();
      const defaults = protoDefaults((b) => method!.requestDeserialize(b)) as Record<string, unknown>;
      for (const example of def.examples) {
        const params = def.params.parse(example.params) as Record<string, unknown>;
        const statement: ApprovalStatement = {
          v: 3, id: "req-1", host: "web1", hostKey: `sha256:${"0".repeat(64)}`, action: def.name, params, requester: "claude", impact: def.impact,
          issuedAt: 1_999_999_000, notAfter: 2_000_000_000, nonce: newNonce(), previewHash: `sha256:${"1".repeat(64)}`,
        };
        const approval = approvalToMessage(statement, `SHA256:${"A".repeat(43)}`, "sig");
        const decoded = method!.requestDeserialize(method!.requestSerialize({ ...params, approval })) as Record<string, unknown>;
        expect(decoded.approval).toEqual(approval);
        const { approval: _dropped, ...fields } = decoded;
        expect(def.params.parse(stripProtoDefaults(fields, defaults))).toEqual(params);
      }
    });
  }

  it("params refuse values that are not on the grammar (leading -, shell metacharacters, extra keys)", () => {
    const restart = findAction("restart_service")!;
    expect(restart.params.safeParse({ unit: "nginx.service" }).success).toBe(true);
    for (const unit of ["--help", "nginx;reboot", "a b", "nginx\n", "$(id)", ""]) expect(restart.params.safeParse({ unit }).success, unit).toBe(false);
    expect(restart.params.safeParse({ unit: "nginx", extra: 1 }).success).toBe(false);
    const container = findAction("restart_container")!;
    expect(container.params.safeParse({ name: "-rm" }).success).toBe(false);
    const reboot = findAction("reboot_system")!;
    expect(reboot.params.parse({})).toEqual({ delaySeconds: 60 });
    for (const delaySeconds of [0, 59, 3601, 60.5]) expect(reboot.params.safeParse({ delaySeconds }).success, String(delaySeconds)).toBe(false);
  });
});
