// The catalog's zod inputs and the generated proto request types agree both ways (at compile time,
// by drift.types.ts), and values survive the wire: every example, validated by the catalog, encodes
// with the proto message and decodes to the same value.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DiagnosticsServiceService } from "../../proto/gen/hostward/v1/diagnostics";
import { diagnostics } from "../../proto/catalog/diagnostics/index";
import { methodKey, type DiagnosticDef } from "../../proto/catalog/define";
import { protoDefaults, stripProtoDefaults } from "../../agent/src/server/request";

const here = import.meta.dirname;
const tsc = join(here, "../../node_modules/.bin/tsc");

function compile(project: string): { ok: boolean; output: string } {
  try {
    execFileSync(tsc, ["-p", join(here, project)], { encoding: "utf8", stdio: "pipe" });
    return { ok: true, output: "" };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

describe("catalog ↔ proto drift", () => {
  it("every catalog input equals its proto request type, both ways, and every RPC is catalogued", () => {
    const r = compile("tsconfig.drift.json");
    expect(r.output).toBe("");
    expect(r.ok).toBe(true);
  }, 120_000);

  it("the type check fails on a schema that drifts (negative control)", () => {
    const r = compile("tsconfig.drift-negative.json");
    expect(r.ok).toBe(false);
    expect(r.output).toMatch(/drift-negative\.types\.ts\(8,/);
    expect(r.output).toMatch(/drift-negative\.types\.ts\(11,/);
  }, 120_000);

  it("has one generated RPC per catalog entry and no other", () => {
    const rpcKeys = Object.keys(DiagnosticsServiceService).sort();
    const catalogKeys = diagnostics.map((d) => methodKey(d.name)).sort();
    expect(catalogKeys).toEqual(rpcKeys);
  });

  for (const def of diagnostics as readonly DiagnosticDef[]) {
    it(`${def.name}: examples validate and survive a proto round trip`, () => {
      expect(def.examples.length).toBeGreaterThan(0);
      const method = (DiagnosticsServiceService as Record<string, { requestSerialize(v: unknown): Buffer; requestDeserialize(b: Buffer): unknown }>)[methodKey(def.name)];
      expect(method, `no RPC for ${def.name}`).toBeDefined();
      for (const example of def.examples) {
        const parsed = def.input.parse(example.input);
        const decoded = method!.requestDeserialize(method!.requestSerialize(parsed));
        const defaults = protoDefaults((b) => method!.requestDeserialize(b));
        expect(def.input.parse(stripProtoDefaults(decoded as Record<string, unknown>, defaults))).toEqual(parsed);
      }
    });
  }
});
