// The catalog and the generated DiagnosticsService match one to one, and the agent's generic
// wiring registers a handler for exactly those methods. The catalog hash is stable and sensitive.
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { AgentConfigSchema } from "../../agent/src/config";
import { createDiagnosticsImplementation } from "../../agent/src/server/diagnostics-service";
import { createConcurrencyLimit } from "../../agent/src/server/limiter";
import { methodKey } from "../../proto/catalog/define";
import { diagnostics } from "../../proto/catalog/diagnostics/index";
import { catalogHash } from "../../proto/catalog/hash";
import { canonicalJson, jsonValue } from "../../shared/canonical-json";
import { DiagnosticsServiceService } from "../../proto/gen/hostward/v1/diagnostics";

const generated = Object.keys(DiagnosticsServiceService).sort();
const catalogued = diagnostics.map((d) => methodKey(d.name)).sort();

describe("catalog ↔ generated DiagnosticsService", () => {
  it("every catalog entry has a generated method", () => {
    expect(catalogued.filter((k) => !generated.includes(k))).toEqual([]);
  });

  it("every generated method has a catalog entry", () => {
    expect(generated.filter((k) => !catalogued.includes(k))).toEqual([]);
  });

  it("the agent's wiring implements exactly the generated methods, each a unary handler", () => {
    const implementation = createDiagnosticsImplementation({
      config: AgentConfigSchema.parse({}),
      agent: { version: "test", role: "reader", startedAt: Date.now(), catalogHash: "sha256:test" },
      limit: createConcurrencyLimit(1),
    });
    expect(Object.keys(implementation).sort()).toEqual(generated);
    for (const handler of Object.values(implementation)) expect(typeof handler).toBe("function");
    // A unary grpc-js handler takes (call, callback).
    expect((implementation.getLoad as grpc.handleUnaryCall<unknown, unknown>).length).toBe(2);
  });
});

describe("catalog hash", () => {
  const def = (name: string, input: z.ZodType) => ({ name, input, output: z.object({ ok: z.boolean() }) });

  it("is a sha256 digest, the same for equal catalogs built separately", () => {
    const a = catalogHash([def("get_x", z.strictObject({ n: z.number().int().default(1) }))]);
    const b = catalogHash([def("get_x", z.strictObject({ n: z.number().int().default(1) }))]);
    expect(a).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(a).toBe(b);
    expect(catalogHash(diagnostics)).toBe(catalogHash([...diagnostics]));
  });

  it("changes with a name, an input bound or an output field", () => {
    const base = catalogHash([def("get_x", z.strictObject({ n: z.number().int().max(5) }))]);
    expect(catalogHash([def("get_y", z.strictObject({ n: z.number().int().max(5) }))])).not.toBe(base);
    expect(catalogHash([def("get_x", z.strictObject({ n: z.number().int().max(6) }))])).not.toBe(base);
    expect(
      catalogHash([{ name: "get_x", input: z.strictObject({ n: z.number().int().max(5) }), output: z.object({ ok: z.boolean(), more: z.string() }) }]),
    ).not.toBe(base);
  });

  it("canonical JSON of a JSON value (undefined members dropped, bytes as base64) ignores key order", () => {
    expect(canonicalJson(jsonValue({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined }, s: Buffer.from("hi") }))).toBe('{"a":{"d":[1,{"y":2,"z":1}]},"b":1,"s":"aGk="}');
    // The same function signs approvals: without jsonValue() it refuses what is not JSON.
    expect(() => canonicalJson({ c: undefined })).toThrow(/undefined, which is not a JSON value/);
  });
});
