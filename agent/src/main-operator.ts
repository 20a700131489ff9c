// Entry point of the operator agent bundle (dist/agent/hostward-operator.cjs): ActionsService
// and health. It never imports diagnostic code (test/agent/bundle-guard.test.ts).
import { actions } from "../../proto/catalog/actions/index";
import { actionResult } from "../../proto/catalog/define-action";
import { catalogHash } from "../../proto/catalog/hash";
import { addActionsService } from "./server/actions-service";
import { runAgent } from "./server/run-agent";

runAgent({
  role: "operator",
  serviceName: "hostward.v1.ActionsService",
  catalogHash: () => catalogHash(actions.map((a) => ({ name: a.name, input: a.params, output: actionResult }))),
  register: (server, ctx) => addActionsService(server, { helper: ctx.config.helper, limit: ctx.limit, logger: ctx.logger }),
});
