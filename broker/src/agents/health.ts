// The standard gRPC health check (grpc.health.v1.Health/Check), client side, on the code ts-proto
// generates from proto/grpc/health/v1/health.proto.
import {
  HealthService,
  HealthCheckResponse_ServingStatus,
  type HealthCheckRequest,
} from "../../../proto/gen/grpc/health/v1/health";

type ServingStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

export interface HealthCheckResponse {
  status: ServingStatus;
}

const NAMES: Record<number, ServingStatus> = {
  [HealthCheckResponse_ServingStatus.UNKNOWN]: "UNKNOWN",
  [HealthCheckResponse_ServingStatus.SERVING]: "SERVING",
  [HealthCheckResponse_ServingStatus.NOT_SERVING]: "NOT_SERVING",
  [HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN]: "SERVICE_UNKNOWN",
};

export const HEALTH_CHECK_PATH = HealthService.check.path;

export function serializeHealthCheckRequest(req: HealthCheckRequest): Buffer {
  return HealthService.check.requestSerialize(req);
}

/** Decodes a reply; an out-of-range status (from an untrusted peer) reads as UNKNOWN. */
export function deserializeHealthCheckResponse(buf: Buffer): HealthCheckResponse {
  return { status: NAMES[HealthService.check.responseDeserialize(buf).status] ?? "UNKNOWN" };
}

/** The inverse pair, used by tests that stand up a health server. */
export function deserializeHealthCheckRequest(buf: Buffer): HealthCheckRequest {
  return HealthService.check.requestDeserialize(buf);
}

export function serializeHealthCheckResponse(res: HealthCheckResponse): Buffer {
  const status = Number(Object.entries(NAMES).find(([, name]) => name === res.status)?.[0] ?? 0);
  return HealthService.check.responseSerialize({ status });
}
