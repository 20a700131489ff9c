// Type-level proof that every catalog input schema and its proto request message describe the same
// thing, both ways: same field names, same optionality, same base types. String enums in zod are
// widened to `string` first (proto3 has no string enums; the catalog narrows them).
// Compiled by test/contract/drift.test.ts; a mismatch is a compile error naming the tool.
import type { z } from "zod";
import type { DiagnosticsServiceService } from "../../proto/gen/hostward/v1/diagnostics";
import type { diagnostics } from "../../proto/catalog/diagnostics/index";

export type Equals<X, Y> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;

type WidenValue<V> = V extends string ? string : V extends number ? number : V extends boolean ? boolean : V extends readonly (infer E)[] ? WidenValue<E>[] : V;
// zod 4 types `z.strictObject({})` as Record<string, never>; ts-proto types an empty message as {}.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- {} is the type ts-proto gives an empty message
export type Widen<T> = string extends keyof T ? {} : { [K in keyof T]: WidenValue<T[K]> };

type SnakeToCamel<S extends string> = S extends `${infer H}_${infer T}` ? `${H}${Capitalize<SnakeToCamel<T>>}` : S;

type Service = typeof DiagnosticsServiceService;
export type ProtoRequest<N extends string> = SnakeToCamel<N> extends keyof Service
  ? Parameters<Service[SnakeToCamel<N>]["requestSerialize"]>[0]
  : { __missing_rpc_for: N };

export type Mismatches<Defs extends readonly { name: string; input: z.ZodType }[]> = {
  [D in Defs[number] as Equals<Widen<z.output<D["input"]>>, ProtoRequest<D["name"]>> extends true ? never : D["name"]]: {
    catalog: Widen<z.output<D["input"]>>;
    proto: ProtoRequest<D["name"]>;
  };
};

/** Names of tools whose catalog input and proto request differ; must be `never`. */
export type DriftingTools = keyof Mismatches<typeof diagnostics>;

// If this line fails to compile, the error names the drifting tools.
export const noDrift: [DriftingTools] extends [never] ? true : DriftingTools = true;

/** Names of service methods that have no catalog entry; must be `never`. */
type CatalogKeys = SnakeToCamel<(typeof diagnostics)[number]["name"]>;
export type UncataloguedRpcs = Exclude<keyof Service, CatalogKeys>;
export const noUncatalogued: [UncataloguedRpcs] extends [never] ? true : UncataloguedRpcs = true;
