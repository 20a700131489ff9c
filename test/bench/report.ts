// results.md from the results of one run: every figure with its run count, p50/p99, and ratios
// against baselines measured in the same run; the targets from the issue, met or not.
import type { BenchResults } from "./main";
import type { Stats } from "./util";

const f = (x: number, digits = 2) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(digits));
const ms = (s: Stats) => `${f(s.p50)} / ${f(s.p99)} ms (n=${s.runs})`;
const ratio = (a: number, b: number) => `${f(a / b, 1)}×`;
const mib = (x: number) => `${f(x, 1)} MiB`;
const verdict = (ok: boolean) => (ok ? "**met**" : "**missed**");

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

function targets(r: BenchResults): string {
  const rows: string[][] = [];
  const load = r.latency?.rows.find((x) => x.tool === "get_load");
  if (load) {
    rows.push(["`get_load` through MCP, p50 ≤ 2 ms", `${f(load.mcp.p50)} ms`, verdict(load.mcp.p50 <= 2)]);
    rows.push(["… ≥ 100× faster than (a) ssh per call", ratio(load.sshNew.p50, load.mcp.p50), verdict(load.sshNew.p50 / load.mcp.p50 >= 100)]);
    rows.push(["… ≥ 2× faster than (c) ssh2 kept open", ratio(load.ssh2.p50, load.mcp.p50), verdict(load.ssh2.p50 / load.mcp.p50 >= 2)]);
  }
  const k = r.fanout?.find((x) => x.hosts === 1000);
  if (k) {
    rows.push(["Fan-out to 1000 simulated hosts: round p50 ≤ 1.5 s", `${f(k.round.p50)} ms`, verdict(k.round.p50 <= 1500)]);
    rows.push(["… broker peak RSS ≤ 300 MiB", mib(k.brokerPeakRssMiB), verdict(k.brokerPeakRssMiB <= 300)]);
  }
  if (r.agent) {
    for (const role of ["reader", "operator"] as const) {
      rows.push([`Agent ${role}: idle RSS ≤ 50 MiB`, mib(r.agent.idle[role].rssMiB.p50), verdict(r.agent.idle[role].rssMiB.p50 <= 50)]);
      rows.push([`Agent ${role}: start to serving ≤ 250 ms`, `${f(r.agent.startToServing[role].p50)} ms`, verdict(r.agent.startToServing[role].p50 <= 250)]);
    }
  }
  const s = r.logSearch;
  if (s) {
    const grep = s.rows.find((x) => x.tool === "grep -F")!;
    const hw = s.rows.find((x) => x.tool === "search_logs")!;
    rows.push(["Log search ≥ 50 % of `grep -F` throughput", `${Math.round((100 * hw.mbPerSecond) / grep.mbPerSecond)} %`, verdict(hw.mbPerSecond >= grep.mbPerSecond / 2)]);
    rows.push(["… with bounded memory (agent peak RSS)", mib(s.agentAfter.hwm), "bounded: 2 × 1 MiB read buffers, whatever the file size"]);
  }
  const st = r.streaming;
  if (st?.measured) rows.push(["Streaming: line → progress notification, p50 ≤ 50 ms", `${f(st.ptyLines.p50)} ms (program lines, n=${st.ptyLines.runs})`, verdict(st.ptyLines.p50 <= 50)]);
  else rows.push(["Streaming: line → progress notification ≤ 50 ms", "not measured", st?.reason ?? "not run"]);
  return table(["Target (issue 5)", "Reached", ""], rows);
}

