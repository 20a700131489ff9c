// hostward demo: the main job end to end on an embedded default. A local fleet (CA, 3 hosts, both
// roles on loopback), the broker over MCP stdio driven by the SDK's real Client, diagnostics on one
// host and on the whole fleet, a policy refusal, a refused bad input, an unreachable host, and the
// audit trail. Prints a readable transcript on stdout.
import { actions } from "../../../proto/catalog/actions/index";
import type { ActionDef } from "../../../proto/catalog/define-action";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { fleetApproverKey, fleetDown, fleetUp, stopFleetAgent } from "../local/fleet";
import { run as approveCommand } from "./approve";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { anchorFilesIn } from "../audit/log";
import { verifyAuditFile } from "../audit/verify";
import { AUDIT_FILE, stateDirOf } from "../broker";
import { loadBrokerConfig } from "../config/load";
import type { OutputOf } from "../../../proto/catalog/define";
import type { getAgentInfo } from "../../../proto/catalog/diagnostics/health";
import type { testConnectivity } from "../../../proto/catalog/diagnostics/network";
import type { getLoad, getMemoryInfo, getSystemInfo } from "../../../proto/catalog/diagnostics/system";

type ToolResult = Awaited<ReturnType<Client["callTool"]>>;
interface HostResult {
  host: string;
  ok: boolean;
  data?: Record<string, unknown>;
  error?: { code: string; message: string };
}

const out = (s = "") => process.stdout.write(`${s}\n`);
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

function summarise(tool: string, data: Record<string, unknown>): string {
  // `data` is the tool's structured result, which the MCP client validated against its output schema.
  switch (tool) {
    case "get_load": {
      const d = data as OutputOf<typeof getLoad>;
      return `load ${d.load1} ${d.load5} ${d.load15} on ${d.cpus} CPUs, ${d.tasks} tasks`;
    }
    case "get_memory_info": {
      const d = data as OutputOf<typeof getMemoryInfo>;
      return `${fmtBytes(d.availableBytes)} available of ${fmtBytes(d.totalBytes)}`;
    }
    case "get_system_info": {
      const d = data as OutputOf<typeof getSystemInfo>;
      return `${d.hostname}: ${d.os?.prettyName ?? d.os?.id ?? "unknown OS"}, kernel ${d.kernel?.release}, ${d.arch}`;
    }
    case "test_connectivity": {
      const d = data as OutputOf<typeof testConnectivity>;
      return d.results.map((r) => `${d.address}:${r.port} ${r.status}${r.connectMs === null ? "" : ` in ${r.connectMs} ms`}`).join(", ");
    }
    case "get_agent_info": {
      const d = data as OutputOf<typeof getAgentInfo>;
      return `agent ${d.version} (${d.role}), up ${d.uptimeSeconds}s`;
    }
    default: {
      const json = JSON.stringify(data);
      return json.length > 110 ? `${json.slice(0, 107)}...` : json;
    }
  }
}

