// A runner that throws AFTER the host's ledger recorded the start (helper/run.ts): the action did
// start, so it must end as a FAILED result, recorded on the ledger and sent to the caller — never
// as a refusal, which would leave the ledger entry open and tell the broker that nothing ran.
// The real helper (agent/src/helper/run.ts) runs in this process, in direct mode, with a real
// approval, allowlist, nonce store and ledger; only the runner of restart_service is replaced, by
// one that prints a line and then throws a HelperRefusal (no runner of the catalog does that
// today: the reboot runner, which once did, returns failed(...) instead).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { HELPER_EXIT } from "../../agent/src/helper/exit-codes";
import { ledgerDir, type LedgerEntry } from "../../agent/src/helper/ledger";
import { runHelper } from "../../agent/src/helper/run";
import { approve, helperRequest, makeApprover, makeHost, ROOT, type Approver, type HostDirs } from "./support";

vi.mock("../../agent/src/helper/actions", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../agent/src/helper/actions")>();
  const { HelperRefusal } = await import("../../agent/src/helper/exit-codes");
  return {
    ...real,
    runnerOf: (name: string) =>
      name === "restart_service"
        ? async (_params: Record<string, unknown>, ctx: { emit(line: string): void }) => {
            ctx.emit("pre-check: about to refuse");
            throw new HelperRefusal("NOT_ALLOWLISTED", "unit nginx.service is not allowed after all");
          }
        : real.runnerOf(name),
  };
});

let alice: Approver;
let host: HostDirs;

beforeAll(() => {
  alice = makeApprover("MEDIUM");
  host = makeHost([alice]);
});

/** runHelper in this process, as main-helper.ts calls it, with the request on stdin. */
async function helperInProcess(input: string): Promise<{ code: number; lines: Record<string, unknown>[]; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (c: Buffer) => (out += c.toString()));
  stderr.on("data", (c: Buffer) => (err += c.toString()));
  const euid = process.geteuid?.() ?? 0;
  const code = await runHelper({
    invocation: { args: [], execArgv: [], env: host.env, euid, uid: process.getuid?.() ?? 0, self: { path: join(ROOT, "dist/agent/hostward-action.cjs"), uid: euid, mode: 0o100755, dirUid: euid, dirMode: 0o40755 } },
    stdin: Readable.from([input]),
    stdout,
    stderr,
    bundleDir: join(ROOT, "dist", "agent"),
  });
  return { code, lines: out.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>), stderr: err };
}

describe("a runner that throws a refusal after the start", () => {
  it("ends FAILED: the result says so, the ledger records the end, the exit code is 'failed', not a refusal's", async () => {
    const id = "act-7e57e57e57e5";
    const params = { unit: "nginx.service" };
    const r = await helperInProcess(helperRequest("restart_service", params, approve(alice, { id, action: "restart_service", params, impact: "MEDIUM" })));
    expect(r.code, r.stderr).toBe(HELPER_EXIT.failed);
    expect(r.lines.some((l) => l.type === "refused"), JSON.stringify(r.lines)).toBe(false);
    expect(r.lines.at(-1)).toMatchObject({ type: "result", verdict: "FAILED", reason: "the action was refused after it started (NOT_ALLOWLISTED): unit nginx.service is not allowed after all" });
    expect(r.lines.filter((l) => l.type === "output").map((l) => l.line)).toEqual(["pre-check: about to refuse"]);
    const entry = JSON.parse(readFileSync(join(ledgerDir(host.stateDir), `${id}.json`), "utf8")) as LedgerEntry;
    expect(entry).toMatchObject({ requestId: id, action: "restart_service", state: "ENDED", verdict: "FAILED", reason: expect.stringContaining("refused after it started (NOT_ALLOWLISTED)"), output: ["pre-check: about to refuse"] });
    expect(r.stderr).toMatch(/"event":"executed"/);
  });
});
