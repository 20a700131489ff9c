// A minimal ActionsService client, bundled by action-client.ts and run inside the client network
// namespace (`ip netns exec NS node bundle.cjs`): the generated ActionsServiceClient over mTLS with
// a certificate from `hostward pki issue-client`. Reads one JSON job on stdin, prints one JSON line
// per stream event with the milliseconds since the call began, so the test can see the order and
// timing of the events as they arrived on the wire.
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { ActionsServiceClient, type ActionEvent, type Approval } from "../../../proto/gen/hostward/v1/actions";

interface Job {
  address: string;
  port: number;
  certName: string;
  ca: string;
  cert: string;
  key: string;
  method: "restartService" | "reloadService" | "startService" | "flushDnsCache" | "rotateLogs";
  request: Record<string, unknown> & { approval?: Omit<Approval, "signature"> & { signature: string } };
  deadlineMs: number;
}

const print = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

function main(): void {
  const job = JSON.parse(readFileSync(0, "utf8")) as Job;
  const creds = grpc.credentials.createSsl(readFileSync(job.ca), readFileSync(job.key), readFileSync(job.cert));
  const client = new ActionsServiceClient(`${job.address}:${job.port}`, creds, {
    "grpc.ssl_target_name_override": job.certName,
    "grpc.default_authority": job.certName,
  });
  const request = { ...job.request, ...(job.request.approval && { approval: { ...job.request.approval, signature: Buffer.from(job.request.approval.signature, "base64") } }) };
  const started = performance.now();
  const t = () => Math.round((performance.now() - started) * 10) / 10;
  const call = (client[job.method] as (r: unknown, o: Partial<grpc.CallOptions>) => grpc.ClientReadableStream<ActionEvent>).call(client, request, {
    deadline: Date.now() + job.deadlineMs,
  });
  call.on("data", (e: ActionEvent) => {
    if (e.event?.$case === "output") print({ t: t(), output: e.event.value });
    else if (e.event?.$case === "resultJson") print({ t: t(), result: JSON.parse(e.event.value) as unknown });
  });
  let failed = false;
  call.on("error", (err: grpc.ServiceError) => {
    failed = true;
    print({ t: t(), error: { code: grpc.status[err.code], details: err.details } });
    client.close();
  });
  // grpc-js may also end the stream after an error: only a clean end is reported as one.
  call.on("end", () => {
    if (!failed) print({ t: t(), end: true });
    client.close();
  });
}

main();
