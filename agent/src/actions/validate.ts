// From a decoded ActionsService request to the helper's request: the parameters (every field but
// `approval`) are validated with the catalog's schema, as the broker did and the helper will do
// again. A bad value is INVALID_ARGUMENT naming the field, and the helper is never started.
import * as grpc from "@grpc/grpc-js";
import type { ActionDef } from "../../../proto/catalog/define-action";
import type { Approval } from "../../../proto/gen/hostward/v1/actions";
import { approvalToWire, type HelperRequest } from "../helper/wire";
import { RpcError } from "../server/errors";
import { describeInvalidInput, stripProtoDefaults } from "../server/request";

type Message = Record<string, unknown>;

export function toHelperRequest(def: ActionDef, message: Message, defaults: Message): HelperRequest {
  const { approval, ...fields } = message as Message & { approval?: Approval };
  const { approval: _d, ...fieldDefaults } = defaults;
  const input = stripProtoDefaults(fields, fieldDefaults);
  const parsed = def.params.safeParse(input);
  if (!parsed.success) throw new RpcError(grpc.status.INVALID_ARGUMENT, describeInvalidInput(parsed.error, input));
  if (!approval) {
    throw new RpcError(grpc.status.PERMISSION_DENIED, `${def.name} needs an approval: propose it with propose_action and have a human approve it (hostward approve ID)`);
  }
  return { action: def.name, params: parsed.data as Message, approval: approvalToWire(approval) };
}