function fmtBytes(n: unknown): string {
  if (typeof n !== "number") return "?";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

function structured(result: ToolResult): { results?: HostResult[]; [k: string]: unknown } {
  return (result.structuredContent ?? {}) as { results?: HostResult[] };
}

function textOf(result: ToolResult): string {
  const block = (result.content as Array<{ type: string; text?: string }> | undefined)?.find((c) => c.type === "text");
  return block?.text ?? "";
}

interface FleetAnswer {
  summary: { hosts: number; ok: number; failed: number; denied: number };
  fleet: {
    outliers: { errors: Array<{ code: string; count: number; hosts: string[] }>; apart: Array<{ host: string; values: Record<string, number> }> };
    numbers: Array<{ field: string; min: number; median: number; max: number; minHost: string; maxHost: string }>;
    constant?: Record<string, number>;
  };
  page?: string;
}

function showSummary(r: ToolResult): void {
  const s = r.structuredContent as unknown as FleetAnswer;
  out(`  ${s.summary.hosts} hosts: ${s.summary.ok} ok, ${s.summary.failed} failed, ${s.summary.denied} denied (${Buffer.byteLength(JSON.stringify(s))} bytes)`);
  for (const e of s.fleet.outliers.errors) out(`  ${e.code.padEnd(18)} ${e.count}: ${e.hosts.join(", ")}`);
  for (const a of s.fleet.outliers.apart) out(`  stands apart: ${a.host} ${Object.entries(a.values).map(([f, v]) => `${f} ${v}`).join(", ")}`);
  for (const n of s.fleet.numbers) out(`  ${n.field.padEnd(14)} min ${n.min} (${n.minHost})  median ${n.median}  max ${n.max} (${n.maxHost})`);
  if (s.fleet.constant) out(`  the same on every host: ${Object.entries(s.fleet.constant).map(([f, v]) => `${f} ${v}`).join(", ")}`);
  if (s.page) out("  page: a cursor to the per-host results, a page at a time");
}

async function call(client: Client, name: string, args: Record<string, unknown>, show?: (r: ToolResult) => void) {
  out(`${bold(`> ${name}`)} ${JSON.stringify(args)}`);
  const started = performance.now();
  const result = await client.callTool({ name, arguments: args });
  const ms = (performance.now() - started).toFixed(1);
  if (result.isError) {
    out(`  refused (${ms} ms): ${textOf(result)}`);
  } else if (show) {
    show(result);
    out(`  (${ms} ms)`);
  } else {
    for (const r of structured(result).results ?? []) {
      out(`  ${r.host.padEnd(8)} ${r.ok ? `ok    ${summarise(name, r.data ?? {})}` : `FAIL  ${r.error?.code}: ${r.error?.message}`}`);
    }
    out(`  (${ms} ms)`);
  }
  out();
  return result;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { keep: { type: "boolean" }, hosts: { type: "string", default: "3" } } });
  const dir = mkdtempSync(join(tmpdir(), "hostward-demo-"));
  out(bold("hostward demo"));
  out(`A local fleet in ${dir}: a private CA, ${values.hosts} hosts, a reader and an operator agent each on 127.0.0.1.`);
  out();
  let client: Client | undefined;
  try {
    const fleet = await fleetUp({ dir, hosts: Number(values.hosts) });
    for (const a of fleet.agents) out(`  ${a.host} ${a.role.padEnd(8)} 127.0.0.1:${a.port}  pid ${a.pid}`);
    out();

    out(bold("The broker, as an MCP client sees it (stdio, the SDK's Client)"));
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [join(__dirname, "hostward.cjs"), "serve", "--config", dir],
      stderr: "pipe",
    });
    // Drain the broker's log (stderr) so it can never fill the pipe and stall the broker; keep the
    // tail to show if something goes wrong.
    let brokerLog = "";
    transport.stderr?.on("data", (chunk: Buffer) => {
      brokerLog = (brokerLog + chunk.toString()).slice(-8192);
    });
    process.on("exit", (code) => {
      if (code !== 0 && brokerLog) process.stderr.write(`broker log (tail):\n${brokerLog}\n`);
    });
    client = new Client({ name: "hostward-demo", version: "1" });
    await client.connect(transport);
    const info = client.getServerVersion();
    const tools = (await client.listTools()).tools;
    out(`  server ${info?.name} ${info?.version}; ${tools.length} tools, e.g. ${tools.slice(0, 6).map((t) => t.name).join(", ")}, …`);
    out();

    out(bold("Runbooks (MCP prompts: slash commands in Claude Code) and the fleet as resources"));
    const { prompts } = await client.listPrompts();
    for (const p of prompts) out(`  /${p.name.padEnd(20)} ${p.title ?? ""}  (${(p.arguments ?? []).map((a) => a.name).join(", ")})`);
    const runbook = await client.getPrompt({ name: "unit_failed", arguments: { host: "local1", unit: "ssh.service" } });
    const text = runbook.messages[0]?.content.type === "text" ? runbook.messages[0].content.text : "";
    out(dim(`  prompts/get unit_failed host=local1 unit=ssh.service → ${text.length} characters for the model; it begins:`));
    for (const line of text.split("\n").slice(0, 10)) out(dim(`    ${line.slice(0, 110)}`));
    const { resources } = await client.listResources();
    out(`  ${resources.length} resources, e.g. ${resources.slice(0, 5).map((r) => r.uri).join(", ")}, …`);
    const [inv] = (await client.readResource({ uri: "hostward://inventory" })).contents;
    const inventory = JSON.parse(inv && "text" in inv ? inv.text : "{}") as { hosts?: unknown[]; tags?: Array<{ tag: string }> };
    out(`  hostward://inventory: ${inventory.hosts?.length ?? 0} hosts, tags ${(inventory.tags ?? []).map((t) => t.tag).join(", ")}`);
    out();

    out(bold("Diagnostics on one host and on the whole fleet"));
    await call(client, "get_system_info", { target: "local1" });
    await call(client, "get_load", { target: "*" });
    await call(client, "get_memory_info", { target: "tag:web" });
    await call(client, "get_disk_usage", { target: "local1" }, (r) => {
      const data = structured(r).results?.[0]?.data as { filesystems?: Array<Record<string, unknown>> } | undefined;
      for (const fs of (data?.filesystems ?? []).slice(0, 5)) {
        out(`  ${String(fs.mountPoint).padEnd(24)} ${String(fs.usedPercent).padStart(5)}% used  inodes ${fs.inodesUsedPercent}%`);
      }
    });
    await call(client, "list_processes", { target: "local2", limit: 5, sortBy: "memory" }, (r) => {
      const data = structured(r).results?.[0]?.data as { processes?: Array<Record<string, unknown>> } | undefined;
      for (const p of data?.processes ?? []) out(`  pid ${String(p.pid).padEnd(7)} ${fmtBytes(p.rssBytes).padStart(10)}  ${p.name}`);
    });
    await call(client, "search_logs", { target: "local1", path: join(dir, "agents", "local1", "logs", "app.log"), pattern: "ERROR", maxMatches: 3 }, (r) => {
      const data = structured(r).results?.[0]?.data as { matches?: Array<Record<string, unknown>> } | undefined;
      for (const m of data?.matches ?? []) out(`  ${String(m.line ?? m.text).slice(0, 110)}`);
    });
    await call(client, "get_service_status", { target: "local1", unit: "ssh" });

    out(bold("Policy: deny by default, checked on every call"));
    await call(client, "test_connectivity", { target: "tag:db,local1", host: "127.0.0.1", ports: [fleet.agents[0]!.port] });
    await call(client, "plan", { tool: "check_http", target: "*", args: { url: "http://127.0.0.1:1/" } }, (r) => {
      const plan = structured(r) as { hosts?: Array<{ host: string; allowed: boolean; reason: string }> };
      for (const h of plan.hosts ?? []) out(`  ${h.host.padEnd(8)} ${h.allowed ? "would run" : "denied   "}  ${h.reason}`);
    });

    out(bold("Bad input is refused with the field named; nothing runs on any host"));
    await call(client, "get_service_status", { target: "local1", unit: "-x; rm -rf /" });
    await call(client, "read_log_file", { target: "local1", path: "/etc/../etc/shadow" });

    out(bold("An unreachable host never blocks the others"));
    const last = `local${values.hosts}`;
    await stopFleetAgent(dir, last, "reader");
    out(`  (stopped ${last}'s reader agent)`);
    await call(client, "get_load", { target: "*" });

    out(bold("The same call as a fleet summary (the default above 10 hosts): outliers first"));
    await call(client, "get_load", { target: "*", view: "summary" }, (r) => showSummary(r));

    out(bold("Actions: proposed by the model, approved by a human, verified again on the host"));
    out("  (the local fleet runs the root helper WITHOUT sudo, as this user, with its own approver key;");
    out("   packaged hosts run it through one sudoers line as root)");
    const proposal = await call(client, "propose_action", {
      target: "local1",
      request: { action: "restart_service", unit: "nginx" },
      reason: "nginx workers stuck after the upstream timeouts seen in app.log",
    }, (r) => {
      const p = r.structuredContent as { id: string; state: string; impact: string; expiresAt: string; howToApprove?: string };
      out(`  request ${p.id}: ${p.state}, impact ${p.impact}, expires ${p.expiresAt}`);
      if (p.howToApprove) out(`  ${p.howToApprove}`);
    });
    const id = (proposal.structuredContent as { id: string }).id;
    await call(client, "execute_action", { id });
    out(bold(`$ hostward approve ${id} --key ${fleetApproverKey(dir)} --yes --config ${dir}`));
    const approved = await approveCommand([id, "--key", fleetApproverKey(dir), "--yes", "--config", dir]);
    out(`  (exit ${approved})`);
    out();
    await call(client, "execute_action", { id }, (r) => {
      const e = r.structuredContent as { verdict: string; result?: { reason?: string; output?: string }; error?: { code: string; message: string }; durationMs: number };
      out(`  verdict ${e.verdict} after ${Math.round(e.durationMs)} ms`);
      const why = e.result?.reason ?? e.error?.message;
      if (why) out(`  reason: ${why}`);
      out("  (this machine has no systemd, so the helper's pre-check stops the restart; on a real host");
      out("   the test suite shows it restart nginx and its MainPID change)");
    });
    await call(client, "execute_action", { id });

    out(bold(`The action catalog: ${actions.length} actions, each typed, allowlisted on the host, with a preview, checks and a plan`));
    for (const a of actions as readonly ActionDef[]) {
      const where = a.needsSystemd ? "needs systemd" : "any host   ";
      out(`  ${a.name.padEnd(20)} ${a.impact.padEnd(6)} ${where}  allowlist ${a.allowlist.padEnd(12)} ${a.inverse ? `undo: ${a.inverse}` : ""}`);
    }
    out("  (this local fleet has no systemd: the actions marked \"any host\" run here; docs/catalog.md has every plan)");
    out();

    out(bold("A repair that runs here: empty a runaway log, with the bytes it frees known before approval"));
    const debugLog = join(dir, "agents", "local1", "logs", "debug.log");
    const repair = await call(client, "propose_action", {
      target: "local1",
      request: { action: "truncate_log", path: debugLog },
      reason: "debug.log grew to fill the disk; its content is not needed",
    }, (r) => {
      const p = r.structuredContent as { id: string; state: string; preview?: string[]; runs?: string[] };
      out(`  request ${p.id}: ${p.state}; the host's preview and the plan the approver reads:`);
      for (const line of p.preview ?? []) out(`    ${line}`);
      for (const line of p.runs ?? []) out(`    $ ${line}`);
    });
    const repairId = (repair.structuredContent as { id: string }).id;
    out(bold(`$ hostward approve ${repairId} --key ${fleetApproverKey(dir)} --yes --config ${dir}`));
    out(`  (exit ${await approveCommand([repairId, "--key", fleetApproverKey(dir), "--yes", "--config", dir])})`);
    await call(client, "execute_action", { id: repairId }, (r) => {
      const e = r.structuredContent as { verdict: string; result?: { before?: unknown; after?: unknown; reason?: string } };
      out(`  verdict ${e.verdict}: before ${JSON.stringify(e.result?.before)}, after ${JSON.stringify(e.result?.after)}`);
    });

    await rolloutStory(client, dir);

    await client.close();
    client = undefined;

    out(bold("The audit trail (hash-chained JSON lines)"));
    const auditFile = join(stateDirOf(loadBrokerConfig(dir)), AUDIT_FILE);
    const lines = readFileSync(auditFile, "utf8").trim().split("\n");
    for (const line of lines.slice(-12)) {
      const r = JSON.parse(line) as Record<string, unknown>;
      const detail = ["tool", "host", "decision", "outcome", "reason"].filter((k) => r[k] !== undefined).map((k) => `${k}=${JSON.stringify(r[k])}`);
      out(`  #${String(r.seq).padEnd(4)} ${String(r.code)} ${String(r.event).padEnd(16)} ${detail.join(" ").slice(0, 100)}`);
    }
    const verdict = verifyAuditFile(auditFile, { head: anchorFilesIn(dir).head });
    const anchored = verdict.anchor.status === "verified" ? `, signed head at record ${verdict.anchor.seq} verified` : "";
    out(`  ${lines.length} records in ${auditFile}; chain ${verdict.ok ? `verified${anchored}` : `FAILED (${verdict.failure?.check}) at record ${verdict.failure?.line}: ${verdict.failure?.error}`}`);
    out();
    return verdict.ok ? 0 : 1;
  } finally {
    if (client) await client.close().catch(() => undefined);
    await fleetDown(dir);
    if (values.keep) out(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
    out("local fleet stopped.");
  }
}

