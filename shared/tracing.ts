// OpenTelemetry traces, off by default (broker.yaml / agent.yaml `tracing`). Broker and agents
// share this one module: it starts the SDK (a tracer provider, a batch processor and the OTLP/HTTP
// JSON exporter, the W3C trace-context propagator, an AsyncLocalStorage context manager) only when
// tracing is configured. Until then `tracingOn()` is false and every caller skips its tracing
// code, so the hot paths do exactly what they did before (no span objects, no context switches).
//
// Trace context crosses two boundaries as untrusted input: from the MCP client (`_meta.traceparent`)
// and from the broker (gRPC metadata `traceparent`). It is only ever a parent id: the W3C propagator
// parses it strictly (a malformed value is ignored and a new trace starts), it never identifies a
// caller and is never logged as one.
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type TextMapGetter, type TextMapSetter } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace-base";

export interface TracingConfig {
  /** The OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces. */
  otlpEndpoint: string;
  serviceName?: string;
}

export interface Tracing {
  /** Exports what is buffered and stops the SDK (at most `timeoutMs`). */
  shutdown(timeoutMs?: number): Promise<void>;
}

let provider: BasicTracerProvider | undefined;

/** Whether tracing was started in this process; callers test it before doing any tracing work. */
export function tracingOn(): boolean {
  return provider !== undefined;
}

/**
 * Starts tracing for this process. `processor` replaces the OTLP exporter (tests: a
 * SimpleSpanProcessor over the SDK's InMemorySpanExporter).
 */
export function startTracing(config: TracingConfig, defaultServiceName: string, processor?: SpanProcessor): Tracing {
  if (provider) throw new Error("tracing is already started");
  const spanProcessor =
    processor ??
    new BatchSpanProcessor(new OTLPTraceExporter({ url: config.otlpEndpoint, timeoutMillis: 5000 }), {
      // Small batches, soon: a host call's spans reach the collector within a second.
      scheduledDelayMillis: 1000,
      maxQueueSize: 4096,
    });
  const started = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": config.serviceName ?? defaultServiceName }),
    spanProcessors: [spanProcessor],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(started);
  provider = started;
  return {
    async shutdown(timeoutMs = 3000) {
      if (provider !== started) return;
      provider = undefined;
      await Promise.race([started.shutdown().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

function tracer() {
  return trace.getTracer("hostward");
}

/** A plain object carrier: MCP `_meta`, or the broker's metadata record. */
const recordGetter: TextMapGetter<Record<string, unknown>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const v = carrier[key];
    return typeof v === "string" ? v : undefined;
  },
};
const recordSetter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/**
 * The parent context named by a W3C `traceparent` (and `tracestate`) in `carrier`, or the root
 * context when there is none or it does not parse. Untrusted input: it only becomes a parent id.
 */
export function extractContext(carrier: Record<string, unknown> | undefined): Context {
  if (!carrier) return ROOT_CONTEXT;
  const picked: Record<string, unknown> = {};
  for (const key of ["traceparent", "tracestate"]) {
    const v = carrier[key];
    // Bounded like W3C's own limits (traceparent is 55 characters; tracestate at most 32 members).
    if (typeof v === "string" && v.length <= 512) picked[key] = v;
  }
  return propagation.extract(ROOT_CONTEXT, picked, recordGetter);
}

/** Adds the active span's `traceparent`/`tracestate` to `carrier` (gRPC metadata entries). */
export function injectContext(carrier: Record<string, string>): Record<string, string> {
  propagation.inject(context.active(), carrier, recordSetter);
  return carrier;
}

/** Runs `fn` in a new span (active while it runs), ended when `fn` settles; `fn` may set attributes. */
export async function inSpan<T>(
  name: string,
  options: { kind: SpanKind; attributes: Attributes; parent?: Context },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = options.parent ?? context.active();
  const span = tracer().startSpan(name, { kind: options.kind, attributes: options.attributes }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    span.setAttribute("error.type", (err as Error).name || "Error");
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    throw err;
  } finally {
    span.end();
  }
}

/** Starts a span that the caller ends (the agent's server span: it ends when the call's status is sent). */
export function startSpan(name: string, options: { kind: SpanKind; attributes: Attributes; parent: Context }): Span {
  return tracer().startSpan(name, { kind: options.kind, attributes: options.attributes }, options.parent);
}

export { SpanKind, SpanStatusCode, type Span };
