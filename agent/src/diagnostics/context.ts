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

/** A handler's failure that the caller should see as-is (mapped to a gRPC status by the server). */
export class DiagnosticError extends Error {
  constructor(
    readonly code: "NOT_FOUND" | "FAILED_PRECONDITION" | "INVALID_ARGUMENT" | "PERMISSION_DENIED" | "UNAVAILABLE" | "DEADLINE_EXCEEDED" | "RESOURCE_EXHAUSTED",
    message: string,
  ) {
    super(message);
    this.name = "DiagnosticError";
  }
}

type Handler<D> = (input: InputOf<D>, ctx: DiagnosticContext) => Promise<OutputOf<D>>;

/** One handler per definition of a catalog group, keyed by tool name; the types force completeness. */
export type HandlerMap<Defs extends readonly DiagnosticDef<string, z.ZodObject, z.ZodType>[]> = {
  [D in Defs[number] as D["name"]]: Handler<D>;
};
