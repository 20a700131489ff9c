// The full diagnostic catalog, in the order tools are listed.
import { healthDiagnostics } from "./health";
import { journalDiagnostics } from "./journal";
import { logsDiagnostics } from "./logs";
import { networkDiagnostics } from "./network";
import { servicesDiagnostics } from "./services";
import { systemDiagnostics } from "./system";

export const diagnostics = [
  ...systemDiagnostics,
  ...servicesDiagnostics,
  ...networkDiagnostics,
  ...journalDiagnostics,
  ...logsDiagnostics,
  ...healthDiagnostics,
] as const;
