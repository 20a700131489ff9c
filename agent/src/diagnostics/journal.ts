// Journal-based log diagnostics.
import { journalDiagnostics } from "../../../proto/catalog/diagnostics/journal";
import type { HandlerMap } from "./context";

// TODO(helper): handlers for this group.
export const journalHandlers: HandlerMap<typeof journalDiagnostics> = {};
