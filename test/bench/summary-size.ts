// issue 14 part 3: the summary view's size and cost on generated fleets (the same generator as the
// unit tests, test/broker/helpers/fleet-gen.ts: get_load answers with hot, failed and denied hosts),
// at 1000 and 10,000 hosts — the bytes of the structured content a model reads, and the time the
// broker's thread spends summarising (the results cached for paging included).
import { AnswerStore, callerKey, encodeCursor } from "../../broker/src/mcp/answers";
import { fleetDefOf } from "../../broker/src/mcp/fleet-shape";
import { summariseFleet } from "../../broker/src/mcp/fleet-summary";
import { summarize } from "../../broker/src/mcp/host-results";
import { getLoad } from "../../proto/catalog/diagnostics/system";
import { loadFleet } from "../broker/helpers/fleet-gen";
import { stats, type Stats } from "./util";

const RUNS = 7;

export interface SummarySizeRow {
  hosts: number;
  /** JSON bytes of {summary, fleet, page}: the structured content of the answer. */
  bytes: number;
  /** Hosts named among the outliers (failed, denied, apart) and those only counted. */
  named: number;
  counted: number;
  /** Summarising plus keeping the results for paging, ms. */
  time: Stats;
}

export function measureSummarySizes(): SummarySizeRow[] {
  return [1000, 10_000].map((n) => {
    const fleet = loadFleet(n);
    const output = { results: fleet.results, summary: summarize(fleet.results) };
    const samples: number[] = [];
    let answer: Record<string, unknown> = {};
    let named = 0;
    let counted = 0;
    for (let i = 0; i < RUNS; i++) {
      const store = new AnswerStore();
      const t = performance.now();
      const id = store.put({ callId: "bench", tool: "get_load", args: '{"target":"*"}', caller: callerKey({ transport: "stdio" }), output })!;
      const page = encodeCursor(id, 0);
      const overheadBytes = Buffer.byteLength(JSON.stringify({ summary: output.summary, fleet: {}, page }));
      const s = summariseFleet(fleetDefOf(getLoad), fleet.results, { maxBytes: 8192, overheadBytes });
      samples.push(performance.now() - t);
      answer = { summary: output.summary, fleet: s, page };
      named = s.outliers.errors.reduce((k, e) => k + e.hosts.length, 0) + s.outliers.apart.length;
      counted = (s.omitted?.errorHosts ?? 0) + (s.omitted?.apartHosts ?? 0);
    }
    return { hosts: n, bytes: Buffer.byteLength(JSON.stringify(answer)), named, counted, time: stats(samples.slice(1)) };
  });
}
