// hostward serve [--config DIR] [--http HOST:PORT [--allow-remote] [--allow-host NAME]…]
// The MCP server. stdio by default (stdout carries MCP only; logs go to stderr or broker.yaml's
// logFile). With --http, streamable HTTP on loopback with a bearer token.
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setFlagsFromString } from "node:v8";
import { HostCallError } from "../agents/errors";
import { createBroker, type Broker } from "../broker";
import { ConfigError } from "../config/load";
import { RESULT_LOCK_WAIT_MS } from "../mcp/host-call";
import { reloadBroker } from "../config/reload";
import { isLoopbackHost, startHttpServer, type HttpToken } from "../mcp/http";
import { createMcpFetch, loopbackHostnames, serveOnStdio, type ServerInfo } from "../mcp/sdk";
import { brokerSurface } from "../mcp/tools/index";
import { configFiles, defaultConfigDir } from "../paths";
import { startTracing } from "../../../shared/tracing";

const USAGE = `Usage: hostward serve [--config DIR] [--http HOST:PORT [--allow-remote] [--allow-host NAME]...]

Runs the hostward MCP server.
  --config DIR        broker configuration directory (hosts.yaml, policy.yaml, broker.yaml, tls/)
                      default: ${defaultConfigDir()}
  --http HOST:PORT    serve streamable HTTP at http://HOST:PORT/mcp instead of stdio; HOST must be
                      a loopback address unless --allow-remote. Bearer tokens: each person's
                      (team mode: users.jsonl, from "hostward pki issue-user"), and a shared one
                      from $HOSTWARD_HTTP_TOKEN — or, with no users, a generated one written to
                      the state directory (its path is printed).
  --allow-remote      allow a non-loopback HOST (exposes the broker to the network)
  --allow-host NAME   also accept this Host header / Origin hostname (repeatable)
With --http, GET http://HOST:PORT/metrics serves Prometheus metrics (the same bearer token, unless
broker.yaml has metrics: { public: true }).
`;

/**
 * Said once here rather than in each tool's description or output schema (tools/list is read in
 * every conversation): what `target` selects and the per-host result envelope every host tool returns.
 */
const INSTRUCTIONS = [
  "hostward runs typed, read-only diagnostics on Linux hosts through agents; there is no shell. Changes are proposed (propose_action) and run only after a human approves them.",
  'Every diagnostic takes `target`: a host name ("web1"), "tag:NAME" (every host with that tag), a comma list of those ("web1,tag:db"), or "*" (every host); see list_hosts. Use plan for a dry run of what policy allows.',
  "A diagnostic returns {results: [{host, ok, data | error: {code, message}, durationMs, truncated?, nextCursor?}], summary: {hosts, ok, failed, denied}, truncated?}: one result per host, in inventory order; a host that fails or that policy refuses (code POLICY_DENIED) is reported in its own result without failing the others. truncated: part of the output was cut to fit the broker's maxOutputBytes (narrow the target or the arguments); nextCursor: pass it as `cursor` to continue after the last entry shown.",
  'Answers sized for a fleet: `view` "hosts" gives that per-host answer, `view` "summary" a summary (at most 8 KB); without `view`, a target of more than 10 hosts gets the summary. A summary is {summary, fleet: {outliers: {errors: [{code, count, hosts, message}], apart: [{host, values: {field: value}}]}, groups: [{count, hosts, data?}], numbers: [{field, n, min, median, p90, max, minHost, maxHost}], constant?: {field: value}, varies?: [{field, distinct}], omitted?}, page}. outliers come first: hosts that failed or were denied, by code, and hosts whose numbers stand apart (|x − median| > max(3.5 × 1.4826 × MAD, 25 % of the median, 0.5), over 5 hosts or more). constant: numbers equal on every host that has them. groups: hosts with identical answers apart from numbers, times and fields listed in varies (hosts: a few examples; data: the first one\'s answer). Fields are dotted paths; entries of an array with a key show as "filesystems[/var].usedPercent". omitted counts what was left out to stay small (an error group lists fewer hosts than its count). page: pass it back as `page`, with the same other arguments, for the per-host results a page at a time (each page\'s `page` continues, its summary counts its own hosts); results are kept 10 minutes, the hosts are not called again. compare_hosts shows how one host differs from the rest.',
].join("\n\n");

