// What each shipped agent bundle contains, read from esbuild's metafiles (dist/meta/, written by
// scripts/build.mjs; the global setup builds them first). The reader bundle carries no action code,
// the operator bundle no diagnostic code, and neither imports child_process outside exec.ts.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

interface Metafile {
  inputs: Record<string, { imports: { path: string; kind: string; external?: boolean }[] }>;
}

const ROOT = join(import.meta.dirname, "..", "..");

function meta(name: "hostward-reader" | "hostward-operator"): Metafile {
  return JSON.parse(readFileSync(join(ROOT, "dist", "meta", `${name}.json`), "utf8")) as Metafile;
}

function inputsUnder(m: Metafile, prefixes: string[]): string[] {
  return Object.keys(m.inputs).filter((p) => prefixes.some((prefix) => p.startsWith(prefix)));
}

function childProcessImporters(m: Metafile): string[] {
  return Object.entries(m.inputs)
    .filter(([, input]) => input.imports.some((i) => i.path === "child_process" || i.path === "node:child_process"))
    .map(([path]) => path);
}

describe("the reader bundle", () => {
  const reader = meta("hostward-reader");

  it("is built from the reader entry and the diagnostics (sanity: the metafile is the right one)", () => {
    expect(reader.inputs["agent/src/main-reader.ts"]).toBeDefined();
    expect(inputsUnder(reader, ["agent/src/diagnostics/"]).length).toBeGreaterThan(0);
  });

  it("contains no action code", () => {
    expect(
      inputsUnder(reader, ["agent/src/actions/", "proto/catalog/actions/", "proto/gen/hostward/v1/actions", "agent/src/server/actions-service"]),
    ).toEqual([]);
  });

  it("imports child_process only in agent/src/exec.ts", () => {
    // exec.ts itself shows up: the metafile records the import, so the check below can fail.
    expect(childProcessImporters(reader)).toContain("agent/src/exec.ts");
    expect(childProcessImporters(reader).filter((p) => p !== "agent/src/exec.ts")).toEqual([]);
  });
});

describe("the operator bundle", () => {
  const operator = meta("hostward-operator");

  it("is built from the operator entry (sanity: the metafile is the right one)", () => {
    expect(operator.inputs["agent/src/main-operator.ts"]).toBeDefined();
    expect(operator.inputs["agent/src/server/actions-service.ts"]).toBeDefined();
  });

  it("contains no diagnostic code", () => {
    expect(inputsUnder(operator, ["agent/src/diagnostics/", "proto/catalog/diagnostics/", "agent/src/server/diagnostics-service"])).toEqual([]);
  });

  it("imports child_process only in agent/src/exec.ts and the helper launcher", () => {
    expect(childProcessImporters(operator).sort()).toEqual(["agent/src/actions/run-helper.ts", "agent/src/exec.ts"]);
  });
});
