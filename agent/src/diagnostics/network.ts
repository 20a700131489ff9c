// network diagnostics.
import { networkDiagnostics } from "../../../proto/catalog/diagnostics/network";
import type { HandlerMap } from "./context";

// TODO(helper): handlers for this group.
export const networkHandlers: HandlerMap<typeof networkDiagnostics> = {};
