// Negative control for drift.types.ts: schemas that differ from the proto request in one way each.
// test/contract/drift.test.ts compiles this file and expects it to FAIL, proving the check can fail.
import { z } from "zod";
import type { Equals, ProtoRequest, Widen } from "./drift.types";

// proto GetServiceStatusRequest has `unit: string`; an optional unit must be caught.
const optionalUnit = z.strictObject({ unit: z.string().optional() });
export const a: Equals<Widen<z.output<typeof optionalUnit>>, ProtoRequest<"get_service_status">> = true;
// proto ListProcessesRequest has four fields; a missing optional one must be caught.
const missingField = z.strictObject({ limit: z.number(), sortBy: z.string(), user: z.string().optional() });
export const b: Equals<Widen<z.output<typeof missingField>>, ProtoRequest<"list_processes">> = true;
