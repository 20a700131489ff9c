// Path containment for read_log_file and search_logs (agent/src/safe-file.ts), on a real tree of
// files, symlinks (in-root, out-of-root, chained, through a directory, loops), a FIFO, a socket,
// /dev and /proc. Issue 2: "regular files only (FIFOs, devices, /proc refused without blocking),
// containment checked on the file actually opened (symlinks out of the root refused)".
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DiagnosticError } from "../../agent/src/diagnostics/context";
import {
  checkPathSyntax,
  describeType,
  isInside,
  listFilesInRoots,
  MAX_PATH_BYTES,
  openFileInRoots,
  resolveInRoots,
  resolveRoots,
  type ResolvedRoots,
} from "../../agent/src/safe-file";

let base: string;
let root: string;
let outside: string;
let roots: ResolvedRoots;
let socketServer: Server;

/** Runs `fn`, expects a DiagnosticError with `code` and a message matching `message`. */
async function expectRefusal(fn: () => Promise<unknown>, code: DiagnosticError["code"], message: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, "expected a refusal").toBeInstanceOf(DiagnosticError);
  expect((caught as DiagnosticError).code).toBe(code);
  expect((caught as DiagnosticError).message).toMatch(message);
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), "hostward-safe-file-"));
  root = join(base, "logs");
  outside = join(base, "outside");
  mkdirSync(join(root, "sub"), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(root, "app.log"), "line one\nline two\n");
  writeFileSync(join(root, "sub", "nested.log"), "nested\n");
  writeFileSync(join(root, "-flag.log"), "dash\n");
  writeFileSync(join(outside, "secret.log"), "secret\n");
  symlinkSync("app.log", join(root, "link-in"));
  symlinkSync(join(outside, "secret.log"), join(root, "link-out"));
  symlinkSync("../outside/secret.log", join(root, "link-out-relative"));
  symlinkSync("chain2", join(root, "chain1"));
  symlinkSync("link-out", join(root, "chain2"));
  symlinkSync("chain-in2", join(root, "chain-in1"));
  symlinkSync("sub/nested.log", join(root, "chain-in2"));
  symlinkSync(outside, join(root, "dir-out"));
  symlinkSync("sub", join(root, "dir-in"));
  symlinkSync("loop2", join(root, "loop1"));
  symlinkSync("loop1", join(root, "loop2"));
  symlinkSync("/dev/null", join(root, "devnull"));
  symlinkSync("/proc/self/status", join(root, "proc-status"));
  symlinkSync(root, join(base, "logs-link"));
  // mkfifo has no node:fs equivalent; tests only (the agent never spawns outside exec.ts).
  execFileSync("/usr/bin/mkfifo", ["--", join(root, "pipe.log")]);
  socketServer = createServer();
  await new Promise<void>((resolve) => socketServer.listen(join(root, "sock.log"), resolve));
  roots = await resolveRoots([root]);
});

afterAll(async () => {
  await new Promise<void>((resolve) => socketServer.close(() => resolve()));
  rmSync(base, { recursive: true, force: true });
});

describe("isInside", () => {
  it("is true for the directory itself and paths below it", () => {
    expect(isInside("/var/log", "/var/log")).toBe(true);
    expect(isInside("/var/log/syslog", "/var/log")).toBe(true);
    expect(isInside("/var/log/a/b", "/var/log")).toBe(true);
    expect(isInside("/anything", "/")).toBe(true);
  });
  it("is false for siblings that share a prefix and for parents", () => {
    expect(isInside("/var/logs/x", "/var/log")).toBe(false);
    expect(isInside("/var/log2", "/var/log")).toBe(false);
    expect(isInside("/var", "/var/log")).toBe(false);
    expect(isInside("/etc/passwd", "/var/log")).toBe(false);
  });
});

describe("resolveRoots", () => {
  it("resolves a root given through a symlink to its real path", async () => {
    const r = await resolveRoots([join(base, "logs-link")]);
    expect(r.configured).toEqual([join(base, "logs-link")]);
    expect(r.real).toEqual([root]);
    expect(r.refused).toEqual([]);
  });

  it("normalises trailing and repeated slashes", async () => {
    const r = await resolveRoots([`${root}//`]);
    expect(r.configured).toEqual([root]);
  });

  it("refuses /proc, /sys, /dev and anything below them even when configured", async () => {
    const r = await resolveRoots(["/proc", "/sys", "/dev", "/dev/shm", "/proc/self", "/sys/class"]);
    expect(r.real).toEqual([]);
    expect(r.refused.map((x) => x.root)).toEqual(["/proc", "/sys", "/dev", "/dev/shm", "/proc/self", "/sys/class"]);
    for (const x of r.refused) expect(x.reason).toMatch(/never served/);
  });

  it("refuses a root that is a symlink into /proc", async () => {
    const link = join(base, "proc-root");
    symlinkSync("/proc/self", link);
    const r = await resolveRoots([link]);
    expect(r.real).toEqual([]);
    expect(r.refused[0]?.reason).toMatch(/\/proc/);
  });

  it("refuses missing and relative roots and keeps the others", async () => {
    const r = await resolveRoots([join(base, "missing"), "var/log", root]);
    expect(r.real).toEqual([root]);
    expect(r.refused.map((x) => x.root)).toEqual([join(base, "missing"), "var/log"]);
    expect(r.refused[0]?.reason).toMatch(/ENOENT/);
  });
});

