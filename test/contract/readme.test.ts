// The README's runnable blocks are the one source of the quick start: test/e2e/readme.test.ts runs
// them word for word in containers, and this test (like `npm run check`) fails as soon as they stop
// being runnable without a shell or name another version's files.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs script shared with scripts/check.mjs, no type declarations
import { checkReadme, readmeBlocks, splitWords } from "../../scripts/readme-blocks.mjs";

const ROOT = join(import.meta.dirname, "..", "..");
const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
type Block = { name: string; commands: Array<{ line: string; argv: string[] }> };

describe("the README's runnable blocks", () => {
  it("are runnable as written", () => {
    expect(checkReadme(readme, version)).toEqual([]);
  });

  it("the quick start goes from installing the CLI to a diagnostic in at most 8 commands, with this version's files", () => {
    const quick = (readmeBlocks(readme) as Map<string, Block>).get("quickstart");
    const argv = quick?.commands.map((c) => c.argv) ?? [];
    expect(argv.length).toBeLessThanOrEqual(8);
    expect(argv[0]).toEqual(["npm", "install", "-g", `./hostward-${version}.tgz`]);
    expect(argv.at(-1)?.slice(0, 2)).toEqual(["hostward", "call"]);
    expect(argv.flat()).toContain(`./hostward-agent_${version}_amd64.deb`);
  });

  it("notice drift: a shell construct, another version, a missing block, an unknown program", () => {
    const quick = /<!-- runnable: quickstart -->[\s\S]*?\n```\n/.exec(readme)?.[0] ?? "";
    expect(quick).not.toBe("");
    const withPipe = readme.replace(quick, quick.replace("hostward init", "hostward init | tee log"));
    expect(checkReadme(withPipe, version).join("\n")).toMatch(/"\|" would be interpreted by a shell/);
    expect(checkReadme(readme, "9.9.9").join("\n")).toMatch(/is version .*, package\.json says 9\.9\.9/);
    expect(checkReadme(readme.replace("<!-- runnable: quickstart -->", ""), version).join("\n")).toMatch(/no <!-- runnable: quickstart --> block/);
    expect(checkReadme(readme.replace(quick, quick.replace("hostward init", "curl https://x | sh")), version).length).toBeGreaterThan(0);
    expect(checkReadme(readme.replace(quick, quick.replace("hostward init", "sudo hostward init")), version).join("\n")).toMatch(/starts sudo; the runner knows/);
  });

  it("split words as a shell would, and refuse expansions", () => {
    expect(splitWords("hostward call get_load target='*' unit=\"nginx\"")).toEqual(["hostward", "call", "get_load", "target=*", "unit=nginx"]);
    for (const bad of ["echo $HOME", "ls ~/x", "a && b", "a > f", "cat *.crt", "echo `id`", 'echo "$x"']) expect(() => splitWords(bad), bad).toThrow();
  });
});

describe("the README's approver-key step", () => {
  it("names the files where `hostward pki approver-key` writes them", async () => {
    const { mkdtempSync, existsSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { execFileSync } = await import("node:child_process");
    const home = mkdtempSync(join(tmpdir(), "hostward-readme-approver-"));
    try {
      execFileSync(process.execPath, [join(ROOT, "dist", "hostward.cjs"), "pki", "approver-key", "alice", "--max-impact", "MEDIUM"], { env: { PATH: process.env.PATH, HOME: home }, stdio: "pipe" });
      const section = readme.slice(readme.indexOf("## Actions and approvals"), readme.indexOf("## Security model"));
      const dir = /`(~\/\.config\/hostward\/pki\/approvers\/)`/.exec(section)?.[1];
      expect(dir).toBeDefined();
      for (const name of ["alice", "alice.pub", "alice.approver"]) {
        expect(section).toContain(`\`${name}\``);
        expect(existsSync(join(home, (dir ?? "").slice(2), name)), name).toBe(true);
      }
      // Every path the commands of the section use exists where the command wrote it.
      for (const m of section.matchAll(/~\/(\.config\/hostward\/pki\/approvers\/[\w.]+)/g)) expect(existsSync(join(home, m[1] as string)), m[0]).toBe(true);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