/**
 * A roll-out on the local fleet: one proposal, one approval, the canary first, and a health gate
 * that fails on it (the demo's own HTTP endpoint answers 503, as a broken new version would), so
 * the roll-out stops there and the other host is left untouched.
 */
async function rolloutStory(client: Client, dir: string): Promise<void> {
  out(bold("A roll-out: one approval for the web hosts, canary first, stopped by a health gate that fails"));
  const health = createServer((_req, res) => {
    res.writeHead(503, { "content-type": "text/plain" });
    res.end("unavailable\n");
  });
  await new Promise<void>((resolve) => health.listen(0, "127.0.0.1", resolve));
  try {
    const url = `http://127.0.0.1:${(health.address() as { port: number }).port}/health`;
    const proposed = await call(client, "propose_rollout", {
      target: "tag:web",
      action: "truncate_log",
      params: { path: join(dir, "shared-logs", "debug.log") },
      strategy: { canaries: 1, batchSize: 1, gates: [{ diagnostic: "check_http", input: { url }, when: [{ field: "status", op: "==", value: 200 }] }] },
      reason: "the shared debug log fills the disk on every web host",
    }, (r) => {
      const p = r.structuredContent as { id: string; state: string; batches: string[][] };
      out(`  roll-out ${p.id}: ${p.state}; batches ${p.batches.map((b) => `[${b.join(", ")}]`).join(" then ")}`);
    });
    if (proposed.isError) return;
    const id = (proposed.structuredContent as { id: string }).id;
    out(bold(`$ hostward approve ${id} --key ${fleetApproverKey(dir)} --yes --config ${dir}`));
    out(`  (exit ${await approveCommand([id, "--key", fleetApproverKey(dir), "--yes", "--config", dir])})`);
    await call(client, "execute_rollout", { id }, (r) => out(`  ${String((r.structuredContent as { state: string }).state)}: it runs in the broker; get_rollout follows it`));
    const deadline = Date.now() + 60_000;
    let view: { state: string; counts: Record<string, number>; untouched: string[]; execution?: { halt?: { reason: string } }; hosts: Array<{ host: string; state: string; gates?: Array<{ diagnostic: string; conditions: Array<{ text: string; seen: unknown }> }> }> };
    do {
      await new Promise((r) => setTimeout(r, 200));
      view = (await client.callTool({ name: "get_rollout", arguments: { id } })).structuredContent as typeof view;
    } while (view.state === "RUNNING" && Date.now() < deadline);
    out(`${bold("> get_rollout")} ${JSON.stringify({ id })}`);
    out(`  ${view.state}: ${Object.entries(view.counts).map(([k, v]) => `${v} ${k}`).join(", ")}`);
    for (const h of view.hosts) out(`  ${h.host.padEnd(8)} ${h.state}${(h.gates ?? []).map((g) => `  ${g.diagnostic}: ${g.conditions.map((c) => `${c.text}, saw ${JSON.stringify(c.seen)}`).join("; ")}`).join("")}`);
    if (view.execution?.halt) out(`  why: ${view.execution.halt.reason}`);
    out(`  untouched: ${view.untouched.join(", ") || "(none)"}`);
    out();
  } finally {
    health.close();
  }
}
