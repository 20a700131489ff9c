// The `tracing` section of broker.yaml and agent.yaml (one schema for both). Absent: no traces, and
// the OpenTelemetry SDK is not started at all.
import { z } from "zod";

export const TracingConfigSchema = z.strictObject({
  /** The OTLP/HTTP traces endpoint (JSON), e.g. http://127.0.0.1:4318/v1/traces. */
  otlpEndpoint: z
    .string()
    .max(2048)
    .url()
    .refine((u) => /^https?:\/\//i.test(u), "must be an http:// or https:// URL"),
  /** The resource's service.name; default hostward-broker, hostward-reader or hostward-operator. */
  serviceName: z.string().min(1).max(128).optional(),
});
