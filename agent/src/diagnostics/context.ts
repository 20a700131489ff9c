// What a diagnostic handler receives besides its validated input.
import type { z } from "zod";
import type { DiagnosticDef, InputOf, OutputOf } from "../../../proto/catalog/define";
import type { AgentConfig } from "../config";

export interface DiagnosticContext {
  config: AgentConfig;
  /** Aborted when the caller's deadline passes or it cancels. */
  signal: AbortSignal;
  /** The agent's own facts, for get_agent_info. */
  agent: { version: string; role: "reader" | "operator"; startedAt: number; catalogHash: string };
}

// The error a handler throws for the caller to see (its own module: the root helper shares the parsers that throw it).
export { DiagnosticError } from "../diagnostic-error";

type Handler<D> = (input: InputOf<D>, ctx: DiagnosticContext) => Promise<OutputOf<D>>;

/** One handler per definition of a catalog group, keyed by tool name; the types force completeness. */
export type HandlerMap<Defs extends readonly DiagnosticDef<string, z.ZodObject, z.ZodType>[]> = {
  [D in Defs[number] as D["name"]]: Handler<D>;
};
