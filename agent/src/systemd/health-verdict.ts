// Pure verdict of check_service_health from what systemd, the journal and the kernel reported.
import { type ShowBlock, text } from "./show";
import type { ServiceStatus } from "./show";

export type Verdict = "healthy" | "degraded" | "failed" | "inactive";
export type Relation = "requires" | "wants" | "bindsTo";

export interface FailedDependency {
  unit: string;
  relation: Relation;
  activeState: string;
  result: string | null;
}

const MAX_DEPENDENCIES = 100;
// Names a dependency list may hold that can be passed to systemctl: "-.mount"/"-.slice" (the
// root mount and slice) start with "-", which never goes into an argv slot, so they are skipped.
const DEP_NAME = /^[A-Za-z0-9:_.@\\][A-Za-z0-9:_.@\\-]{0,255}$/;

/** The dependencies to check, each with the strongest relation it appears under. */
export function dependenciesOf(status: ServiceStatus): Map<string, Relation> {
  const deps = new Map<string, Relation>();
  const add = (names: string[], relation: Relation) => {
    for (const n of names) if (DEP_NAME.test(n) && !deps.has(n) && deps.size < MAX_DEPENDENCIES) deps.set(n, relation);
  };
  add(status.bindsTo, "bindsTo");
  add(status.requires, "requires");
  add(status.wants, "wants");
  return deps;
}

/** Dependencies whose ActiveState is failed, from a `systemctl show` of them. */
export function failedDependencies(deps: Map<string, Relation>, blocks: readonly ShowBlock[]): FailedDependency[] {
  const out: FailedDependency[] = [];
  for (const b of blocks) {
    const id = text(b, "Id");
    const relation = id === null ? undefined : deps.get(id);
    if (id === null || relation === undefined || text(b, "ActiveState") !== "failed") continue;
    out.push({ unit: id, relation, activeState: "failed", result: text(b, "Result") });
  }
  return out;
}

export interface VerdictInput {
  status: ServiceStatus;
  recentErrors: number;
  since: string;
  failedDependencies: readonly FailedDependency[];
}

export function healthVerdict({ status, recentErrors, since, failedDependencies: failed }: VerdictInput): { verdict: Verdict; reasons: string[] } {
  const reasons: string[] = [];
  let verdict: Verdict;
  const result = status.result && status.result !== "success" ? ` (result: ${status.result})` : "";
  if (status.loadState === "masked") {
    verdict = "inactive";
    reasons.push("the unit is masked");
  } else if (status.activeState === "failed") {
    verdict = "failed";
    reasons.push(`the unit is failed${result}`);
  } else if (status.activeState === "inactive") {
    verdict = "inactive";
    reasons.push(`the unit is not running (inactive/${status.subState})${result}`);
  } else if (status.activeState === "active" || status.activeState === "reloading") {
    verdict = "healthy";
  } else {
    verdict = "degraded";
    reasons.push(`the unit is ${status.activeState} (${status.subState})`);
  }
  if (status.subState === "auto-restart") reasons.push("the unit is waiting to be restarted after a failure");
  if (status.loadState !== "loaded" && status.loadState !== "masked") reasons.push(`the unit file did not load cleanly (LoadState=${status.loadState})`);
  for (const d of failed) {
    const how = d.relation === "wants" ? "wanted" : d.relation === "bindsTo" ? "bound" : "required";
    reasons.push(`${how} unit ${d.unit} is failed${d.result && d.result !== "success" ? ` (result: ${d.result})` : ""}`);
  }
  if (recentErrors > 0) reasons.push(`${recentErrors} journal entr${recentErrors === 1 ? "y" : "ies"} at priority err or worse since ${since}`);
  if ((status.restarts ?? 0) > 0) reasons.push(`restarted automatically ${status.restarts} time(s) since it was last started`);
  if (verdict === "healthy" && reasons.length > 0) verdict = "degraded";
  return { verdict, reasons };
}
