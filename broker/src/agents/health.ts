// The standard gRPC health check (grpc.health.v1.Health/Check), client side. Encoded by hand with
// @bufbuild/protobuf's wire helpers: the message has one field each way, and the grpc-health-check
// package loads a .proto file at run time, which a single-file bundle cannot ship.
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";

export const HEALTH_CHECK_PATH = "/grpc.health.v1.Health/Check";

export type ServingStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";
const STATUSES: readonly ServingStatus[] = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

export interface HealthCheckRequest {
  service: string;
}

export interface HealthCheckResponse {
  status: ServingStatus;
}

export function serializeHealthCheckRequest(req: HealthCheckRequest): Buffer {
  const w = new BinaryWriter();
  if (req.service !== "") w.uint32(10).string(req.service);
  return Buffer.from(w.finish());
}

export function deserializeHealthCheckResponse(buf: Buffer): HealthCheckResponse {
  const r = new BinaryReader(buf);
  let status: ServingStatus = "UNKNOWN";
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === 0) status = STATUSES[r.int32()] ?? "UNKNOWN";
    else r.skip(tag & 7);
  }
  return { status };
}

/** The inverse pair, used by tests that stand up a health server. */
export function deserializeHealthCheckRequest(buf: Buffer): HealthCheckRequest {
  const r = new BinaryReader(buf);
  let service = "";
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === 2) service = r.string();
    else r.skip(tag & 7);
  }
  return { service };
}

export function serializeHealthCheckResponse(res: HealthCheckResponse): Buffer {
  const w = new BinaryWriter();
  const n = STATUSES.indexOf(res.status);
  if (n > 0) w.uint32(8).int32(n);
  return Buffer.from(w.finish());
}
