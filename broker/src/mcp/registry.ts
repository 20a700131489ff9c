// Collects ToolSpecs from the per-family registrars (registerX(registry, broker)).
import type { ToolSpec } from "./sdk";

export class ToolRegistry {
  readonly #tools = new Map<string, ToolSpec>();

  add(spec: ToolSpec): void {
    if (this.#tools.has(spec.name)) throw new Error(`tool ${spec.name} is registered twice`);
    this.#tools.set(spec.name, spec);
  }

  get tools(): ToolSpec[] {
    return [...this.#tools.values()];
  }
}
