// services diagnostics.
import { servicesDiagnostics } from "../../../proto/catalog/diagnostics/services";
import type { HandlerMap } from "./context";

// TODO(helper): handlers for this group.
export const servicesHandlers: HandlerMap<typeof servicesDiagnostics> = {};
