// The standard gRPC health service (grpc.health.v1.Health: Check and Watch), on the code ts-proto
// generates from proto/grpc/health/v1/health.proto. (grpc-health-check's HealthImplementation
// loads health.proto from disk at run time, which a single-file bundle cannot ship.)
import * as grpc from "@grpc/grpc-js";
import {
  HealthService,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthCheckRequest,
  type HealthCheckResponse,
} from "../../../proto/gen/grpc/health/v1/health";

export { HealthService, ServingStatus };

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
