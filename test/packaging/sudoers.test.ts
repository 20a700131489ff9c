// packaging/sudoers, installed by the maintainer scripts as /etc/sudoers.d/hostward once
// `visudo -cf` accepts it: exactly one rule, for hostward-operator, naming the one helper by its
// absolute path, with no wildcard, no SETENV and no argument patterns.
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, tool } from "./tools";

const SUDOERS = join(ROOT, "packaging/sudoers");
const HELPER = "/usr/libexec/hostward/hostward-action";

/** The rule lines (no comments, no blank lines). */
function rules(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

/** What is wrong with a sudoers text for hostward, as messages (empty: nothing). */
function problems(text: string): string[] {
  const lines = rules(text);
  const out: string[] = [];
  const forOperator = lines.filter((l) => /\bhostward-operator\b/.test(l));
  if (forOperator.length !== 1) out.push(`${forOperator.length} lines for hostward-operator, expected 1`);
  if (lines.length !== forOperator.length) out.push("lines for someone else");
  for (const l of lines) {
    if (/[*?[\]]/.test(l)) out.push(`wildcard in: ${l}`);
    if (/\bSETENV\b/.test(l)) out.push(`SETENV in: ${l}`);
    if (!l.endsWith(`NOPASSWD: ${HELPER} ""`)) out.push(`command is not exactly ${HELPER} "" (no arguments allowed): ${l}`);
    if (!/^hostward-operator ALL=\(root\) /.test(l)) out.push(`not "hostward-operator ALL=(root)": ${l}`);
  }
  return out;
}

function visudo(text: string): { code: number | null; output: string } {
  const file = join(mkdtempSync(join(tmpdir(), "hostward-sudoers-")), "hostward");
  writeFileSync(file, text);
  chmodSync(file, 0o440);
  const r = tool("visudo", ["-cf", file]);
  return { code: r.code, output: r.stdout + r.stderr };
}

describe("packaging/sudoers", () => {
  const text = readFileSync(SUDOERS, "utf8");

  it("is accepted by visudo -cf", () => {
    const r = visudo(text);
    expect(r.output).toMatch(/parsed OK/);
    expect(r.code).toBe(0);
  });

  it("holds exactly one rule: hostward-operator may run the helper as root, nothing else", () => {
    expect(rules(text)).toEqual([`hostward-operator ALL=(root) NOPASSWD: ${HELPER} ""`]);
    expect(problems(text)).toEqual([]);
  });

  it("the rule checks catch a wildcard, SETENV, a second line and another command", () => {
    expect(problems(`hostward-operator ALL=(root) NOPASSWD: /usr/libexec/hostward/*\n`).join()).toMatch(/wildcard/);
    expect(problems(`hostward-operator ALL=(root) NOPASSWD:SETENV: ${HELPER}\n`).join()).toMatch(/SETENV/);
    expect(problems(`${text}hostward-operator ALL=(root) NOPASSWD: /usr/bin/systemctl\n`).join()).toMatch(/2 lines/);
    expect(problems(`hostward-operator ALL=(ALL) NOPASSWD: ${HELPER} ""\n`).join()).toMatch(/ALL=\(root\)/);
    expect(problems(`hostward-operator ALL=(root) NOPASSWD: ${HELPER}\n`).join()).toMatch(/no arguments allowed/);
  });

  it("visudo -cf rejects a broken file (so the maintainer scripts' check can refuse one)", () => {
    expect(visudo("hostward-operator ALL=(root NOPASSWD /nowhere\n").code).not.toBe(0);
  });
});