function streaming(r: BenchResults): string[] {
  const st = r.streaming;
  if (!st?.measured) return [`Not measured: ${st?.reason ?? "the section was not run."}`];
  const runs = st.rows.map((x) => `${x.n} × \`${x.action}\``).join(" and ");
  return [
    `What runs: ${st.setup}; set up in ${f(st.setupSeconds, 1)} s. Each action is proposed (\`propose_action\`), approved with an approver key by the real CLI (\`hostward approve ID --key FILE --yes\`) and executed (\`execute_action\` with a progressToken): ${runs}, after ${st.rows[0]?.warmup ?? 0} unmeasured runs of each; every run succeeded.`,
    "",
    "What a figure spans: from the host's root helper reading the line off the program's pty (node-pty's data event; its stamp, `ActionEvent.at_unix_micros`, is carried to the broker and kept in the request's execution record) to the SDK Client's `onprogress` for the notification carrying that line (the bench's clock). Between: the helper's JSON line on its stdout pipe → operator agent → gRPC server stream over mTLS (network namespaces) → broker → MCP `notifications/progress` on stdout → Client. Both clocks are this machine's realtime clock (the container shares the kernel), read at sub-millisecond resolution. \"Program lines\" are printed by the programs the action runs (the headline); \"all lines\" adds the helper's own (`pre-check:`, `$ command`, `post-check:`), stamped when the helper wrote them.",
    "",
    table(
      ["action", "program lines (pty)", "all lines", "execute_action call", "program lines seen"],
      st.rows.map((x) => [`\`${x.action}\``, ms(x.ptyLines), ms(x.allLines), ms(x.execute), x.ptyExamples.map((e) => `\`${e}\``).join("<br>")]),
    ),
    "",
    `Pooled: program lines ${ms(st.ptyLines)}; all lines ${ms(st.allLines)}.`,
    "",
    `By kind of line: ${st.rows.map((x) => `\`${x.action}\`: ${Object.entries(x.byKind ?? {}).map(([k, v]) => `${k} ${ms(v)}`).join(", ")}`).join("; ")}.`,
  ];
}

type Baseline = BenchResults & { label?: string };

/** Before → after for the figures the performance work touched; "before" is another run's results.json. */
function beforeAfter(r: BenchResults, b: Baseline): string {
  const rows: string[][] = [];
  const row = (what: string, before: number | undefined, after: number | undefined, unit: string) => {
    if (before === undefined || after === undefined) return;
    rows.push([what, `${f(before)} ${unit}`, `${f(after)} ${unit}`, ratio(before, after)]);
  };
  for (const x of r.latency?.rows ?? []) {
    const y = b.latency?.rows.find((z) => z.tool === x.tool);
    row(`\`${x.tool}\` through MCP, p50`, y?.mcp.p50, x.mcp.p50, "ms");
    row(`\`${x.tool}\` agent direct, p50`, y?.direct.p50, x.direct.p50, "ms");
  }
  for (const x of r.fanout ?? []) {
    const y = b.fanout?.find((z) => z.hosts === x.hosts);
    row(`fan-out ${x.hosts}: first round`, y?.coldRoundMs, x.coldRoundMs, "ms");
    row(`fan-out ${x.hosts}: round p50`, y?.round.p50, x.round.p50, "ms");
    row(`fan-out ${x.hosts}: broker peak RSS`, y?.brokerPeakRssMiB, x.brokerPeakRssMiB, "MiB");
  }
  for (const role of ["reader", "operator"] as const) {
    row(`agent ${role}: idle RSS`, b.agent?.idle[role].rssMiB.p50, r.agent?.idle[role].rssMiB.p50, "MiB");
    row(`agent ${role}: start to serving p50`, b.agent?.startToServing[role].p50, r.agent?.startToServing[role].p50, "ms");
  }
  row("reader RSS after 10,000 calls", b.agent?.afterCalls.after.rss, r.agent?.afterCalls.after.rss, "MiB");
  const sb = b.logSearch?.rows.find((z) => z.tool === "search_logs");
  const sa = r.logSearch?.rows.find((z) => z.tool === "search_logs");
  row("search_logs over 1 GiB, p50", sb?.time.p50, sa?.time.p50, "ms");
  row("agent peak RSS while searching", b.logSearch?.agentAfter.hwm, r.logSearch?.agentAfter.hwm, "MiB");
  return [
    `## Before → after the performance work`,
    "",
    `"Before" is ${b.label ?? "a previous run"} (${b.machine.date.slice(0, 16).replace("T", " ")} UTC, load ${b.machine.loadAvgStart.join(" ")}), the same bench code on the product as it was; "after" is this run. Ratio = before / after (> 1× is an improvement). Two runs on a shared machine: differences of a few tens of percent in latency can be noise; memory and throughput figures are steadier.`,
    "",
    table(["figure", "before", "after", "before / after"], rows),
    "",
  ].join("\n");
}

