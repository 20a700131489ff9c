// What subscribed MCP clients are told, from two sources: a configuration reload (the resource
// list and the inventory may have changed) and the state store's change notices (an action request
// or roll-out was proposed, approved, rejected, run — by this broker, another one, or `hostward
// approve` in a terminal). A notice means "read again"; nothing is sent in it.
import type { Broker } from "../broker";
import { RESOURCE_URIS } from "./resources";
import type { ChangeEvent, ChangeFeed } from "./sdk";

export function brokerChangeFeed(broker: Broker): ChangeFeed {
  const listeners = new Set<(event: ChangeEvent) => void>();
  let stopState: (() => void) | undefined;
  const emit = (event: ChangeEvent) => {
    for (const l of listeners) {
      try {
        l(event);
      } catch (err) {
        broker.logger.warn({ err: (err as Error).message }, "a change listener failed");
      }
    }
  };
  broker.config.onChange(() => {
    emit({ kind: "resources_list_changed" });
    emit({ kind: "resource_updated", uri: RESOURCE_URIS.inventory });
  });
  return {
    subscribe(listener) {
      listeners.add(listener);
      stopState ??= broker.changes.watch((change) => {
        if (change.kind === "action") {
          emit({ kind: "resource_updated", uri: RESOURCE_URIS.pendingActions });
          emit({ kind: "resource_updated", uri: RESOURCE_URIS.action(change.id) });
        } else emit({ kind: "resource_updated", uri: RESOURCE_URIS.pendingRollouts });
      });
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && stopState) {
          stopState();
          stopState = undefined;
        }
      };
    },
  };
}
