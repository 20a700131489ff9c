// A fan-out tool's answer sized for its fleet. Every catalog diagnostic takes, besides its own
// arguments and `target`:
//   view: "hosts"    one result per host (host-results.ts), cut to maxOutputBytes (output-cap.ts);
//         "summary"  counts, outliers, groups and distributions within SUMMARY_MAX_BYTES
//                    (fleet-summary.ts), and `page`: a cursor to the per-host results;
//         absent     "hosts" up to AUTO_SUMMARY_ABOVE hosts, "summary" above.
//   page: a cursor from a summary or a page, with the call's other arguments unchanged: the next
//         hosts' results (about PAGE_MAX_BYTES of them), from the broker's store of the call's
//         results (answers.ts) — the hosts are not called again, but policy is applied again to
//         each host on the page (a host the current policy denies shows POLICY_DENIED).
import type { z } from "zod";
import { canonicalJson, jsonValue } from "../../../shared/canonical-json";
import type { CallerIdentity } from "../audit/records";
import type { Broker } from "../broker";
import type { HostEntry } from "../config/schema";
import type { WorkContext } from "../fanout";
import { decide, principalOf } from "../policy";
import { callerKey, encodeCursor, pageOf, type AnswerStore } from "./answers";
import type { FleetDef } from "./fleet-shape";
import { summariseFleet } from "./fleet-summary";
import { runHostTool } from "./host-call";
import { summarize, type HostResult, type HostResults } from "./host-results";
import { runLocalTool } from "./local-call";
import { capOutput } from "./output-cap";
import type { ToolOutcome } from "./sdk";

/** The default view is the summary above this many hosts. */
const AUTO_SUMMARY_ABOVE = 10;
/** A summary answer's JSON (structuredContent) is at most this long. */
export const SUMMARY_MAX_BYTES = 8192;
/** A page's results take about this much JSON (at least one host; the output cap still applies). */
const PAGE_MAX_BYTES = 32 * 1024;

interface FleetArgs {
  target: string;
  view?: "summary" | "hosts";
  page?: string;
}

export interface FleetToolCall<T> {
  broker: Broker;
  answers: AnswerStore;
  tool: { name: string; group: string };
  def: FleetDef;
  /** The tool's whole input schema (its own arguments, target, view, page). */
  schema: z.ZodType<FleetArgs>;
  rawArgs: unknown;
  caller: CallerIdentity;
  /** One host's work, with the tool's own arguments (no target, view or page). */
  work: (host: HostEntry, args: Record<string, unknown>, ctx: WorkContext & { callId: string }) => Promise<T>;
  /** Whether a host's data is still valid after output-cap.ts cut it. */
  isValidData: (data: unknown) => boolean;
}

/** The tool's own arguments: what the diagnostic receives. */
function ownArgs(args: object): Record<string, unknown> {
  const own: Record<string, unknown> = { ...args };
  delete own.target;
  delete own.view;
  delete own.page;
  return own;
}

/** What a cursor is bound to besides the tool: target and the tool's own arguments. */
function argsKey(args: FleetArgs): string {
  const keyed: Record<string, unknown> = { ...args };
  delete keyed.view;
  delete keyed.page;
  return canonicalJson(jsonValue(keyed));
}

function bytes(v: unknown): number {
  return Buffer.byteLength(JSON.stringify(v), "utf8");
}

export async function runFleetTool<T>(call: FleetToolCall<T>): Promise<ToolOutcome> {
  const raw = call.rawArgs;
  if (typeof raw === "object" && raw !== null && (raw as { page?: unknown }).page !== undefined) return answerPage(call);
  const run = await runHostTool({
    broker: call.broker,
    tool: call.tool,
    schema: call.schema,
    rawArgs: raw,
    caller: call.caller,
    work: (host, args, ctx) => call.work(host, ownArgs(args), ctx),
  });
  if (!run.ok) return run.outcome;
  const settings = call.broker.config.current.settings;
  const view = run.args.view ?? (run.output.results.length > AUTO_SUMMARY_ABOVE ? "summary" : "hosts");
  if (view === "hosts") return { structured: capOutput(run.output, settings.maxOutputBytes, call.isValidData) as unknown as Record<string, unknown> };
  return { structured: summaryAnswer(call, run.output, run.callId, argsKey(run.args), Math.min(SUMMARY_MAX_BYTES, settings.maxOutputBytes)) };
}

/** The summary view of a call's results; they are kept for paging. */
function summaryAnswer<T>(call: FleetToolCall<T>, output: HostResults<T>, callId: string, args: string, maxBytes: number): Record<string, unknown> {
  const id = call.answers.put({ callId, tool: call.tool.name, args, caller: callerKey(call.caller), output: output as HostResults });
  const page = id === undefined ? undefined : encodeCursor(id, 0);
  const overheadBytes = bytes({ summary: output.summary, fleet: {}, ...(page !== undefined && { page }) });
  const fleet = summariseFleet(call.def, output.results as HostResult[], { maxBytes, overheadBytes });
  return { summary: output.summary, fleet, ...(page !== undefined && { page }) };
}

/** One page of a stored answer's per-host results. */
async function answerPage<T>(call: FleetToolCall<T>): Promise<ToolOutcome> {
  const { broker, tool } = call;
  let audited: Record<string, unknown> = {};
  return runLocalTool(
    broker,
    tool.name,
    call.schema,
    call.rawArgs,
    call.caller,
    (args) => {
      const found = call.answers.resolve(args.page!, { tool: tool.name, args: argsKey(args), caller: callerKey(call.caller) });
      if (!found.ok) return { error: `invalid arguments for ${tool.name}: page: ${found.problem.message} (${found.problem.code})` };
      const config = broker.config.current;
      const { results, next } = pageOf(found.answer, found.offset, Math.min(PAGE_MAX_BYTES, config.settings.maxOutputBytes));
      // Policy may have changed since the call: each host shown is decided again.
      const shown = results.map((r): HostResult => {
        const host = config.hosts.find((h) => h.name === r.host);
        const d = host ? decide(config.policy, tool, host, principalOf(config, call.caller)) : undefined;
        if (d?.allowed) return r;
        return { host: r.host, ok: false, error: { code: "POLICY_DENIED", message: d?.reason ?? `${r.host} is no longer in the inventory` } };
      });
      audited = { pageOf: found.answer.callId, offset: found.offset, hosts: shown.map((r) => r.host) };
      const output = { results: shown, summary: summarize(shown), ...(next !== undefined && { page: encodeCursor(found.answer.id, next) }) };
      return { structured: capOutput(output, config.settings.maxOutputBytes, call.isValidData) as unknown as Record<string, unknown> };
    },
    () => audited,
  );
}
