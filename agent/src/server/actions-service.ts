// ActionsService (operator role). Declared now so the role split and its authorisation exist from
// the start; every method answers UNIMPLEMENTED until the Actions issue builds them. Only the
// operator entry point imports this module.
import * as grpc from "@grpc/grpc-js";
import { ActionsServiceService } from "../../../proto/gen/hostward/v1/actions";

export const ACTIONS_UNIMPLEMENTED = "arrives with the Actions issue";

export function createActionsImplementation(): grpc.UntypedServiceImplementation {
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const key of Object.keys(ActionsServiceService)) {
    implementation[key] = (call: grpc.ServerWritableStream<unknown, unknown>) => {
      call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: `${key}: ${ACTIONS_UNIMPLEMENTED}` });
    };
  }
  return implementation;
}

export function addActionsService(server: grpc.Server): void {
  server.addService(ActionsServiceService, createActionsImplementation());
}
