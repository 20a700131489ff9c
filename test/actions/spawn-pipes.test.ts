// The helper's spawner (agent/src/helper/spawn.ts) on pipes, the mode for output that is parsed
// (`systemctl show`, `podman inspect`): every byte a short-lived program prints is read before the
// result — the pty mode once lost the tail of `systemctl show` under load (the nspawn suite saw a
// loaded unit as "not loaded"). Real systemctl (its --version needs no running systemd).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadPty, spawnProgram, spawnCount } from "../../agent/src/helper/spawn";

// Direct mode finds node-pty's addon in this checkout's node_modules (as the local fleet does).
beforeAll(() => loadPty("direct", join(__dirname, "..", "..", "dist", "agent")));

const hasSystemctl = existsSync("/usr/bin/systemctl") || existsSync("/bin/systemctl");

describe.runIf(hasSystemctl)("spawnProgram with pipes", () => {
  it("returns the whole output of a short-lived program, every time", async () => {
    const before = spawnCount();
    const seen: string[] = [];
    const runs = await Promise.all(
      Array.from({ length: 40 }, () => spawnProgram("systemctl", ["--version"], [], { timeoutMs: 10_000, pipes: true, onLine: (l) => seen.push(l) })),
    );
    for (const r of runs) {
      expect(r.exitCode).toBe(0);
      expect(r.timedOut).toBe(false);
      expect(r.lines[0]).toMatch(/^systemd \d+/);
      // The features line is the last one systemctl prints.
      expect(r.lines.at(-1)).toMatch(/[+-]PAM|default-hierarchy/);
    }
    expect(new Set(runs.map((r) => r.lines.join("\n"))).size).toBe(1);
    expect(seen.length).toBe(runs.reduce((n, r) => n + r.lines.length, 0));
    expect(spawnCount() - before).toBe(40);
  });

  it("applies the same option and value rules as the pty mode", async () => {
    await expect(spawnProgram("systemctl", ["$(id)"], [], { timeoutMs: 1_000, pipes: true, onLine: () => undefined })).rejects.toThrow(/refused option/);
    await expect(spawnProgram("systemctl", ["show"], ["-x"], { timeoutMs: 1_000, pipes: true, onLine: () => undefined })).rejects.toThrow(/refused value/);
  });
});
