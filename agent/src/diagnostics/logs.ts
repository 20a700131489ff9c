// logs diagnostics.
import { logsDiagnostics } from "../../../proto/catalog/diagnostics/logs";
import type { HandlerMap } from "./context";

// TODO(helper): handlers for this group.
export const logsHandlers: HandlerMap<typeof logsDiagnostics> = {};
