// Entry point of the operator agent bundle (dist/agent/hostward-operator.cjs): ActionsService,
// ActionRecordsService (the helper's ledger) and health. It never imports diagnostic code (test/agent/bundle-guard.test.ts).
import { hashableActions } from "../../proto/catalog/actions/index";
import { catalogHash } from "../../proto/catalog/hash";
import { addActionRecordsService } from "./server/action-records-service";
import { addActionsService } from "./server/actions-service";
import { runAgent } from "./server/run-agent";

runAgent({
  role: "operator",
  serviceName: "hostward.v1.ActionsService",
  // Computed by scripts/build.mjs when bundled (see run-agent.ts BUILT_CATALOG_HASH).
  catalogHash: () => catalogHash(hashableActions()),
  register: (server, ctx) => {
    addActionsService(server, { helper: ctx.config.helper, limit: ctx.limit, logger: ctx.logger });
    addActionRecordsService(server, { helper: ctx.config.helper, limit: ctx.limit });
  },
});