export function renderMarkdown(r: BenchResults, baseline?: Baseline): string {
  const m = r.machine;
  const out: string[] = [];
  out.push("# hostward benchmarks", "");
  out.push(
    `Generated by \`npm run bench\` (test/bench/) on ${m.date.slice(0, 10)} at ${m.date.slice(11, 19)} UTC, commit ${m.gitCommit}${m.gitDirty ? " with uncommitted changes in agent/, broker/ or proto/" : ""}; the run took ${r.durationSeconds ?? "?"} s.`,
    "Every comparison runs in the same run, on loopback, on this machine:",
    "",
    `- ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.os}, Linux ${m.kernel}; Node ${m.node}`,
    `- ${m.openssh}; ${m.grep}; ${m.ripgrep}`,
    `- load average at start ${m.loadAvgStart.join(" ")}, at end ${m.loadAvgEnd?.join(" ") ?? "?"} (the machine is shared: other work adds noise, mostly to p99)`,
    "",
    "Figures are p50 / p99 with the number of measured runs (n); warm-up runs are not counted. Ratios compare p50s measured in this run.",
    "",
    "## Targets",
    "",
    targets(r),
    "",
  );
  if (baseline) out.push(beforeAfter(r, baseline));

  if (r.latency) {
    const L = r.latency;
    out.push(
      "## 1. Tool-call latency (one caller, sequential)",
      "",
      "- **MCP**: the SDK's `Client` over stdio → `hostward serve` (policy, audit, fan-out, reply validation) → the local reader agent over gRPC + mTLS. Measured at the client: `callTool` to result.",
      "- **agent direct**: the same RPC from a grpc-js client straight to the agent (no broker): what the broker adds is the difference.",
      "- **(a)** `ssh` to OpenSSH on 127.0.0.1, a new connection per call, key-only user whose key has a forced `command=` wrapper that whitelists fixed commands (the seed's design): `load` → `cat /proc/loadavg`, `disk` → `df -P /`, `mem` → `cat /proc/meminfo`, `service` → `systemctl show … ssh.service`.",
      "- **(b)** the same through an OpenSSH ControlMaster connection (each call still starts an `ssh` process).",
      "- **(c)** the `ssh2` npm client on one kept-open connection with `setNoDelay(true)`, an exec channel per call.",
      "- The SSH variants return raw text; hostward's return typed, validated JSON (more work, in its disfavour).",
      "- Order: 10 rounds; in each, every variant runs a block of a tenth of its calls back to back (the first call of a block is not counted). Blocks rather than call-by-call alternation, so that the processes an `ssh` call leaves exiting do not land on the next variant's call.",
      "",
      table(
        ["tool (ssh command)", "MCP", "agent direct", "(a) ssh per call", "(b) ControlMaster", "(c) ssh2 kept open", "(a) / MCP", "(c) / MCP"],
        L.rows.map((x) => [
          `\`${x.tool}\` (\`${x.ssh}\`)`,
          ms(x.mcp),
          ms(x.direct),
          ms(x.sshNew),
          ms(x.sshMaster),
          ms(x.ssh2),
          ratio(x.sshNew.p50, x.mcp.p50),
          ratio(x.ssh2.p50, x.mcp.p50),
        ]),
      ),
      "",
      `Floor: a no-op grpc-js unary call over the same mutual TLS, client and server in one process: ${ms(L.floor)}. Broker peak RSS over this section: ${mib(L.brokerPeakRssMiB)}.`,
      "",
    );
    const svc = L.rows.find((x) => x.tool === "get_service_status");
    if (svc) {
      out.push(
        `\`get_service_status\`: this machine has no systemd as PID 1, so both sides measure a refusal: the agent refuses before spawning anything (it checks /run/systemd/system) and the MCP result is a per-host error (\`${svc.mcpAnswer}\`); the wrapper runs \`systemctl show\`, which fails. Not like for like (the SSH side spawns a process), so this row is not a headline figure. \`get_memory_info\` (/proc/meminfo) is added as a third diagnostic that works everywhere.`,
        "",
      );
    }
  }

  if (r.fanout) {
    out.push(
      "## 2. Fan-out: `get_load` on target `*`",
      "",
      "N = 10 uses real agent processes (`hostward local up --hosts 10`). For N = 100 and 1000 the hosts are **simulated**: a bench-only launcher (test/bench/multi-agent.ts) runs many reader servers per Node process, built from the agent's own server code (agent/src/server/: interceptor, mTLS, catalog wiring, limits, per-call log line), each on its own loopback port and its own inventory entry; the simulated hosts share their processes' event loops and the machine's 2 cores. The broker uses its default fan-out settings (concurrency 32, per-host deadline 10 s). The ssh2 column: one kept-open ssh2 connection per host to the same sshd, `load` on all of them concurrently.",
      "",
      table(
        ["hosts", "simulated", "first round (opens N channels)", "round p50 / p99", "broker peak RSS", "ssh2 kept-open round", "ssh2 / MCP"],
        r.fanout.map((x) => [
          String(x.hosts),
          x.simulated,
          `${x.coldRoundMs} ms`,
          ms(x.round),
          mib(x.brokerPeakRssMiB),
          x.ssh2 ? ms(x.ssh2) : "— (N > 100)",
          x.ssh2 ? ratio(x.ssh2.p50, x.round.p50) : "—",
        ]),
      ),
      "",
      ...(r.fanout.some((x) => x.outputTruncated) ? ["Some rounds' output was cut to the broker's `maxOutputBytes` (the results say so with `truncated`); every host still answered ok (summary).", ""] : []),
    );
  }

  if (r.agent) {
    const A = r.agent;
    out.push(
      "## 3. The agent itself",
      "",
      `Floors measured in this run (idle RSS, 3 s after start): \`node\` doing nothing ${mib(A.floors.bareNodeMiB)}; a bare grpc-js server bound with mutual TLS and nothing else (test/bench/floor-server.ts) ${mib(A.floors.grpcMtlsServerMiB)}.`,
      "",
      "Start to serving: from `spawn()` of `node dist/agent/hostward-<role>.cjs` to its `--ready-file` appearing (written once the gRPC server is bound). Idle RSS: VmRSS 3 s after ready; RssAnon is the process's own memory, RssFile mostly the `node` binary's pages (shared between the two units on a host).",
      "",
      table(
        ["role", "start to serving", "idle RSS (p50 of n)", "RssAnon / RssFile (first run)"],
        (["reader", "operator"] as const).map((role) => [
          role,
          ms(A.startToServing[role]),
          `${mib(A.idle[role].rssMiB.p50)} (n=${A.idle[role].runs})`,
          `${mib(A.idle[role].samples[0]!.rssAnon)} / ${mib(A.idle[role].samples[0]!.rssFile)}`,
        ]),
      ),
      "",
      `After ${A.afterCalls.calls.toLocaleString("en")} \`get_load\` calls (gRPC, ${A.afterCalls.concurrency} in flight, ${A.afterCalls.callsPerSecond.toLocaleString("en")} calls/s): reader RSS ${mib(A.afterCalls.after.rss)} (peak ${mib(A.afterCalls.after.hwm)}), ${mib(A.afterCalls.before.rss)} before the calls.`,
      "",
      table(
        ["bundle", "bytes"],
        A.bundles.map((b) => [`\`${b.file}\``, `${b.bytes.toLocaleString("en")} (${mib(b.bytes / 1024 / 1024)})`]),
      ),
      "",
    );
  }

  if (r.logSearch) {
    const S = r.logSearch;
    const grep = S.rows.find((x) => x.tool === "grep -F")!;
    out.push(
      "## 4. Log search over a generated 1 GiB file",
      "",
      `${S.fileBytes.toLocaleString("en")} bytes, ${S.lines.toLocaleString("en")} syslog-like lines, ${S.matches} planted matches (every tool must read the whole file); page cache warm for all. \`search_logs\` runs on a fresh reader agent (log root = the file's directory, \`logs.maxScanBytes\` at its 1 GiB default) called over gRPC + mTLS; it returns line numbers and byte offsets, so \`grep -nF\` / \`rg -nF\` are the like-for-like rows. The file is deleted afterwards.`,
      "",
      table(
        ["tool", "time p50 / p99", "MB/s (p50)", "vs grep -F"],
        S.rows.map((x) => [`\`${x.command}\``, ms(x.time), String(x.mbPerSecond), `${Math.round((100 * x.mbPerSecond) / grep.mbPerSecond)} %`]),
      ),
      "",
      `Agent memory: ${mib(S.agentBefore.rss)} RSS before searching, peak (VmHWM) ${mib(S.agentAfter.hwm)} after ${S.rows.find((x) => x.tool === "search_logs")!.time.runs + 1} searches of 1 GiB.`,
      "",
    );
  }

  out.push("## 5. Streaming (action output → MCP progress notification)", "", ...streaming(r), "");
  out.push(NOTES);
  return `${out.join("\n")}\n`;
}

