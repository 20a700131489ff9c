// Item 5: from a line printed by a running action to its progress notification at the MCP client.
//
// What runs: the real agent package (.deb built from this tree with `npm run package`'s script) in
// a Debian container booted with systemd-nspawn (systemd as PID 1, real unbound), reusing the e2e
// suite's pieces (test/e2e/support: cached rootfs, private network namespaces, nspawn, approver
// keys). The broker (`hostward serve`) runs in the client namespace and is driven over stdio by
// the MCP SDK's Client; each action is proposed (propose_action), approved by a human key with the
// real CLI (`hostward approve ID --key FILE --yes`) and executed (execute_action, with a
// progressToken). On the host: operator agent → `sudo -n` root helper → the programs on a pty.
//
// What the figure spans: every output line carries ActionEvent.at_unix_micros, stamped by the root
// helper when it read the line off the program's pty (node-pty's data event; for the helper's own
// lines — "pre-check: …", "$ command", "post-check: …" — when it wrote them); the broker keeps the
// stamps in the request's execution record (get_action). The bench takes its own wall clock when
// the SDK Client calls onprogress for that line. Both clocks are this machine's CLOCK_REALTIME
// (nspawn shares the kernel; the realtime clock is never namespaced), read at sub-millisecond
// resolution (performance.timeOrigin + performance.now(), the bench's re-anchored to Date.now()
// before every action). So a line's latency = helper read it off the pty → helper's JSON line on
// its stdout pipe → operator agent parses it → gRPC server-stream message over mTLS (network
// namespaces, veth + bridge) → broker → MCP progress notification on stdout → SDK Client →
// onprogress.
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { PassThrough } from "node:stream";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { createApprover, installAllowlist, installApprovers } from "../e2e/support/approvals";
import { bootContainer, type Container } from "../e2e/support/container";
import { createNetwork, type Network } from "../e2e/support/netns";
import { ensureRootfsTarball, extractRootfs } from "../e2e/support/rootfs";
import { CLEAN_PATH, runOk } from "../e2e/support/run";
import { aptInstall, UNITS, waitActive } from "../e2e/support/units";
import { BROKER_BUNDLE, log, ROOT, stats, type Stats } from "./util";

export interface StreamingActionRow {
  action: string;
  /** Actions measured (each: propose + approve + execute), after `warmup` unmeasured ones. */
  n: number;
  warmup: number;
  /** Lines a program printed, read off its pty by the helper. */
  ptyLines: Stats;
  /** Every line (the program's and the helper's own). */
  allLines: Stats;
  /** execute_action: callTool → result, ms. */
  execute: Stats;
  /** Every line by kind: "pre-check:", "$ command", program (pty), "post-check:". */
  byKind: Record<string, Stats>;
  /** The program lines seen, e.g. "unbound-checkconf: no errors in /etc/unbound/unbound.conf". */
  ptyExamples: string[];
}

export type StreamingResult =
  | { measured: false; reason: string }
  | {
      measured: true;
      setup: string;
      setupSeconds: number;
      rows: StreamingActionRow[];
      /** Over every program line of every row. */
      ptyLines: Stats;
      allLines: Stats;
    };

const HOST = "bench1";
const UNBOUND = "unbound.service";
/** The actions measured: both print at least one line of a real program (unbound-checkconf, unbound-control). */
const PLAN = [
  { action: "restart_service", params: { unit: "unbound" } },
  { action: "flush_dns_cache", params: {} },
] as const;
const RUNS = 20;
const WARMUP = 2;

/** The helper's own lines; every other line was printed by a program and read off its pty. */
const HELPER_LINE = /^(?:pre-check: |post-check: |\$ )/;
const kindOf = (line: string) => (line.startsWith("pre-check: ") ? "pre-check:" : line.startsWith("post-check: ") ? "post-check:" : line.startsWith("$ ") ? "$ command" : "program (pty)");

/** Wall clock, µs since the Unix epoch, sub-millisecond; `anchor` re-ties it to Date.now(). */
let offsetMs = performance.timeOrigin;
function anchorClock(): void {
  // Date.now() has whole milliseconds: wait for it to tick, then tie performance.now() to it.
  const start = Date.now();
  let now = start;
  while (now === start) now = Date.now();
  offsetMs = now - performance.now();
}
const nowMicros = () => (offsetMs + performance.now()) * 1000;

interface Progress {
  progress: number;
  message: string;
  atMicros: number;
}

interface ToolResult {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content: Array<{ type: string; text?: string }>;
}

