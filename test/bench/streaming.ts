// Item 5: from a line printed by a running action to its progress notification at the MCP client.
// It needs the Actions issue (ActionsService on the operator agent, propose/approve/execute in the
// broker). Until that has landed this probe only establishes, from the running product, that it
// has not — it never reports a made-up figure.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";

export interface StreamingResult {
  measured: false;
  reason: string;
}

export async function probeStreaming(fleetDir: string): Promise<StreamingResult> {
  const ready = JSON.parse(readFileSync(join(fleetDir, "agents", "local1", "operator.ready.json"), "utf8")) as { port: number };
  const creds = grpc.credentials.createSsl(
    readFileSync(join(fleetDir, "tls", "ca.crt")),
    readFileSync(join(fleetDir, "tls", "operator.key")),
    readFileSync(join(fleetDir, "tls", "operator.crt")),
  );
  const client = new grpc.Client(`127.0.0.1:${ready.port}`, creds, { "grpc.ssl_target_name_override": "local1" });
  const id = (b: Buffer) => b;
  try {
    const answer = await new Promise<string>((resolve) =>
      client.makeUnaryRequest("/hostward.v1.ActionsService/RotateLogs", id, id, Buffer.alloc(0), new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (err) =>
        resolve(err ? `${grpc.status[err.code]}: ${err.details}` : "OK"),
      ),
    );
    if (answer.startsWith("UNIMPLEMENTED")) {
      return { measured: false, reason: `the Actions issue has not landed: the operator agent answers ActionsService/RotateLogs with ${answer}` };
    }
    return { measured: false, reason: `ActionsService answered "${answer}", but this bench has no streaming measurement yet: add it with the Actions issue` };
  } finally {
    client.close();
  }
}
