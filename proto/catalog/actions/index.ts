// The full action catalog, in the order tools and docs list it. Each entry's RPC is
// ActionsService/<PascalCase name> (restart_service → RestartService).
import { actionResult, type ActionDef } from "../define-action";
import type { HashableDefinition } from "../hash";
import { containerActions } from "./containers";
import { diskActions } from "./disk";
import { packageActions } from "./packages";
import { serviceActions } from "./services";
import { systemActions } from "./system";

export const actions = [...serviceActions, ...containerActions, ...systemActions, ...diskActions, ...packageActions] as const;

type AnyAction = (typeof actions)[number];
export type ActionName = AnyAction["name"];

/** The definition named `name`, or undefined (for names that arrive from outside). */
export function findAction(name: string): ActionDef | undefined {
  return (actions as readonly ActionDef[]).find((a) => a.name === name);
}

/** What the operator's catalog hash covers: each action's name, parameters and the common result. */
export function hashableActions(): HashableDefinition[] {
  return actions.map((a) => ({ name: a.name, input: a.params, output: actionResult }));
}

export * from "./containers";
export * from "./disk";
export * from "./packages";
export * from "./services";
export * from "./system";
