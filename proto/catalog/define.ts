// The catalog's building blocks. One definition per diagnostic drives: the agent's validation
// and handler wiring, the broker's MCP tool (name, description, schemas, annotations), the
// policy groups and the generated docs/catalog.md. See ARCHITECTURE.md "How to add a diagnostic".
import { z } from "zod";

export type DiagnosticGroup = "system" | "services" | "network" | "logs" | "health";

interface DiagnosticExample<I extends z.ZodType> {
  description: string;
  input: z.input<I>;
}

export interface DiagnosticDef<
  N extends string = string,
  I extends z.ZodObject = z.ZodObject,
  O extends z.ZodType = z.ZodType,
> {
  /** snake_case MCP tool name; the RPC is its PascalCase form (get_load → GetLoad). */
  name: N;
  group: DiagnosticGroup;
  title: string;
  /** One or two sentences for the model: what it returns and when to use it. */
  summary: string;
  /** Strict object whose output type equals the proto request type (test/contract/drift). */
  input: I;
  /** Shape of the structured result; the agent and the broker both validate against it. */
  output: O;
  /** The bounds this diagnostic enforces, stated for the reader of the docs and the model. */
  limits: string[];
  /** True when the diagnostic reaches beyond the host itself (network probes). */
  openWorld?: boolean;
  /**
   * Output fields that differ from host to host or call to call without saying anything about the
   * host (process ids): a fleet summary neither groups hosts by them, nor spreads them, nor compares
   * them (broker/src/mcp/fleet-shape.ts). Dotted paths, `[]` for an array's elements
   * ("sockets[].pid"). Times (fields described as ISO 8601) are treated so without being listed.
   */
  volatile?: readonly string[];
  examples: DiagnosticExample<I>[];
}

/**
 * What a catalog file writes: a definition whose schemas are functions that build them. The
 * definition built from it has them as properties, built on first read and kept: a process builds
 * only the schemas it uses (an idle agent none; the agent builds a diagnostic's at its first call).
 */
export interface DiagnosticSpec<N extends string, I extends z.ZodObject, O extends z.ZodType> extends Omit<DiagnosticDef<N, I, O>, "input" | "output"> {
  input: () => I;
  output: () => O;
}

export function defineDiagnostic<N extends string, I extends z.ZodObject, O extends z.ZodType>(
  spec: DiagnosticSpec<N, I, O>,
): DiagnosticDef<N, I, O> {
  const { input, output, ...rest } = spec;
  let builtInput: I | undefined;
  let builtOutput: O | undefined;
  return Object.defineProperties(rest, {
    input: { enumerable: true, get: () => (builtInput ??= input()) },
    output: { enumerable: true, get: () => (builtOutput ??= output()) },
  }) as DiagnosticDef<N, I, O>;
}

/** get_load → getLoad: the key of the method in the generated grpc-js service definition. */
export function methodKey(name: string): string {
  return name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** get_load → GetLoad: the RPC name in the .proto service. */
export function rpcName(name: string): string {
  const k = methodKey(name);
  return k.charAt(0).toUpperCase() + k.slice(1);
}

export type InputOf<D> = D extends DiagnosticDef<string, infer I, z.ZodType> ? z.output<I> : never;
export type OutputOf<D> = D extends DiagnosticDef<string, z.ZodObject, infer O> ? z.output<O> : never;
