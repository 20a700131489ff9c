// The full diagnostic catalog, in the order tools are listed.
import { healthDiagnostics } from "./health";
import { logsDiagnostics } from "./logs";
import { networkDiagnostics } from "./network";
import { servicesDiagnostics } from "./services";
import { systemDiagnostics } from "./system";

export const diagnostics = [
  ...systemDiagnostics,
  ...servicesDiagnostics,
  ...networkDiagnostics,
  ...logsDiagnostics,
  ...healthDiagnostics,
] as const;

export type AnyDiagnostic = (typeof diagnostics)[number];

export { healthDiagnostics, logsDiagnostics, networkDiagnostics, servicesDiagnostics, systemDiagnostics };
