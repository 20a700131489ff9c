// Type-level proof that every action's params schema and its proto request message (minus the
// `approval` field every action request carries) describe the same thing, both ways, and that every
// ActionsService RPC has an action definition. Compiled by test/contract/actions-drift.test.ts (and
// by `tsc -p .`); a mismatch is a compile error naming the action.
import { z } from "zod";
import type { ActionsServiceService } from "../../proto/gen/hostward/v1/actions";
import type { actions } from "../../proto/catalog/actions/index";
import type { Equals, Widen } from "./drift.types";

type SnakeToCamel<S extends string> = S extends `${infer H}_${infer T}` ? `${H}${Capitalize<SnakeToCamel<T>>}` : S;

type Service = typeof ActionsServiceService;
export type ActionRequest<N extends string> = SnakeToCamel<N> extends keyof Service
  ? Omit<Parameters<Service[SnakeToCamel<N>]["requestSerialize"]>[0], "approval">
  : { __missing_rpc_for: N };

type Mismatches<Defs extends readonly { name: string; params: z.ZodType }[]> = {
  [D in Defs[number] as Equals<Widen<z.output<D["params"]>>, ActionRequest<D["name"]>> extends true ? never : D["name"]]: {
    catalog: Widen<z.output<D["params"]>>;
    proto: ActionRequest<D["name"]>;
  };
};

/** Names of actions whose params and proto request differ; must be `never`. */
export type DriftingActions = keyof Mismatches<typeof actions>;
// If this line fails to compile, the error names the drifting actions.
export const noDrift: [DriftingActions] extends [never] ? true : DriftingActions = true;

/** ActionsService methods with no action definition; must be `never`. */
export type UncataloguedRpcs = Exclude<keyof Service, SnakeToCamel<(typeof actions)[number]["name"]>>;
export const noUncatalogued: [UncataloguedRpcs] extends [never] ? true : UncataloguedRpcs = true;

// Negative controls, in this file so the main tsconfig compiles them: each schema differs from its
// proto request in one way, and @ts-expect-error fails the build if the check stops catching it.
const optionalUnit = z.strictObject({ unit: z.string().optional() });
// @ts-expect-error proto ServiceActionRequest has a required `unit`
export const negOptional: Equals<Widen<z.output<typeof optionalUnit>>, ActionRequest<"restart_service">> = true;
const extraField = z.strictObject({ delaySeconds: z.number(), force: z.boolean() });
// @ts-expect-error proto RebootRequest has no `force`
export const negExtra: Equals<Widen<z.output<typeof extraField>>, ActionRequest<"reboot_system">> = true;
const wrongType = z.strictObject({ name: z.number() });
// @ts-expect-error proto ContainerActionRequest's `name` is a string
export const negType: Equals<Widen<z.output<typeof wrongType>>, ActionRequest<"restart_container">> = true;
const missingField = z.strictObject({});
// @ts-expect-error proto RebootRequest has `delaySeconds`
export const negMissing: Equals<Widen<z.output<typeof missingField>>, ActionRequest<"reboot_system">> = true;
