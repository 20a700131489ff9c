// Renders the generated half of proto/hostward/v1/actions.proto from the action catalog: one
// `<Pascal>Request` message per action (its parameters in the definition's order, then the
// approval) and the ActionsService with one server-streaming RPC per action. Run through
// scripts/gen-actions-proto.mjs (`npm run gen`); `npm run check` fails when the file is stale.
import { z } from "zod";
import { actions } from "../proto/catalog/actions/index";
import { rpcName } from "../proto/catalog/define";
import type { ActionDef } from "../proto/catalog/define-action";

export const MARKER = "// ---- generated from proto/catalog/actions by scripts/gen-actions-proto.mjs: do not edit below ----";

type JsonSchema = { type?: string; items?: JsonSchema; enum?: unknown[]; maximum?: number; description?: string };

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function protoType(name: string, s: JsonSchema, action: string): string {
  if (s.enum || s.type === "string") return "string";
  if (s.type === "boolean") return "bool";
  if (s.type === "integer") return (s.maximum ?? 0) > 2 ** 31 - 1 ? "int64" : "int32";
  if (s.type === "array" && s.items) return `repeated ${protoType(name, s.items, action)}`;
  throw new Error(`${action}.${name}: no proto type for JSON Schema ${JSON.stringify(s)}`);
}

function message(def: ActionDef): string[] {
  const schema = z.toJSONSchema(def.params, { io: "output" }) as { properties?: Record<string, JsonSchema> };
  const lines = [`// ${def.name}: ${def.title}.`, `message ${rpcName(def.name)}Request {`];
  let n = 1;
  for (const [name, s] of Object.entries(schema.properties ?? {})) {
    const doc = s.enum ? `  // one of ${s.enum.join(", ")}` : "";
    lines.push(`  ${protoType(name, s, def.name)} ${snake(name)} = ${n};${doc}`);
    n += 1;
  }
  lines.push(`  Approval approval = ${n};`, "}");
  return lines;
}

export function renderActionsProto(): string {
  const defs = actions as readonly ActionDef[];
  return [
    MARKER,
    "",
    ...defs.flatMap((d) => [...message(d), ""]),
    "service ActionsService {",
    ...defs.map((d) => `  rpc ${rpcName(d.name)}(${rpcName(d.name)}Request) returns (stream ActionEvent);`),
    "}",
    "",
  ].join("\n");
}
