// Issue 11, deliverable 3: command lines leave the host with their secrets redacted, and login
// users' command lines only when the host's configuration allows. The rules one by one
// (agent/src/redact.ts), then the BUILT reader agent over real mTLS looking at real processes
// started here with secrets on their command lines — also as a login user (uid 1000).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loginUidRange } from "../../agent/src/diagnostics/proc/command-policy";
import { compilePatterns, redactArgv, REDACTED } from "../../agent/src/redact";
import { callUnary, diagnosticsClient, runBundle, startAgent, type TestAgent } from "../support/agent";
import { createTestPki, type TestPki } from "../support/pki";

const R = REDACTED;
const redact = (...argv: string[]) => redactArgv(argv);

describe("redactArgv: the built-in rules", () => {
  it.each([
    [["mysqld", "--password=hunter2"], ["mysqld", `--password=${R}`]],
    [["app", "--db-password=hunter2", "--port=5432"], ["app", `--db-password=${R}`, "--port=5432"]],
    [["app", "-token=abc123"], ["app", `-token=${R}`]],
    [["app", "--API_KEY=k-1", "--client-secret=s"], ["app", `--API_KEY=${R}`, `--client-secret=${R}`]],
    [["app", "--password", "hunter2", "--verbose"], ["app", "--password", R, "--verbose"]],
    [["app", "--auth", "Zm9vOmJhcg=="], ["app", "--auth", R]],
    [["env", "PASSWORD=hunter2", "DB_TOKEN=t0k", "HOME=/root", "cmd"], ["env", `PASSWORD=${R}`, `DB_TOKEN=${R}`, "HOME=/root", "cmd"]],
    [["sh", "-c", "MYSQL_PWD=s3cr3t mysql -u root; AWS_SECRET_ACCESS_KEY='x y' run"], ["sh", "-c", `MYSQL_PWD=${R} mysql -u root; AWS_SECRET_ACCESS_KEY=${R} run`]],
    [["psql", "postgres://app:pa55@db.internal:5432/app"], ["psql", `postgres://app:${R}@db.internal:5432/app`]],
    [["curl", "-H", "Authorization: Bearer eyJhbGciOi.x.y", "https://api"], ["curl", "-H", `Authorization: Bearer ${R}`, "https://api"]],
    [["curl", "-H", "authorization: basic dXNlcjpwYXNz"], ["curl", "-H", `authorization: basic ${R}`]],
    [["mysqldump", "-uroot", "-phunter2", "db"], ["mysqldump", "-uroot", `-p${R}`, "db"]],
    [["/usr/bin/mariadb", "-ps3cret"], ["/usr/bin/mariadb", `-p${R}`]],
  ])("%j", (argv, expected) => {
    expect(redact(...argv)).toEqual(expected);
  });

  it.each([
    ["a file holding the secret is a path, kept", ["app", "--password-file=/run/secrets/db", "--token-file", "/run/t"]],
    ["ssh's -p is a port", ["ssh", "-p", "2222", "host"]],
    ["words that merely contain a secret word", ["app", "--passive", "--bypass=1", "--authority=x", "--tokens-per-second=5"]],
    ["an option followed by another option", ["app", "--password", "--verbose"]],
    ["plain arguments", ["nginx", "-g", "daemon off;"]],
  ])("leaves %s alone", (_what, argv) => {
    expect(redact(...argv)).toEqual(argv);
  });

  it("applies the host's own patterns (RE2): the match, or only its first group", () => {
    const extra = compilePatterns(["sk_live_[A-Za-z0-9]+", "--license\\s*([A-Z0-9-]+)"]);
    expect(redactArgv(["app", "key=sk_live_abc123", "--license ABCD-1234"], { extra })).toEqual(["app", `key=${R}`, `--license ${R}`]);
    expect(() => compilePatterns(["(unclosed"])).toThrow(/processes\.redactPatterns\.0: not an RE2 pattern/);
    // RE2 has no backreferences (and no catastrophic backtracking): refused, not slow.
    expect(() => compilePatterns(["(a)\\1"])).toThrow(/not an RE2 pattern/);
  });

  it("login users are the UID_MIN..UID_MAX range of /etc/login.defs (1000..60000 when unset)", () => {
    expect(loginUidRange(null)).toEqual({ min: 1000, max: 60000 });
    expect(loginUidRange("# comment\nUID_MIN\t\t 500\nUID_MAX 29999\n")).toEqual({ min: 500, max: 29999 });
  });
});

