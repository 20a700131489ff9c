// The standard gRPC health service (grpc.health.v1.Health: Check and Watch).
// Why not grpc-health-check's HealthImplementation: that module loads health.proto from disk with
// @grpc/proto-loader when it is first required, which fails inside a single-file bundle (the
// .proto is not beside it). The two messages are tiny, so they are encoded here with the same
// wire helpers ts-proto's generated code uses.
import * as grpc from "@grpc/grpc-js";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

export enum ServingStatus {
  UNKNOWN = 0,
  SERVING = 1,
  NOT_SERVING = 2,
  SERVICE_UNKNOWN = 3,
}

export interface HealthCheckRequest {
  service: string;
}
export interface HealthCheckResponse {
  status: ServingStatus;
}

function encodeRequest(message: HealthCheckRequest): Buffer {
  const writer = new BinaryWriter();
  if (message.service !== "") writer.uint32(10).string(message.service);
  return Buffer.from(writer.finish());
}

function decodeRequest(bytes: Buffer): HealthCheckRequest {
  const reader = new BinaryReader(bytes);
  const message: HealthCheckRequest = { service: "" };
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) message.service = reader.string();
    else reader.skip(wireType, field);
  }
  return message;
}

function encodeResponse(message: HealthCheckResponse): Buffer {
  const writer = new BinaryWriter();
  if (message.status !== ServingStatus.UNKNOWN) writer.uint32(8).int32(message.status);
  return Buffer.from(writer.finish());
}

function decodeResponse(bytes: Buffer): HealthCheckResponse {
  const reader = new BinaryReader(bytes);
  const message: HealthCheckResponse = { status: ServingStatus.UNKNOWN };
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.Varint) message.status = reader.int32();
    else reader.skip(wireType, field);
  }
  return message;
}

const codec = {
  requestSerialize: encodeRequest,
  requestDeserialize: decodeRequest,
  responseSerialize: encodeResponse,
  responseDeserialize: decodeResponse,
};

/** The service definition, usable for a server and with grpc.makeGenericClientConstructor. */
export const HealthService = {
  check: { path: "/grpc.health.v1.Health/Check", requestStream: false, responseStream: false, originalName: "Check", ...codec },
  watch: { path: "/grpc.health.v1.Health/Watch", requestStream: false, responseStream: true, originalName: "Watch", ...codec },
} as const satisfies grpc.ServiceDefinition;

/** Open Watch streams are bounded: each holds a stream until the caller leaves. */
const MAX_WATCHERS = 64;

type Watcher = (status: ServingStatus) => void;

export class HealthServer {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>, { service: string; send: Watcher }>();

  constructor(initial: Record<string, ServingStatus>) {
    for (const [service, status] of Object.entries(initial)) this.statuses.set(service, status);
  }

  setStatus(service: string, status: ServingStatus): void {
    this.statuses.set(service, status);
    for (const watcher of this.watchers.values()) if (watcher.service === service) watcher.send(status);
  }

  /** Every service NOT_SERVING, then every Watch stream ended, so a graceful shutdown can finish. */
  shutdown(): void {
    for (const service of this.statuses.keys()) this.setStatus(service, ServingStatus.NOT_SERVING);
    for (const call of this.watchers.keys()) call.end();
    this.watchers.clear();
  }

  addToServer(server: grpc.Server): void {
    server.addService(HealthService, {
      check: (call: grpc.ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, callback: grpc.sendUnaryData<HealthCheckResponse>) => {
        const status = this.statuses.get(call.request.service);
        if (status === undefined) callback({ code: grpc.status.NOT_FOUND, details: `health status unknown for service "${call.request.service.slice(0, 128)}"` });
        else callback(null, { status });
      },
      watch: (call: grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) => {
        if (this.watchers.size >= MAX_WATCHERS) {
          call.emit("error", { code: grpc.status.RESOURCE_EXHAUSTED, details: `too many health watchers (limit ${MAX_WATCHERS})` });
          return;
        }
        const service = call.request.service;
        const send: Watcher = (status) => {
          call.write({ status });
        };
        this.watchers.set(call, { service, send });
        call.on("cancelled", () => this.watchers.delete(call));
        send(this.statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN);
      },
    });
  }
}
