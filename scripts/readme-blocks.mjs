// The README's runnable blocks: a fenced block right after a `<!-- runnable: NAME -->` comment is a
// list of commands that the e2e suite runs word for word (test/e2e/readme.test.ts runs
// "quickstart" on Debian 12 and 13 containers). This file is the one parser: the test reads the
// commands through it, and `npm run check` (scripts/check.mjs) fails when a block is missing, holds
// something the runner cannot run without a shell, or names package files of another version than
// package.json's. One line = one command: `# …` after two spaces is a comment; words split like a
// shell splits them ('…' and "…" quote), but no expansion of any kind ($, globs, ~ after the
// first character, pipes, redirections, ;, &&) is accepted, so what runs is exactly what is written.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const README = join(ROOT, "README.md");

/** The blocks the e2e suite runs, and the programs each may start. */
export const RUNNABLE = {
  quickstart: ["npm", "hostward", "scp", "ssh"],
  "mcp-json": null, // a JSON block: { "mcpServers": { "hostward": { "command", "args" } } }
};

/** Splits one command line into words; throws on anything a shell would expand or interpret. */
export function splitWords(line) {
  const words = [];
  let word = "";
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === "'" || ch === '"') {
      const end = line.indexOf(ch, i + 1);
      if (end === -1) throw new Error(`unterminated ${ch} quote`);
      const quoted = line.slice(i + 1, end);
      if (ch === '"' && /[$`\\]/.test(quoted)) throw new Error(`"${quoted}": $, \` and \\ inside double quotes are not supported; use single quotes`);
      word += quoted;
      inWord = true;
      i = end;
    } else if (ch === " " || ch === "\t") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else if (/[$`\\|;&<>()*?[\]{}!]/.test(ch)) {
      throw new Error(`${JSON.stringify(ch)} would be interpreted by a shell; the runner takes plain words (quote it)`);
    } else if (ch === "~" && !inWord) {
      throw new Error(`~ would be expanded by a shell; write the path out`);
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** Every `<!-- runnable: NAME -->` block of the README: {name, lang, text, commands[{line, argv}]}. */
export function readmeBlocks(text = readFileSync(README, "utf8")) {
  const blocks = new Map();
  const re = /<!-- runnable: ([a-z0-9-]+) -->\s*\n```(\w*)\n([\s\S]*?)\n```/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const [, name, lang, body] = m;
    if (blocks.has(name)) throw new Error(`README.md: two runnable blocks named ${name}`);
    const commands = [];
    if (lang === "sh") {
      for (const raw of body.split("\n")) {
        const line = raw.replace(/\s{2,}#.*$/, "").trim();
        if (line === "" || line.startsWith("#")) continue;
        let argv;
        try {
          argv = splitWords(line);
        } catch (err) {
          throw new Error(`README.md block ${name}: ${JSON.stringify(line)}: ${err.message}`, { cause: err });
        }
        commands.push({ line, argv });
      }
    }
    blocks.set(name, { name, lang, text: body, commands });
  }
  return blocks;
}

/** Problems with the README's runnable blocks (empty when they are fine). */
export function checkReadme(text = readFileSync(README, "utf8"), version = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version) {
  const problems = [];
  let blocks;
  try {
    blocks = readmeBlocks(text);
  } catch (err) {
    return [err.message];
  }
  for (const [name, programs] of Object.entries(RUNNABLE)) {
    const block = blocks.get(name);
    if (!block) {
      problems.push(`README.md has no <!-- runnable: ${name} --> block (test/e2e/readme.test.ts runs it)`);
      continue;
    }
    if (programs === null) {
      try {
        JSON.parse(block.text);
      } catch (err) {
        problems.push(`README.md block ${name} is not JSON: ${err.message}`);
      }
      continue;
    }
    if (block.commands.length === 0) problems.push(`README.md block ${name} holds no command`);
    for (const c of block.commands) {
      if (!programs.includes(c.argv[0])) problems.push(`README.md block ${name}: ${JSON.stringify(c.line)} starts ${c.argv[0]}; the runner knows ${programs.join(", ")}`);
      for (const w of c.argv) {
        const m = /^(?:\.\/)?hostward(?:-agent)?[_-](\d[^_]*?)(?:-1\.x86_64\.rpm|_amd64\.deb|\.tgz)$/.exec(w);
        if (m && m[1] !== version) problems.push(`README.md block ${name}: ${w} is version ${m[1]}, package.json says ${version}`);
      }
    }
  }
  return problems;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const problems = checkReadme();
  if (problems.length) {
    process.stderr.write(`${problems.join("\n")}\n`);
    process.exit(1);
  }
  for (const b of readmeBlocks().values()) process.stdout.write(`${b.name}: ${b.commands.length || "(json)"} ${b.commands.length ? "commands" : ""}\n`);
}
