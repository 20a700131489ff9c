// Entry point of the reader agent bundle (dist/agent/hostward-reader.cjs): DiagnosticsService
// and health, nothing else. It never imports action code (test/agent/bundle-guard.test.ts).
import { diagnostics } from "../../proto/catalog/diagnostics/index";
import { catalogHash } from "../../proto/catalog/hash";
import { addDiagnosticsService } from "./server/diagnostics-service";
import { compilePatterns } from "./redact";
import { runAgent } from "./server/run-agent";

runAgent({
  role: "reader",
  serviceName: "hostward.v1.DiagnosticsService",
  // Computed by scripts/build.mjs when bundled (see run-agent.ts BUILT_CATALOG_HASH).
  catalogHash: () => catalogHash(diagnostics),
  checkConfig: (config) => {
    try {
      compilePatterns(config.processes.redactPatterns);
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  },
  register: (server, ctx) => addDiagnosticsService(server, { config: ctx.config, agent: ctx.agent, limit: ctx.limit }),
});
