// read_log_file and search_logs end to end at the handler level: the catalog's zod input (as the
// agent validates it), then the handler, on real files, symlinks and a FIFO in a temp root.
import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readLogFile, searchLogs } from "../../proto/catalog/diagnostics/logs";
import { logsHandlers } from "../../agent/src/diagnostics/logs";
import { rejectsWith, schemaErrors, testContext } from "../support/diagnostics";

let base: string;
let root: string;

const read = (input: unknown, c = testContext({ config: { logs: { roots: [root] } } })) => logsHandlers.read_log_file(readLogFile.input.parse(input), c);
const search = (input: unknown, c = testContext({ config: { logs: { roots: [root] } } })) => logsHandlers.search_logs(searchLogs.input.parse(input), c);

const numbered = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `line ${i + from}`);

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "hostward-logs-"));
  root = join(base, "log");
  mkdirSync(join(root, "app"), { recursive: true });
  mkdirSync(join(base, "elsewhere"));
  writeFileSync(join(root, "150.log"), `${numbered(150).join("\n")}\n`);
  writeFileSync(join(root, "short.log"), "a\nb\nc\n");
  writeFileSync(join(root, "no-newline.log"), "first\nsecond\nlast without newline");
  writeFileSync(join(root, "empty.log"), "");
  writeFileSync(join(root, "crlf.log"), "one\r\ntwo\r\n");
  writeFileSync(join(root, "binary.log.1"), Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x0a, 0x41]));
  writeFileSync(join(base, "elsewhere", "secret.log"), "password=hunter2\n");
  symlinkSync(join(base, "elsewhere", "secret.log"), join(root, "escape.log"));
  symlinkSync("150.log", join(root, "current.log"));
  execFileSync("/usr/bin/mkfifo", ["--", join(root, "pipe.log")]);
  // A directory of rotated logs for search_logs, with known modification times.
  const now = Date.now() / 1000;
  const app = join(root, "app");
  writeFileSync(join(app, "app.log"), "10:00 ok\n10:01 ERROR disk full\n10:02 ok\n");
  writeFileSync(join(app, "app.log.1"), "09:00 ok\n09:01 ERROR timeout\n09:02 error lower\n");
  writeFileSync(join(app, "app.log.2.gz"), "ERROR inside a compressed file is not searched\n");
  utimesSync(join(app, "app.log"), now, now);
  utimesSync(join(app, "app.log.1"), now - 3600, now - 3600);
  symlinkSync(join(base, "elsewhere", "secret.log"), join(app, "zz-escape.log"));
  execFileSync("/usr/bin/mkfifo", ["--", join(app, "fifo.log")]);
});

afterAll(() => rmSync(base, { recursive: true, force: true }));

