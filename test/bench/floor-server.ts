// Bench only: the memory floor of the agent's design — Node plus a grpc-js server bound with
// mutual TLS and nothing else (no catalog, no zod, no logger). Idle RSS of this process is what
// any grpc-js agent costs before it does anything.
//
//   node floor-server.cjs --config FILE --ready-file FILE   (config: the agent's YAML/JSON)
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";

const { values } = parseArgs({ options: { config: { type: "string" }, "ready-file": { type: "string" } }, strict: true });
const config = JSON.parse(readFileSync(values.config!, "utf8")) as { tls: { ca: string; cert: string; key: string } };
const server = new grpc.Server();
const creds = grpc.ServerCredentials.createSsl(readFileSync(config.tls.ca), [{ cert_chain: readFileSync(config.tls.cert), private_key: readFileSync(config.tls.key) }], true);
server.bindAsync("127.0.0.1:0", creds, (err, port) => {
  if (err) throw err;
  writeFileSync(`${values["ready-file"]!}.tmp`, JSON.stringify({ port, pid: process.pid }));
  renameSync(`${values["ready-file"]!}.tmp`, values["ready-file"]!);
});
process.on("SIGTERM", () => process.exit(0));