export async function measureStreaming(work: string): Promise<StreamingResult> {
  const missing = ["/usr/bin/systemd-nspawn", "/usr/bin/nsenter", "/usr/bin/dpkg-deb"].filter((p) => !existsSync(p) && !existsSync(p.replace("/usr/bin/", "/bin/")));
  if (missing.length > 0) return { measured: false, reason: `this machine lacks ${missing.join(", ")} (systemd-container, util-linux, dpkg): the measurement boots a container` };
  mkdirSync(work, { recursive: true });
  const t0 = performance.now();
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  try {
    // The package under test, from the bundles run.mjs has just built.
    log("streaming: packaging the agent (.deb) from dist/");
    const pkgOut = join(work, "packages");
    await runOk(process.execPath, [join(ROOT, "packaging", "build.mjs"), "--no-build"], { cwd: ROOT, env: { ...process.env, HOSTWARD_PKG_OUT: pkgOut }, timeoutMs: 120_000 });
    const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
    const deb = join(pkgOut, `hostward-agent_${version}_amd64.deb`);

    log("streaming: rootfs (cached by the e2e suite), network namespaces, booting the container");
    const rootfs = await ensureRootfsTarball("bookworm", (l) => log(`streaming: ${l}`));
    // The e2e suite's naming: a later e2e run sweeps these if this process dies (pid gone).
    const prefix = `hwe2e-${process.pid}-bench`;
    const net: Network = await createNetwork(prefix, 250, [HOST]);
    cleanups.push(() => net.destroy());
    const rootDir = join("/var/tmp", `${prefix}-${HOST}`);
    cleanups.push(() => rmSync(rootDir, { recursive: true, force: true }));
    await extractRootfs(rootfs.tarball, rootDir);
    const c: Container = await bootContainer({ name: HOST, rootDir, netnsPath: net.hosts[HOST]?.nsPath, logFile: join(work, `${HOST}.console.log`) });
    cleanups.push(() => c.stop());

    log("streaming: installing the package, certificates, an approver key and the allowlist");
    const home = join(work, "home");
    mkdirSync(home, { recursive: true });
    const env = { PATH: process.env.PATH ?? CLEAN_PATH, HOME: home };
    const cli = (args: string[], timeoutMs = 30_000) => runOk(process.execPath, [BROKER_BUNDLE, ...args], { env, timeoutMs });
    const caDir = join(work, "ca");
    await cli(["pki", "init", "--dir", caDir]);
    const agentOut = join(work, "agent-tls");
    await cli(["pki", "issue-agent", HOST, "--dns", HOST, "--ip", net.hosts[HOST]?.address ?? "", "--dir", caDir, "--out", agentOut]);
    await aptInstall(c, deb);
    await c.execOk(["mkdir", "-p", "/etc/hostward/tls"]);
    for (const [name, from, mode] of [
      ["ca.crt", "ca.crt", 0o644],
      ["agent.crt", `${HOST}.crt`, 0o644],
      ["agent.key", `${HOST}.key`, 0o600],
    ] as const) {
      writeFileSync(c.path(`/etc/hostward/tls/${name}`), readFileSync(join(agentOut, from)), { mode });
      chmodSync(c.path(`/etc/hostward/tls/${name}`), mode);
    }
    const approver = createApprover("bench", "MEDIUM");
    installApprovers(c, [approver]);
    installAllowlist(c, { units: [UNBOUND] });
    // 22 restarts of unbound in a row would hit systemd's start rate limit (5 starts per 10 s by
    // default) and leave it failed: the bench's container lifts the limit for unbound only.
    mkdirSync(c.path("/etc/systemd/system/unbound.service.d"), { recursive: true });
    writeFileSync(c.path("/etc/systemd/system/unbound.service.d/bench.conf"), "[Unit]\nStartLimitIntervalSec=0\n");
    await c.execOk(["systemctl", "daemon-reload"]);
    await c.execOk(["systemctl", "enable", "--now", ...UNITS]);
    await waitActive(c, [...UNITS, UNBOUND]);

    // The broker's configuration: operator client certificate, the one host, a policy allowing the two actions there.
    const cfg = join(work, "broker");
    mkdirSync(join(cfg, "tls"), { recursive: true });
    for (const role of ["reader", "operator"]) await cli(["pki", "issue-client", "--role", role, "--name", `bench-${role}`, "--dir", caDir, "--out", join(cfg, "tls")]);
    writeFileSync(join(cfg, "hosts.yaml"), JSON.stringify({ hosts: [{ name: HOST, address: net.hosts[HOST]?.address, ports: { reader: 7443, operator: 7444 }, tags: ["bench"], certName: HOST }] }));
    writeFileSync(join(cfg, "policy.yaml"), JSON.stringify({ rules: [{ target: HOST, allow: PLAN.map((p) => p.action) }] }));
    writeFileSync(join(cfg, "broker.yaml"), JSON.stringify({ stateDir: join(cfg, "state") }));
    const keyFile = join(work, "bench.key");
    writeFileSync(keyFile, approver.privateKeyText, { mode: 0o600 });

    const transport = new StdioClientTransport({
      command: "ip",
      args: ["netns", "exec", net.clientNs, process.execPath, BROKER_BUNDLE, "serve", "--config", cfg],
      env,
      stderr: "pipe",
    });
    let stderr = "";
    (transport.stderr as PassThrough | null)?.on("data", (b: Buffer) => (stderr = (stderr + b.toString("utf8")).slice(-20_000)));
    const client = new Client({ name: "hostward-bench", version: "0.0.1" });
    await client.connect(transport);
    cleanups.push(() => client.close());
    const setupSeconds = Math.round((performance.now() - t0) / 100) / 10;
    log(`streaming: set up in ${setupSeconds} s; measuring ${PLAN.map((p) => p.action).join(", ")} (${WARMUP} + ${RUNS} each)`);

    const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as ToolResult;
    const fail = (what: string, r: ToolResult) => new Error(`${what}: ${JSON.stringify(r.structuredContent ?? r.content).slice(0, 1500)}\n${stderr.slice(-3000)}`);

    /** One action end to end; returns each line's latency (ms) and whether a program printed it. */
    const once = async (action: string, params: Record<string, unknown>) => {
      const proposed = await call("propose_action", { target: HOST, request: { action, ...params }, reason: "hostward bench: streaming latency" });
      const id = proposed.structuredContent?.id;
      if (proposed.isError || typeof id !== "string") throw fail(`propose_action ${action}`, proposed);
      await cli(["approve", id, "--key", keyFile, "--yes", "--config", cfg]);
      const seen: Progress[] = [];
      anchorClock();
      const started = performance.now();
      const executed = (await client.callTool(
        { name: "execute_action", arguments: { id } },
        { onprogress: (p) => seen.push({ atMicros: nowMicros(), progress: p.progress, message: p.message ?? "" }), timeout: 120_000 },
      )) as ToolResult;
      const executeMs = performance.now() - started;
      if (executed.isError || executed.structuredContent?.verdict !== "SUCCEEDED") throw fail(`execute_action ${action}`, executed);
      const record = await call("get_action", { id });
      const stamps = (record.structuredContent?.execution as { outputAtUnixMicros?: number[] } | undefined)?.outputAtUnixMicros;
      if (!stamps || stamps.length !== seen.length) throw fail(`get_action ${id}: expected ${seen.length} host stamps`, record);
      const lines = seen.map((p) => {
        const host = stamps[p.progress - 1];
        if (!host) throw new Error(`line ${p.progress} (${p.message}) carries no host stamp: is the agent older than at_unix_micros?`);
        return { ms: (p.atMicros - host) / 1000, program: !HELPER_LINE.test(p.message), message: p.message };
      });
      if (!lines.some((l) => l.program)) throw new Error(`${action} printed no program line: ${JSON.stringify(seen.map((s) => s.message))}`);
      return { lines, executeMs };
    };

    const rows: StreamingActionRow[] = [];
    const pooledPty: number[] = [];
    const pooledAll: number[] = [];
    for (const { action, params } of PLAN) {
      const pty: number[] = [];
      const all: number[] = [];
      const exec: number[] = [];
      const examples = new Set<string>();
      const kinds = new Map<string, number[]>();
      for (let i = 0; i < WARMUP + RUNS; i++) {
        const r = await once(action, params);
        if (i < WARMUP) continue;
        exec.push(r.executeMs);
        for (const l of r.lines) {
          all.push(l.ms);
          const k = kindOf(l.message);
          kinds.set(k, [...(kinds.get(k) ?? []), l.ms]);
          if (l.program) {
            pty.push(l.ms);
            if (examples.size < 3) examples.add(l.message);
          }
        }
      }
      pooledPty.push(...pty);
      pooledAll.push(...all);
      rows.push({ action, n: RUNS, warmup: WARMUP, ptyLines: stats(pty), allLines: stats(all), execute: stats(exec), byKind: Object.fromEntries([...kinds].map(([k, v]) => [k, stats(v)])), ptyExamples: [...examples] });
      log(`streaming: ${action}: program lines p50 ${stats(pty).p50} ms (n=${pty.length}), all lines p50 ${stats(all).p50} ms (n=${all.length})`);
    }
    return {
      measured: true,
      setup: `the agent's .deb (built from this tree) in a Debian 12 container booted with systemd-nspawn (systemd as PID 1, real unbound), the broker in a separate network namespace (veth + bridge), MCP SDK Client over stdio`,
      setupSeconds,
      rows,
      ptyLines: stats(pooledPty),
      allLines: stats(pooledAll),
    };
  } finally {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        log(`streaming: cleanup failed: ${(err as Error).message}`);
      }
    }
  }
}