describe("checkPathSyntax (before any system call)", () => {
  const invalid: [string, unknown, RegExp][] = [
    ["a relative path", "var/log/syslog", /not an absolute path/],
    ["a -flag", "-flag", /not an absolute path/],
    ["--help", "--help", /not an absolute path/],
    ["the empty string", "", /must not be empty/],
    ["a NUL byte", "/var/log/sys\0log", /NUL byte/],
    ["a newline", "/var/log/sys\nlog", /control character/],
    ["a carriage return", "/var/log/x\r", /control character/],
    ["a tab", "/var/log/\tx", /control character/],
    ["DEL", "/var/log/\u007f", /control character/],
    ["a .. segment", "/var/log/../../etc/shadow", /"\." or "\.\." segment/],
    ["a trailing ..", "/var/log/..", /"\." or "\.\." segment/],
    ["a . segment", "/var/log/./syslog", /"\." or "\.\." segment/],
    ["a 1 MiB path", `/${"a".repeat(1024 * 1024)}`, new RegExp(`longer than ${MAX_PATH_BYTES} bytes`)],
    ["a number", 42, /must be a string/],
    ["null", null, /must be a string/],
  ];
  for (const [what, value, message] of invalid) {
    it(`refuses ${what} with INVALID_ARGUMENT naming the field`, () => {
      let caught: unknown;
      try {
        checkPathSyntax(value, "path");
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(DiagnosticError);
      expect((caught as DiagnosticError).code).toBe("INVALID_ARGUMENT");
      expect((caught as DiagnosticError).message).toMatch(/^path: /);
      expect((caught as DiagnosticError).message).toMatch(message);
    });
  }

  it("counts bytes, not characters, against the limit", () => {
    const multiByte = `/${"é".repeat(2100)}`; // 4201 bytes, 2101 characters
    expect(() => checkPathSyntax(multiByte)).toThrowError(/longer than 4096 bytes/);
  });

  it("keeps a 1 MiB path out of the error message", () => {
    try {
      checkPathSyntax(`/${"x".repeat(1024 * 1024)}\0`);
    } catch (err) {
      expect((err as Error).message.length).toBeLessThan(300);
    }
  });

  it("accepts names with dots and dashes, and collapses // and a trailing /", () => {
    expect(checkPathSyntax("/var/log/-flag.log")).toBe("/var/log/-flag.log");
    expect(checkPathSyntax("/var/log/..hidden")).toBe("/var/log/..hidden");
    expect(checkPathSyntax("/var//log/")).toBe("/var/log");
    expect(checkPathSyntax("/")).toBe("/");
  });

  it("is applied before the roots: a NUL path under a missing root is INVALID_ARGUMENT, not NOT_FOUND", async () => {
    await expectRefusal(() => openFileInRoots("/no/such/root/x\0y", roots), "INVALID_ARGUMENT", /NUL/);
  });
});

describe("openFileInRoots", () => {
  it("opens a regular file inside the root and reads it", async () => {
    const f = await openFileInRoots(join(root, "app.log"), roots);
    try {
      expect(f.realPath).toBe(join(root, "app.log"));
      expect(f.stats.isFile()).toBe(true);
      expect((await f.handle.readFile()).toString()).toBe("line one\nline two\n");
    } finally {
      await f.handle.close();
    }
  });

  it("opens a file whose name starts with -", async () => {
    const f = await openFileInRoots(join(root, "-flag.log"), roots);
    await f.handle.close();
    expect(f.realPath).toBe(join(root, "-flag.log"));
  });

  it("opens through an in-root symlink and reports the real path", async () => {
    const f = await openFileInRoots(join(root, "link-in"), roots);
    await f.handle.close();
    expect(f.path).toBe(join(root, "link-in"));
    expect(f.realPath).toBe(join(root, "app.log"));
  });

  it("opens through a chain of in-root symlinks and an in-root directory symlink", async () => {
    const a = await openFileInRoots(join(root, "chain-in1"), roots);
    await a.handle.close();
    expect(a.realPath).toBe(join(root, "sub", "nested.log"));
    const b = await openFileInRoots(join(root, "dir-in", "nested.log"), roots);
    await b.handle.close();
    expect(b.realPath).toBe(join(root, "sub", "nested.log"));
  });

  it("accepts the path through a symlinked root as configured", async () => {
    const viaLink = await resolveRoots([join(base, "logs-link")]);
    const f = await openFileInRoots(join(base, "logs-link", "app.log"), viaLink);
    await f.handle.close();
    expect(f.realPath).toBe(join(root, "app.log"));
  });

  it("refuses a symlink to a file outside the root", async () => {
    await expectRefusal(() => openFileInRoots(join(root, "link-out"), roots), "PERMISSION_DENIED", /resolves to .*secret\.log.* outside the allowed log roots/);
    await expectRefusal(() => openFileInRoots(join(root, "link-out-relative"), roots), "PERMISSION_DENIED", /outside the allowed log roots/);
  });

  it("refuses a chain of symlinks that ends outside the root", async () => {
    await expectRefusal(() => openFileInRoots(join(root, "chain1"), roots), "PERMISSION_DENIED", /through a symbolic link, outside/);
  });

  it("refuses a path through a directory symlink that leads out of the root", async () => {
    await expectRefusal(() => openFileInRoots(join(root, "dir-out", "secret.log"), roots), "PERMISSION_DENIED", /outside the allowed log roots/);
  });

  it("refuses a path outside the roots without revealing whether it exists", async () => {
    await expectRefusal(() => openFileInRoots("/etc/passwd", roots), "PERMISSION_DENIED", /"\/etc\/passwd" is outside the allowed log roots/);
    await expectRefusal(() => openFileInRoots("/etc/no-such-file", roots), "PERMISSION_DENIED", /outside the allowed log roots/);
    await expectRefusal(() => openFileInRoots(join(outside, "secret.log"), roots), "PERMISSION_DENIED", /outside/);
  });

  it("refuses a sibling directory that shares the root's name as a prefix", async () => {
    const sibling = `${root}2`;
    mkdirSync(sibling, { recursive: true });
    writeFileSync(join(sibling, "x.log"), "x\n");
    await expectRefusal(() => openFileInRoots(join(sibling, "x.log"), roots), "PERMISSION_DENIED", /outside the allowed log roots/);
  });

  it("refuses a FIFO without blocking", async () => {
    const started = Date.now();
    await expectRefusal(() => openFileInRoots(join(root, "pipe.log"), roots), "PERMISSION_DENIED", /is a FIFO \(named pipe\); only regular files/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("refuses a unix socket", async () => {
    await expectRefusal(() => openFileInRoots(join(root, "sock.log"), roots), "PERMISSION_DENIED", /is a socket/);
  });

  it("refuses a directory with INVALID_ARGUMENT", async () => {
    await expectRefusal(() => openFileInRoots(join(root, "sub"), roots), "INVALID_ARGUMENT", /is a directory, not a regular file/);
    await expectRefusal(() => openFileInRoots(root, roots), "INVALID_ARGUMENT", /is a directory/);
  });

  it("refuses a symlink loop", async () => {
    await expectRefusal(() => openFileInRoots(join(root, "loop1"), roots), "PERMISSION_DENIED", /symbolic link that changed or loops/);
  });

  it("refuses symlinks to /dev/null and /proc/self/status", async () => {
    await expectRefusal(() => openFileInRoots(join(root, "devnull"), roots), "PERMISSION_DENIED", /"\/dev\/null".* outside/);
    await expectRefusal(() => openFileInRoots(join(root, "proc-status"), roots), "PERMISSION_DENIED", /outside/);
  });

  it("refuses /proc, /sys and /dev even when / is a configured root", async () => {
    const everything = await resolveRoots(["/"]);
    await expectRefusal(() => openFileInRoots("/dev/null", everything), "PERMISSION_DENIED", /lies in \/dev, which is never served/);
    await expectRefusal(() => openFileInRoots("/proc/self/status", everything), "PERMISSION_DENIED", /lies in \/proc/);
    await expectRefusal(() => openFileInRoots("/sys/kernel/hostname", everything), "PERMISSION_DENIED", /lies in \/sys/);
    // …and a symlink from an allowed place into them.
    await expectRefusal(() => openFileInRoots(join(root, "devnull"), everything), "PERMISSION_DENIED", /resolves into \/dev/);
    await expectRefusal(() => openFileInRoots(join(root, "proc-status"), everything), "PERMISSION_DENIED", /resolves into \/proc/);
  });

  it("reports a missing file inside the root as NOT_FOUND naming it", async () => {
    await expectRefusal(() => openFileInRoots(join(root, "missing.log"), roots), "NOT_FOUND", /missing\.log" does not exist/);
    await expectRefusal(() => openFileInRoots(join(root, "app.log", "x"), roots), "NOT_FOUND", /does not exist/);
  });

  it("names the field it was given", async () => {
    await expectRefusal(() => openFileInRoots("/etc/passwd", roots, "file"), "PERMISSION_DENIED", /^file: /);
  });

  it("refuses everything when no root could be resolved", async () => {
    const none = await resolveRoots(["/proc"]);
    await expectRefusal(() => openFileInRoots(join(root, "app.log"), none), "PERMISSION_DENIED", /\(none configured\)/);
  });
});

/**
 * Swaps `link` between prepared entries (symlinks in or out of the root, a FIFO) in a tight loop on
 * another thread, with atomic renames, until stopped: the race an attacker with write access to
 * the root would run between our checks and our open.
 */
function startSwapper(link: string, kinds: ("in" | "out" | "fifo" | "dir-out" | "dir-in")[]): { stop: () => Promise<number> } {
  const flag = new SharedArrayBuffer(4);
  const worker = new Worker(
    `const fs = require("node:fs"); const cp = require("node:child_process");
     const { workerData: { link, kinds, flag, inTarget, outTarget, inDir, outDir } } = require("node:worker_threads");
     const stop = new Int32Array(flag);
     const tmp = link + ".swap";
     // Prepare one entry per kind once, then rename copies of them over the link.
     const made = kinds.map((k, i) => {
       const p = tmp + i;
       fs.rmSync(p, { force: true, recursive: true });
       if (k === "in") fs.symlinkSync(inTarget, p);
       if (k === "out") fs.symlinkSync(outTarget, p);
       if (k === "dir-out") fs.symlinkSync(outDir, p);
       if (k === "dir-in") fs.symlinkSync(inDir, p);
       if (k === "fifo") cp.execFileSync("/usr/bin/mkfifo", ["--", p]);
       return p;
     });
     let n = 0;
     while (Atomics.load(stop, 0) === 0) {
       const i = n++ % made.length;
       const spare = made[i] + "b";
       try { fs.rmSync(spare, { force: true }); fs.linkSync(made[i], spare); fs.renameSync(spare, link); } catch {}
     }
     Atomics.store(stop, 0, n);`,
    {
      eval: true,
      workerData: {
        link,
        kinds,
        flag,
        inTarget: join(root, "app.log"),
        outTarget: join(outside, "secret.log"),
        inDir: join(root, "sub"),
        outDir: outside,
      },
    },
  );
  return {
    stop: async () => {
      Atomics.store(new Int32Array(flag), 0, 1);
      await new Promise((resolve) => worker.once("exit", resolve));
      return Atomics.load(new Int32Array(flag), 0);
    },
  };
}

describe("openFileInRoots under a concurrent swap (check-then-open races)", () => {
  it("never opens the out-of-root target while a symlink flips between in and out", async () => {
    const link = join(root, "flip.log");
    const swapper = startSwapper(link, ["in", "out"]);
    let opened = 0;
    let refused = 0;
    try {
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        try {
          const f = await openFileInRoots(link, roots);
          const text = (await f.handle.readFile()).toString();
          await f.handle.close();
          expect(text).toBe("line one\nline two\n");
          expect(f.realPath).toBe(join(root, "app.log"));
          opened++;
        } catch (err) {
          expect(err).toBeInstanceOf(DiagnosticError);
          expect((err as DiagnosticError).code).not.toBe("FAILED_PRECONDITION");
          refused++;
        }
      }
    } finally {
      await swapper.stop();
    }
    // Both outcomes happened, so the race was real; the secret was never read.
    expect(opened).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });

  it("never blocks or returns a FIFO while a name flips between a regular file link and a FIFO", async () => {
    const link = join(root, "flip-fifo.log");
    const swapper = startSwapper(link, ["in", "fifo"]);
    let attempts = 0;
    try {
      const until = Date.now() + 1000;
      while (Date.now() < until) {
        attempts++;
        try {
          const f = await openFileInRoots(link, roots);
          expect(f.stats.isFile()).toBe(true);
          await f.handle.close();
        } catch (err) {
          expect(err).toBeInstanceOf(DiagnosticError);
        }
      }
    } finally {
      await swapper.stop();
    }
    expect(attempts).toBeGreaterThan(10);
  });

  it("never opens a file through a directory that flips to a symlink out of the root", async () => {
    writeFileSync(join(root, "sub", "secret.log"), "in-root twin\n");
    const link = join(root, "flip-dir");
    const swapper = startSwapper(link, ["dir-in", "dir-out"]);
    let opened = 0;
    try {
      const until = Date.now() + 1000;
      while (Date.now() < until) {
        try {
          const f = await openFileInRoots(join(link, "secret.log"), roots);
          const text = (await f.handle.readFile()).toString();
          await f.handle.close();
          expect(text).toBe("in-root twin\n");
          opened++;
        } catch (err) {
          expect(err).toBeInstanceOf(DiagnosticError);
        }
      }
    } finally {
      await swapper.stop();
    }
    expect(opened).toBeGreaterThan(0);
  });
});

describe("resolveInRoots", () => {
  it("returns the stat of the real path, so callers can tell directories from files", async () => {
    const d = await resolveInRoots(join(root, "dir-in"), roots);
    expect(d.realPath).toBe(join(root, "sub"));
    expect(d.stats.isDirectory()).toBe(true);
  });
});

describe("describeType", () => {
  it("names every kind of file a caller might point at", async () => {
    const { lstat, stat } = await import("node:fs/promises");
    expect(describeType(await stat(join(root, "app.log")))).toBeNull();
    expect(describeType(await stat(root))).toBe("a directory");
    expect(describeType(await stat(join(root, "pipe.log")))).toBe("a FIFO (named pipe)");
    expect(describeType(await stat("/dev/null"))).toBe("a character device");
    expect(describeType(await stat(join(root, "sock.log")))).toBe("a socket");
    expect(describeType(await lstat(join(root, "link-in")))).toBe("a symbolic link");
  });
});

describe("listFilesInRoots", () => {
  let dir: string;
  beforeAll(() => {
    dir = join(root, "many");
    mkdirSync(dir);
    const now = Date.now() / 1000;
    for (let i = 0; i < 5; i++) {
      const p = join(dir, `f${i}.log`);
      writeFileSync(p, `file ${i}\n`);
      utimesSync(p, now - 1000 + i * 10, now - 1000 + i * 10); // f4 newest
    }
    writeFileSync(join(dir, "old.log.1.gz"), "compressed");
    mkdirSync(join(dir, "subdir"));
    execFileSync("/usr/bin/mkfifo", ["--", join(dir, "fifo")]);
    symlinkSync(join(outside, "secret.log"), join(dir, "escape.log"));
    symlinkSync("../app.log", join(dir, "inside.log"));
    utimesSync(join(root, "app.log"), now - 5000, now - 5000);
  });

  it("lists regular files newest first, follows in-root symlinks, skips the rest", async () => {
    const l = await listFilesInRoots(dir, roots, { maxFiles: 100, maxEntries: 1000, skip: (n) => n.endsWith(".gz") });
    expect(l.files.map((f) => f.path.slice(dir.length + 1))).toEqual(["f4.log", "f3.log", "f2.log", "f1.log", "f0.log", "inside.log"]);
    // subdir, fifo, escape.log (out of root), old.log.1.gz
    expect(l.skipped).toBe(4);
    expect(l.truncated).toBe(false);
  });

  it("takes at most maxFiles and says so", async () => {
    const l = await listFilesInRoots(dir, roots, { maxFiles: 2, maxEntries: 1000, skip: (n) => n.endsWith(".gz") });
    expect(l.files.map((f) => f.path.slice(dir.length + 1))).toEqual(["f4.log", "f3.log"]);
    expect(l.truncated).toBe(true);
  });

  it("reads at most maxEntries directory entries", async () => {
    const l = await listFilesInRoots(dir, roots, { maxFiles: 100, maxEntries: 3 });
    expect(l.files.length + l.skipped).toBeLessThanOrEqual(3);
    expect(l.truncated).toBe(true);
  });

  it("refuses a file, a directory symlink out of the root and a path outside", async () => {
    await expectRefusal(() => listFilesInRoots(join(root, "app.log"), roots, { maxFiles: 1, maxEntries: 1 }), "INVALID_ARGUMENT", /is not a directory/);
    await expectRefusal(() => listFilesInRoots(join(root, "dir-out"), roots, { maxFiles: 1, maxEntries: 1 }), "PERMISSION_DENIED", /outside/);
    await expectRefusal(() => listFilesInRoots("/etc", roots, { maxFiles: 1, maxEntries: 1 }), "PERMISSION_DENIED", /outside/);
  });
});