export function parseListen(value: string): { host: string; port: number } | undefined {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(value);
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  return { host: m[1], port };
}

function fail(message: string, code = 1): number {
  process.stderr.write(`hostward serve: ${message}\n`);
  return code;
}

/**
 * The shared token: $HOSTWARD_HTTP_TOKEN, else (no users.jsonl people: one person's broker) a
 * generated one in the state directory. In team mode (users.jsonl has people) and without the
 * variable there is none: each person presents their own (hostward pki issue-user).
 */
function httpToken(broker: Broker): { token?: HttpToken; file?: string } {
  const fromEnv = process.env.HOSTWARD_HTTP_TOKEN;
  if (fromEnv !== undefined && fromEnv !== "") {
    if (fromEnv.length < 16) throw new Error("HOSTWARD_HTTP_TOKEN is shorter than 16 characters");
    return { token: { value: fromEnv, label: "env:HOSTWARD_HTTP_TOKEN" } };
  }
  if (broker.config.current.users.length > 0) return {};
  const value = randomBytes(32).toString("base64url");
  mkdirSync(broker.stateDir, { recursive: true, mode: 0o700 });
  const file = join(broker.stateDir, "http-token");
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { token: { value, label: `generated:${file}` }, file };
}

/** stdio's person: the OS user running the broker (recorded in each audit record's caller; policy's users). */
function osUser(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined; // no passwd entry (a container's arbitrary uid)
  }
}

function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => resolve(sig));
  });
}

/**
 * SIGHUP reloads the configuration, as daemons do (Node's default would end the process). The same
 * path as reload_config: validated, TLS files checked, audited, all or nothing.
 */
function reloadOnSighup(broker: Broker): void {
  let running: Promise<void> | undefined;
  process.on("SIGHUP", () => {
    if (running) {
      broker.logger.info("SIGHUP: a reload is already in progress");
      return;
    }
    running = reloadBroker(broker, { via: "SIGHUP" })
      .then((r) => {
        if (r.ok) broker.logger.info({ changes: r.changes, notes: r.notes }, "SIGHUP: configuration reloaded");
        else broker.logger.error({ problems: r.problems }, "SIGHUP: configuration NOT reloaded; the running configuration is unchanged");
      })
      .catch((err: unknown) => broker.logger.error({ err: (err as Error).message }, "SIGHUP: reload failed"))
      .finally(() => {
        running = undefined;
      });
  });
}

/** The end of a broker: the in-flight audit records made durable, a stop record, the head signed. */
async function stop(broker: Broker, reason: string): Promise<void> {
  broker.logger.info({ reason }, "broker stopping");
  // Notices in flight get their deadline (at most broker.yaml notify.webhook.timeoutMs) to be sent and audited.
  await broker.notifier.idle();
  try {
    await broker.audit.append({ event: "broker.stop", pid: process.pid, reason });
  } catch (err) {
    broker.logger.error({ err: (err as Error).message }, "the stop record could not be written");
  }
  await broker.audit.close();
  await broker.state.close();
}