describe("the reader agent returns redacted command lines (real processes, real mTLS)", () => {
  let dir: string;
  let pki: TestPki;
  let agent: TestAgent;
  let shown: TestAgent;
  const children: ChildProcess[] = [];
  const clients: grpc.Client[] = [];
  const SECRET = "hunter2-e2e-secret";

  /** A node process that idles for a minute with `args` on its command line, optionally as another uid. */
  function holder(args: string[], uid?: number): ChildProcess {
    const argv = [process.execPath, "-e", "setTimeout(() => {}, 60000)", "--", ...args];
    const child = uid === undefined ? spawn(argv[0]!, argv.slice(1), { stdio: "ignore" }) : spawn("/usr/bin/setpriv", [`--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", ...argv], { stdio: "ignore" });
    children.push(child);
    return child;
  }

  async function info(a: TestAgent, pid: number): Promise<{ command: string; commandRedacted: string; name: string }> {
    const client = diagnosticsClient(a, pki, "reader");
    clients.push(client);
    const r = await callUnary(client, "getProcessInfo", { pid });
    if (!r.ok) throw new Error(`get_process_info failed: ${r.code} ${r.details}`);
    return JSON.parse(r.value.json) as { command: string; commandRedacted: string; name: string };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "hw-redaction-"));
    pki = await createTestPki(join(dir, "pki"));
    agent = await startAgent({ role: "reader", pki, dir: join(dir, "a"), config: { processes: { redactPatterns: ["sk_live_[A-Za-z0-9]+"] } } });
    shown = await startAgent({ role: "reader", pki, dir: join(dir, "b"), config: { processes: { showLoginUserCommandLines: true } } });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const c of children) c.kill("SIGKILL");
    await agent?.stop();
    await shown?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("get_process_info: --password=…, NAME=…, a URL password, a bearer token and the host's own pattern are redacted", async () => {
    const p = holder([`--password=${SECRET}`, `PASSWORD=${SECRET}`, `postgres://app:${SECRET}@db/app`, `Bearer ${SECRET}`, `api=sk_live_${SECRET.replace(/-/g, "")}`, "--port=5432"]);
    await new Promise((r) => setTimeout(r, 300));
    const out = await info(agent, p.pid!);
    expect(out.command).not.toContain(SECRET);
    expect(out.command).not.toContain(SECRET.replace(/-/g, ""));
    expect(out.command).toContain(`--password=${R} PASSWORD=${R} postgres://app:${R}@db/app Bearer ${R} api=${R} --port=5432`);
    expect(out.commandRedacted).toBe("secrets");
  });

  it("list_processes: the same rules on every row it returns", async () => {
    holder([`--token=${SECRET}`]);
    await new Promise((r) => setTimeout(r, 300));
    const client = diagnosticsClient(agent, pki, "reader");
    clients.push(client);
    const r = await callUnary(client, "listProcesses", { limit: 200, sortBy: "pid", nameContains: "node" });
    expect(r.ok).toBe(true);
    const json = r.ok ? r.value.json : "";
    expect(json).not.toContain(SECRET);
    const rows = (JSON.parse(json) as { processes: Array<{ command: string; commandRedacted: string }> }).processes;
    expect(rows.some((row) => row.command.includes(`--token=${R}`) && row.commandRedacted === "secrets")).toBe(true);
  });

  it.runIf(process.geteuid?.() === 0)("a login user's process (uid 1000): only its name by default; its (redacted) command line where the host allows it", async () => {
    const p = holder(["--mode=private-work", `--password=${SECRET}`], 1000);
    await new Promise((r) => setTimeout(r, 300));
    const hidden = await info(agent, p.pid!);
    expect(hidden).toMatchObject({ command: hidden.name, commandRedacted: "hidden" });
    expect(hidden.command).not.toContain("private-work");
    const allowed = await info(shown, p.pid!);
    expect(allowed.command).toContain(`--mode=private-work --password=${R}`);
    expect(allowed.command).not.toContain(SECRET);
    expect(allowed.commandRedacted).toBe("secrets");
  });

  it("a pattern that is not RE2 stops the agent at start, naming the field", async () => {
    const bad = join(dir, "bad.yaml");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(bad, JSON.stringify({ tls: { ca: pki.files.ca, cert: pki.files.cert.reader, key: pki.files.key.reader }, processes: { redactPatterns: ["(x"] } }));
    const r = await runBundle("reader", ["--config", bad]);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/invalid configuration:\n {2}processes\.redactPatterns\.0: not an RE2 pattern/);
  });
});
