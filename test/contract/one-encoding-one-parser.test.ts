// Issue 11, deliverable 7: what is signed and what is verified come from one canonical encoding
// and one certificate-name parser, shared by the broker, the agent and the helper (which bundles
// them). A source scan: no second canonical-JSON function and no other reader of a certificate's
// subject alternative names may appear; and the bundles that sign or verify carry the shared ones.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((n) => {
    const p = join(ROOT, dir, n);
    if (statSync(p).isDirectory()) return n === "gen" ? [] : sources(relative(ROOT, p));
    return p.endsWith(".ts") ? [relative(ROOT, p)] : [];
  });
}

const CODE = ["agent/src", "broker/src", "proto/catalog", "shared"].flatMap(sources);

function filesMatching(re: RegExp): string[] {
  return CODE.filter((f) => re.test(readFileSync(join(ROOT, f), "utf8")));
}

interface Metafile {
  inputs: Record<string, unknown>;
}
const meta = (name: string) => JSON.parse(readFileSync(join(ROOT, "dist", "meta", `${name}.json`), "utf8")) as Metafile;

describe("one canonical encoding", () => {
  it("is defined once (shared/canonical-json.ts); nothing else sorts keys into JSON", () => {
    expect(filesMatching(/function canonicalJson\b|function sortKeys\b|function canonical[A-Z]\w*Json\b/)).toEqual(["shared/canonical-json.ts"]);
    // Control: the scan sees the file it must find.
    expect(CODE).toContain("shared/canonical-json.ts");
  });

  it("the broker (signs), the operator agent and the helper (verify) all bundle it", () => {
    for (const bundle of ["hostward", "hostward-operator", "hostward-action"]) expect(Object.keys(meta(bundle).inputs), bundle).toContain("shared/canonical-json.ts");
  });
});

describe("one certificate-name parser", () => {
  it("only shared/cert-names.ts reads a certificate's subject alternative names", () => {
    // http-check.ts reports the remote server's SAN text as diagnostic data, unparsed.
    expect(filesMatching(/\.subjectAltName\b|\.subjectaltname\b/).filter((f) => f !== "agent/src/net/http-check.ts")).toEqual(["shared/cert-names.ts"]);
  });

  it("the helper, both agents, the check and the broker bundle it", () => {
    for (const bundle of ["hostward", "hostward-reader", "hostward-operator", "hostward-agent", "hostward-action"]) {
      expect(Object.keys(meta(bundle).inputs), bundle).toContain("shared/cert-names.ts");
    }
  });
});
