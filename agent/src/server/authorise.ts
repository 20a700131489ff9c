// The single authorisation rule: the role a call needs comes from the service its method belongs
// to, never from the handler. Applied to every call by the interceptor (interceptor.ts).
import type { Role } from "../logging";
import type { CallerIdentity } from "./caller";

/** Services and the role each requires; "any" = any caller with a valid role certificate. */
const SERVICE_ROLES: Readonly<Record<string, Role | "any">> = Object.freeze({
  "hostward.v1.DiagnosticsService": "reader",
  "hostward.v1.ActionsService": "operator",
  "hostward.v1.ActionRecordsService": "operator",
  "grpc.health.v1.Health": "any",
});

/** "/hostward.v1.DiagnosticsService/GetLoad" → {service: "hostward.v1.DiagnosticsService", method: "GetLoad"}. */
export function splitPath(path: string): { service: string; method: string } {
  const match = /^\/([^/]+)\/([^/]+)$/.exec(path);
  return match ? { service: match[1] as string, method: match[2] as string } : { service: "", method: path };
}

export type Decision = { allowed: true } | { allowed: false; reason: string };

export function authorise(service: string, identity: CallerIdentity): Decision {
  const required = SERVICE_ROLES[service];
  if (required === undefined) return { allowed: false, reason: `no role may call service ${service}` };
  if (identity.role === null) return { allowed: false, reason: identity.refusal ?? "caller has no role" };
  if (required !== "any" && identity.role !== required) {
    return { allowed: false, reason: `role ${identity.role} may not call ${service} (it needs role ${required})` };
  }
  return { allowed: true };
}
