import { afterAll, beforeAll, expect, it } from "vitest";
import { startPostgres, type TestPostgres } from "../support/postgres";
import { openPostgresState } from "../../broker/src/state/postgres/index";
let pgs: TestPostgres;
beforeAll(async () => { pgs = await startPostgres(); });
afterAll(() => pgs?.stop());
it("smoke", async () => {
  const db = await pgs.newDatabase();
  const s = openPostgresState({ url: db.brokerUrl });
  await s.audit.append({ event: "broker.start" }, { event: "tool.call", tool: "x" });
  await s.audit.append({ event: "broker.stop" });
  const t = await s.audit.tail(10, 1e6);
  expect(t.records.map((r) => r.seq)).toEqual([1, 2, 3]);
  await s.close();
});