describe("read_log_file: tail", () => {
  it("returns the last 100 lines by default, with offsets and truncated", async () => {
    const r = await read({ path: join(root, "150.log") });
    const size = statSync(join(root, "150.log")).size;
    expect(r.mode).toBe("tail");
    expect(r.lines).toEqual(numbered(100, 51));
    expect(r.truncated).toBe(true);
    expect(r.size).toBe(size);
    expect(r.nextOffset).toBe(size);
    expect(readFileSync(join(root, "150.log")).subarray(r.startOffset).toString()).toBe(`${numbered(100, 51).join("\n")}\n`);
    expect(r.realPath).toBe(join(root, "150.log"));
    expect(new Date(r.mtime).getTime()).toBeGreaterThan(0);
  });

  it("returns the whole file when it has fewer lines than asked, not truncated", async () => {
    const r = await read({ path: join(root, "short.log"), tailLines: 10 });
    expect(r.lines).toEqual(["a", "b", "c"]);
    expect(r.startOffset).toBe(0);
    expect(r.truncated).toBe(false);
  });

  it("takes exactly N lines, and a last line without a newline counts", async () => {
    expect((await read({ path: join(root, "short.log"), tailLines: 2 })).lines).toEqual(["b", "c"]);
    expect((await read({ path: join(root, "no-newline.log"), tailLines: 2 })).lines).toEqual(["second", "last without newline"]);
    expect((await read({ path: join(root, "150.log"), tailLines: 1 })).lines).toEqual(["line 150"]);
  });

  it("handles an empty file and CRLF lines", async () => {
    const e = await read({ path: join(root, "empty.log") });
    expect(e.lines).toEqual([]);
    expect(e.truncated).toBe(false);
    expect((await read({ path: join(root, "crlf.log") })).lines).toEqual(["one", "two"]);
  });

  it("stays within maxBytes and drops the partial first line", async () => {
    const r = await read({ path: join(root, "150.log"), tailLines: 100, maxBytes: 50 });
    // "line 150\n" is 9 bytes; 50 bytes end with 5 whole lines and a cut one that is dropped.
    expect(r.lines).toEqual(numbered(5, 146));
    expect(r.truncated).toBe(true);
    expect(r.nextOffset - r.startOffset).toBeLessThanOrEqual(50);
  });

  it("reads through an in-root symlink", async () => {
    const r = await read({ path: join(root, "current.log"), tailLines: 1 });
    expect(r.lines).toEqual(["line 150"]);
    expect(r.realPath).toBe(join(root, "150.log"));
  });

  it("flags a binary file instead of returning its bytes", async () => {
    const r = await read({ path: join(root, "binary.log.1") });
    expect(r.binary).toBe(true);
    expect(r.lines).toEqual([]);
  });
});

