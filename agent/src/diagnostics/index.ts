// Every diagnostic handler, keyed by tool name. The reader entry point imports this; the operator
// entry point never does (test/agent/bundle-guard.test.ts).
import { healthHandlers } from "./health";
import { journalHandlers } from "./journal";
import { logsHandlers } from "./logs";
import { networkHandlers } from "./network";
import { servicesHandlers } from "./services";
import { systemHandlers } from "./system";

export const diagnosticHandlers = {
  ...systemHandlers,
  ...servicesHandlers,
  ...networkHandlers,
  ...journalHandlers,
  ...logsHandlers,
  ...healthHandlers,
};