/** What the figures mean and what was changed to reach them (kept with the generator so results.md is whole). */
const NOTES = `## Notes

### What the performance work changed (issue 5)

- **Broker, audit durability** (broker/src/audit/log.ts, broker/src/mcp/host-call.ts). Every
  tool call wrote two audit appends, each \`write\` + \`fsync\` on the event loop before going on:
  the profile of 3,000 sequential \`get_load\` calls showed fsync as the largest single cost of
  the broker (~1.2 ms per call on this virtual disk, more on a disk without a write cache).
  Now, for the catalog's diagnostics only, records are still *written* before anything is sent
  (a broker crash cannot lose them) but fsync'd by a group commit on the thread pool while the
  hosts work; see "Audit durability" below.
- **Broker, gRPC channels** (broker/src/agents/channels.ts): \`grpc.enable_channelz: 0\`. grpc-js
  keeps channelz trace buffers and call counters per channel and subchannel by default; with a
  channel per host that was measurable in the 1000-host fan-out (first round and every round)
  and in memory. Nothing reads channelz here.
- **Broker, per-host request** (broker/src/agents/diagnostic-call.ts): the proto3 defaults of a
  request are decoded once per method instead of once per host per call.
- **Agent, caller identity** (agent/src/server/caller.ts): the role SAN URI, the CN and the
  clientAuth EKU are read with Node's own \`crypto.X509Certificate\` instead of
  @peculiar/x509 (+ reflect-metadata, tsyringe, asn1js …), which the agent loaded at start only
  for those three fields: about 6 MiB less RSS and a smaller bundle. SAN parsing stays strict:
  Node quotes any SAN value holding \`,\` \`"\` \`\\\` \`'\` or a control character as a JSON string; the
  parser decodes it and judges the real value (a role URI with a comma names an unknown role
  and is refused), and refuses text that breaks that grammar.
- **Agent, log search** (agent/src/search.ts): a literal search no longer builds per-line
  objects: lines before the next hit are only counted (one native newline search per line),
  except the last \`contextLines\` of them, which still feed the context ring; reads use two
  1 MiB buffers so the next read runs on the thread pool while this chunk is scanned. Memory
  stays bounded (2 MiB of buffers, whatever the file size).

### Audit durability: per record or batched?

Before: each audit append was fsync'd before the broker went on, twice per call. Options for
read-only diagnostics: (1) keep it; (2) write synchronously, fsync in the background with a
bounded delay (a power loss can lose the last few records of calls that have already returned);
(3) write synchronously, fsync as a group commit that overlaps the call, and **return the result
only once the call's own records are durable**. hostward now does (3) for the catalog's
diagnostics — read-only by construction, since the reader role serves nothing else — and keeps
(1) for every other tool (and for actions when they arrive: a record must be durable before
anything changes on a host). What (3) gives up: the \`tool.result\` record is written before the
reply but fsync'd just after it, so a power loss in that window (≈ one fsync, well under a
millisecond here) can leave a durable \`tool.call\` without its \`tool.result\` — visible in the
log, never silent — and a failed fsync after the hosts were queried returns an error rather
than data, so the model never receives data whose call record might be lost. Concurrent calls
share fsyncs, which also helps fan-out and parallel clients.

### Where the rest goes, and what would close the gaps (not in the files this work owns)

- **Broker, audit I/O per call.** A CPU profile of 1,500 sequential \`get_load\` calls showed ~1 ms of
  the broker's main thread per call on the audit file: the group commit opened and closed a
  handle for every fsync, and each append creates and removes a lock file (O_EXCL, so several
  brokers can share one log) and opens and closes the log. The fsync handle is now kept (a new
  profile: open/close/fsync samples 1.1 s → 0.2 s of 8.6 s); keeping the log itself open and
  holding the lock across one call's records would remove most of the rest.
- **Agent idle RSS.** The floors above say most of it is Node and grpc-js themselves: \`node\`
  idle is ~40 MiB (about 30 MiB of it the \`node\` binary's pages, shared by both units), a bare
  grpc-js mTLS server ~50 MiB. Profiling the rest (heap snapshots, bundles of growing subsets):
  the zod catalog built eagerly adds ~12 MiB and zod itself ~6 MiB (proto/catalog: build each
  definition's schemas on first use); the bundle source is held as a two-byte string (7 MiB for
  3.4 MB) because of one non-ASCII character in a zod comment — scripts/build.mjs with
  \`minifyWhitespace: true\` (comments dropped, linked source map kept) makes it one-byte and
  smaller; gRPC server channelz (agent/src/server/create-server.ts: \`"grpc.enable_channelz": 0\`)
  costs memory and ~8 % of the per-call CPU. With Node 20 and grpc-js, ≤ 50 MiB per unit is at
  the floor; realistic is ~65–70 MiB with those changes.
- **Agent per-call time.** \`get_load\` reads three /proc and /sys files with
  \`fs.promises.readFile\` (open, fstat, read, close: four thread-pool round trips each); a
  synchronous read of these pseudo-files never blocks on a disk (agent/src/diagnostics/proc/).
  The interceptor calls \`getAuthContext()\` on every call, which rebuilds the peer certificate
  object (~40 µs): cache it per connection (agent/src/server/interceptor.ts).
- **Broker at 1000 hosts.** The idle broker is ~90–120 MiB before any call (the CLI bundle
  loads every command, PKI included, for \`serve\`; its source is two-byte too); each kept-open
  TLS + HTTP/2 connection costs ~100 KiB of native memory; and a 1000-host result is validated
  and serialised several times per round (output schema, text copy, JSON-RPC), so the V8 heap
  grows between collections. Lazy command loading (broker/src/cli.ts) and the build change above
  are the first steps.
- **Log search.** Node's \`Buffer.indexOf\` alone takes about as long for 1 GiB as \`grep -F\` does
  in total; counting lines (for line numbers, which \`grep -F\` does not compute, \`grep -nF\`
  does) adds ~0.15 s per GiB at one native call per line. A WebAssembly SIMD newline count over
  the read buffers would take that to a few tens of ms.
`;