describe("read_log_file: range", () => {
  it("reads from offset 0 up to maxBytes, ending on a complete line", async () => {
    const r = await read({ path: join(root, "150.log"), offset: 0, maxBytes: 20 });
    expect(r.mode).toBe("range");
    expect(r.lines).toEqual(["line 1", "line 2"]);
    expect(r.startOffset).toBe(0);
    expect(r.nextOffset).toBe(14);
    expect(r.truncated).toBe(true);
  });

  it("pages through the whole file with nextOffset", async () => {
    const path = join(root, "150.log");
    const got: string[] = [];
    let offset = 0;
    let truncated = true;
    for (let i = 0; truncated && i < 1000; i++) {
      const r = await read({ path, offset, maxBytes: 100 });
      got.push(...r.lines);
      expect(r.nextOffset).toBeGreaterThan(offset);
      offset = r.nextOffset;
      truncated = r.truncated;
    }
    expect(got).toEqual(numbered(150));
    expect(offset).toBe(statSync(path).size);
  });

  it("returns nothing at the end of the file and sees appended lines later", async () => {
    const path = join(root, "growing.log");
    writeFileSync(path, "one\n");
    const end = (await read({ path, offset: 4 })) as { lines: string[]; nextOffset: number; truncated: boolean };
    expect(end.lines).toEqual([]);
    expect(end.truncated).toBe(false);
    appendFileSync(path, "two\n");
    expect((await read({ path, offset: end.nextOffset })).lines).toEqual(["two"]);
  });

  it("returns a line longer than maxBytes cut, and moves on", async () => {
    const path = join(root, "long-line.log");
    writeFileSync(path, `${"x".repeat(300)}\nnext\n`);
    const r = await read({ path, offset: 0, maxBytes: 100 });
    expect(r.lines).toEqual(["x".repeat(100)]);
    expect(r.nextOffset).toBe(100);
  });

  it("refuses an offset beyond the end, naming offset", async () => {
    const e = await rejectsWith(read({ path: join(root, "short.log"), offset: 7 }));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toMatch(/^offset: 7 is beyond the end of the file \(6 bytes/);
  });
});

describe("read_log_file: refusals", () => {
  it("refuses a symlink out of the roots", async () => {
    const e = await rejectsWith(read({ path: join(root, "escape.log") }));
    expect(e.code).toBe("PERMISSION_DENIED");
    expect(e.message).toMatch(/^path: .*escape\.log" resolves to .*secret\.log.*outside the allowed log roots/);
  });

  it("refuses a FIFO without blocking", async () => {
    const started = Date.now();
    const e = await rejectsWith(read({ path: join(root, "pipe.log") }));
    expect(e.code).toBe("PERMISSION_DENIED");
    expect(e.message).toMatch(/FIFO/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("refuses /proc/self/status, /dev/null and /etc/shadow (outside the roots)", async () => {
    for (const path of ["/proc/self/status", "/dev/null", "/etc/shadow"]) {
      const e = await rejectsWith(read({ path }));
      expect(e.code, path).toBe("PERMISSION_DENIED");
    }
  });

  it("refuses /proc even when it is configured as a root", async () => {
    const e = await rejectsWith(read({ path: "/proc/self/status" }, testContext({ config: { logs: { roots: ["/proc", root] } } })));
    expect(e.code).toBe("PERMISSION_DENIED");
  });

  it("reports a missing file as NOT_FOUND and a directory as INVALID_ARGUMENT", async () => {
    expect((await rejectsWith(read({ path: join(root, "nope.log") }))).code).toBe("NOT_FOUND");
    expect((await rejectsWith(read({ path: join(root, "app") }))).code).toBe("INVALID_ARGUMENT");
  });

  it("refuses bad paths in the catalog schema, naming the field", () => {
    expect(schemaErrors(readLogFile.input, { path: "var/log/syslog" })).toMatch(/^path: path is not valid/);
    expect(schemaErrors(readLogFile.input, { path: "-flag" })).toMatch(/path: path must not start with "-"/);
    expect(schemaErrors(readLogFile.input, { path: `${root}/../etc/passwd` })).toMatch(/path: path must not contain "\." or "\.\." segments/);
    expect(schemaErrors(readLogFile.input, { path: "/var/log/a\0b" })).toMatch(/path: path contains a control character/);
    expect(schemaErrors(readLogFile.input, { path: "/var/log/a\nb" })).toMatch(/path: path contains a control character/);
    expect(schemaErrors(readLogFile.input, { path: `/${"a".repeat(1024 * 1024)}` })).toMatch(/path: path is longer than 4096/);
    expect(schemaErrors(readLogFile.input, { path: "/var/log/syslog", maxBytes: 2 * 1024 * 1024 })).toMatch(/^maxBytes: /);
    expect(schemaErrors(readLogFile.input, { path: "/var/log/syslog", tailLines: 5001 })).toMatch(/^tailLines: /);
    expect(schemaErrors(readLogFile.input, { path: "/var/log/syslog", offset: -1 })).toMatch(/^offset: offset must be 0 or more/);
    expect(schemaErrors(readLogFile.input, { path: "/var/log/syslog", lines: 5 })).toMatch(/Unrecognized key/);
    expect(schemaErrors(readLogFile.input, { path: 42 })).toMatch(/^path: /);
  });
});

describe("search_logs", () => {
  it("finds literal matches in one file with line numbers and offsets", async () => {
    const r = await search({ path: join(root, "150.log"), pattern: "line 14" });
    expect(r.matches.map((m) => [m.lineNumber, m.line])).toEqual([
      [14, "line 14"],
      ...Array.from({ length: 10 }, (_, i) => [140 + i, `line ${140 + i}`]),
    ]);
    expect(r.matches[0]!.file).toBe(join(root, "150.log"));
    expect(r.filesScanned).toBe(1);
    expect(r.bytesScanned).toBe(statSync(join(root, "150.log")).size);
    expect(r.truncated).toBe(false);
    expect(r.stoppedBy).toBeNull();
  });

  it("searches a directory one level deep, newest file first, skipping compressed, FIFOs and escapes", async () => {
    const r = await search({ path: join(root, "app"), pattern: "error", ignoreCase: true });
    expect(r.matches.map((m) => [m.file.slice(root.length + 1), m.line])).toEqual([
      ["app/app.log", "10:01 ERROR disk full"],
      ["app/app.log.1", "09:01 ERROR timeout"],
      ["app/app.log.1", "09:02 error lower"],
    ]);
    expect(r.filesScanned).toBe(2);
    expect(r.filesSkipped).toBe(3); // app.log.2.gz, fifo.log, zz-escape.log
  });

  it("supports RE2 patterns and context lines", async () => {
    const r = await search({ path: join(root, "app", "app.log.1"), pattern: "^09:0[12] (?i:error)", mode: "regex", contextLines: 1 });
    expect(r.matches.map((m) => [m.lineNumber, m.before, m.after])).toEqual([
      [2, ["09:00 ok"], ["09:02 error lower"]],
      [3, ["09:01 ERROR timeout"], []],
    ]);
  });

  it("refuses an invalid regex with INVALID_ARGUMENT naming pattern, before touching files", async () => {
    const e = await rejectsWith(search({ path: "/etc/shadow", pattern: "(unclosed", mode: "regex" }));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toMatch(/^pattern: not a valid RE2 expression/);
  });

  it("respects maxMatches across files and says it stopped", async () => {
    const r = await search({ path: join(root, "app"), pattern: "ok", maxMatches: 2 });
    expect(r.matches).toHaveLength(2);
    expect(r.truncated).toBe(true);
    expect(r.stoppedBy).toBe("max_matches");
  });

  it("stops at logs.maxScanBytes of the agent config", async () => {
    const r = await search({ path: join(root, "150.log"), pattern: "line 14" }, testContext({ config: { logs: { roots: [root], maxScanBytes: 1024 } } }));
    expect(r.matches.map((m) => m.lineNumber)).toEqual([14]);
    expect(r.bytesScanned).toBe(1024);
    expect(r.truncated).toBe(true);
    expect(r.stoppedBy).toBe("max_bytes");
  });

  it("refuses a single FIFO, a symlink out and a path outside the roots", async () => {
    expect((await rejectsWith(search({ path: join(root, "pipe.log"), pattern: "x" }))).message).toMatch(/FIFO/);
    expect((await rejectsWith(search({ path: join(root, "escape.log"), pattern: "x" }))).code).toBe("PERMISSION_DENIED");
    expect((await rejectsWith(search({ path: "/etc", pattern: "root" }))).code).toBe("PERMISSION_DENIED");
  });

  it("refuses bad input in the catalog schema, naming the field", () => {
    expect(schemaErrors(searchLogs.input, { path: "/var/log", pattern: "" })).toMatch(/^pattern: pattern must not be empty/);
    expect(schemaErrors(searchLogs.input, { path: "/var/log", pattern: "a\nb" })).toMatch(/^pattern: pattern contains a control character/);
    expect(schemaErrors(searchLogs.input, { path: "/var/log", pattern: "x", mode: "pcre" })).toMatch(/^mode: /);
    expect(schemaErrors(searchLogs.input, { path: "/var/log", pattern: "x", maxMatches: 1001 })).toMatch(/^maxMatches: /);
    expect(schemaErrors(searchLogs.input, { path: "/var/log", pattern: "x", contextLines: 6 })).toMatch(/^contextLines: /);
    expect(schemaErrors(searchLogs.input, { path: "/var/log", pattern: "x".repeat(513) })).toMatch(/^pattern: pattern is longer than 512/);
    expect(schemaErrors(searchLogs.input, { path: "/var/log", pattern: "x", recursive: true })).toMatch(/Unrecognized key/);
  });

  it("applies the catalog defaults", () => {
    expect(searchLogs.input.parse({ path: "/var/log", pattern: "x" })).toEqual({
      path: "/var/log",
      pattern: "x",
      mode: "literal",
      ignoreCase: false,
      maxMatches: 100,
      contextLines: 0,
    });
    expect(readLogFile.input.parse({ path: "/var/log/syslog" })).toEqual({ path: "/var/log/syslog", tailLines: 100, maxBytes: 65536 });
  });
});

describe("catalog outputs", () => {
  it("handler results satisfy the declared output schemas", async () => {
    readLogFile.output.parse(await read({ path: join(root, "150.log"), tailLines: 3 }));
    readLogFile.output.parse(await read({ path: join(root, "150.log"), offset: 10 }));
    searchLogs.output.parse(await search({ path: join(root, "app"), pattern: "ok", contextLines: 2 }));
  });
});