export async function run(argv: string[]): Promise<number> {
  let values: { config?: string; http?: string; "allow-remote"?: boolean; "allow-host"?: string[]; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: "string" },
        http: { type: "string" },
        "allow-remote": { type: "boolean" },
        "allow-host": { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return fail(`${(err as Error).message}\n\n${USAGE}`, 2);
  }
  if (values.help) {
    process.stderr.write(USAGE);
    return 0;
  }
  const listen = values.http === undefined ? undefined : parseListen(values.http);
  if (values.http !== undefined && !listen) return fail(`--http must be HOST:PORT (e.g. 127.0.0.1:8765), got "${values.http}"`, 2);
  if (listen && !isLoopbackHost(listen.host) && !values["allow-remote"]) {
    return fail(`refusing to listen on ${listen.host}: not a loopback address (pass --allow-remote to expose the broker to the network)`, 2);
  }

  // A fan-out keeps a channel per host and promotes ~20 KB of grpc-js/http2 per-call objects per
  // host to V8's old generation; with V8's default growing factor (up to 4x the live heap) the heap
  // reached ~215 MiB on a ~70 MiB live set at 1000 hosts. 1.5x caps that garbage: broker peak RSS
  // 368 -> 258 MiB at 1000 hosts, about the same round time (test/bench/results.md, fan-out).
  // Read by V8 at every GC, so setting it at run time works (a shebang cannot carry node flags).
  setFlagsFromString("--heap-growing-percent=50");
  const configDir = values.config ?? defaultConfigDir();
  let broker: Broker;
  try {
    broker = createBroker(configDir);
  } catch (err) {
    if (err instanceof ConfigError) return fail(`${configDir}: ${err.message}`);
    return fail((err as Error).message);
  }
  try {
    broker.pool.credentials("reader");
  } catch (err) {
    if (err instanceof HostCallError) return fail(`${err.message} (create it with "hostward pki issue-client --role reader")`);
    throw err;
  }

  // Off unless broker.yaml has `tracing` (read at start: a reload does not turn it on or off).
  const tracingConfig = broker.config.current.settings.tracing;
  const tracing = tracingConfig ? startTracing(tracingConfig, "hostward-broker") : undefined;
  const info: ServerInfo = { name: "hostward", version: broker.version, instructions: INSTRUCTIONS };
  const surface = brokerSurface(broker);
  const tools = surface.tools;
  const transport = listen ? "http" : "stdio";
  try {
    // Waits as long as a call's result record would: another broker paused holding the lock
    // delays this session's start instead of failing it.
    await broker.audit.appendWaiting(RESULT_LOCK_WAIT_MS, { event: "broker.start", pid: process.pid, transport, configDir, version: broker.version, catalogHash: broker.catalogHash, tools: tools.length });
  } catch (err) {
    return fail(`the audit log cannot be written, so the broker does not start: ${(err as Error).message}`);
  }
  reloadOnSighup(broker);
  broker.logger.info({ configDir, transport, hosts: broker.config.current.hosts.length, tools: tools.length, audit: broker.audit.location }, "broker started");
  const onerror = (err: Error) => broker.logger.error({ err: err.message }, "MCP transport error");

  if (!listen) {
    const handle = serveOnStdio(info, surface, onerror, osUser());
    const reason = await Promise.race([
      waitForSignal(),
      new Promise<string>((resolve) => process.stdin.once("end", () => resolve("stdin closed")).once("close", () => resolve("stdin closed"))),
    ]);
    await handle.close().catch(() => undefined);
    await stop(broker, reason);
    broker.pool.close();
    await tracing?.shutdown();
    setTimeout(() => process.exit(0), 1000).unref();
    return 0;
  }

  let token: { token?: HttpToken; file?: string };
  try {
    token = httpToken(broker);
  } catch (err) {
    return fail((err as Error).message);
  }
  const mcp = createMcpFetch(info, surface, onerror);
  const allowedHosts = [...loopbackHostnames(), ...(values["allow-remote"] ? [listen.host] : []), ...(values["allow-host"] ?? [])];
  let started: Awaited<ReturnType<typeof startHttpServer>>;
  try {
    started = await startHttpServer(mcp.node, { host: listen.host, port: listen.port, ...(token.token && { token: token.token }),
      users: () => broker.config.current.users,
      allowedHosts,
      logger: broker.logger,
      metrics: { render: () => broker.metrics.render(), isPublic: () => broker.config.current.settings.metrics.public },
    });
  } catch (err) {
    return fail(`cannot listen on ${values.http}: ${(err as Error).message}`);
  }
  const people = broker.config.current.users.length;
  process.stderr.write(
    `hostward serve: MCP over HTTP at ${started.url}\n` +
      (token.file ? `hostward serve: bearer token in ${token.file}\n` : token.token ? "hostward serve: bearer token from $HOSTWARD_HTTP_TOKEN\n" : "") +
      (people > 0 ? `hostward serve: team mode: ${people} user token(s) in ${configFiles(broker.config.current.dir).users}${token.token ? " (and the shared token)" : ""}\n` : ""),
  );
  broker.logger.info({ url: started.url, token: token.token?.label, users: people }, "HTTP transport listening");
  const reason = await waitForSignal();
  const closed = new Promise<void>((resolve) => started.server.close(() => resolve()));
  started.server.closeAllConnections();
  await closed;
  await mcp.close().catch(() => undefined);
  await stop(broker, reason);
  broker.pool.close();
  await tracing?.shutdown();
  setTimeout(() => process.exit(0), 1000).unref();
  return 0;
}
