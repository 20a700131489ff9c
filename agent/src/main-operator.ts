// Entry point of the operator agent bundle (dist/agent/hostward-operator.cjs): ActionsService
// and health. It never imports diagnostic code (test/agent/bundle-guard.test.ts).
import { catalogHash } from "../../proto/catalog/hash";
import { addActionsService } from "./server/actions-service";
import { runAgent } from "./server/run-agent";

runAgent({
  role: "operator",
  serviceName: "hostward.v1.ActionsService",
  // The action catalog arrives with the Actions issue; until then the operator serves none.
  catalogHash: () => catalogHash([]),
  register: (server) => addActionsService(server),
});
