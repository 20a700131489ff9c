// PLACEHOLDER (not committed): replaced by the runbooks branch.
export type RunbookArgKind = "host" | "tag" | "target" | "unit" | "path" | "url" | "domain" | "text";
export interface RunbookArgument { name: string; description: string; required: boolean; kind: RunbookArgKind; hostArgument?: string }
export interface RunbookDef { name: string; title: string; description: string; arguments: readonly RunbookArgument[] }
export const runbooks: readonly RunbookDef[] = [
  { name: "unit_failed", title: "A unit failed", description: "x", arguments: [{ name: "host", description: "h", required: true, kind: "host" }, { name: "unit", description: "u", required: true, kind: "unit", hostArgument: "host" }] },
];
export function findRunbook(name: string): RunbookDef | undefined { return runbooks.find((r) => r.name === name); }
export function parseRunbookArgs(def: RunbookDef, raw: Record<string, string> | undefined): { ok: true; args: Record<string, string> } | { ok: false; problems: string[] } {
  const args = raw ?? {};
  const missing = def.arguments.filter((a) => a.required && !args[a.name]).map((a) => `${a.name}: required`);
  return missing.length ? { ok: false, problems: missing } : { ok: true, args };
}
export function renderRunbook(def: RunbookDef, args: Record<string, string>): string { return `# ${def.title}\n${JSON.stringify(args)}`; }
