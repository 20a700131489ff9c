// The key of a host's operator certificate, as the agent proved it in a TLS handshake (it holds
// the private key; the CA signed the certificate): what an approval statement binds, so a host
// re-enrolled with a new key refuses approvals made for the old one. One health check over the
// operator channel makes sure the handshake the key comes from is current.
import { HEALTH_CHECK_PATH, deserializeHealthCheckResponse, serializeHealthCheckRequest } from "./health";
import type { ChannelHost, ChannelPool } from "./channels";
import { HostCallError } from "./errors";

export async function operatorKey(pool: ChannelPool, host: ChannelHost, timeoutMs: number): Promise<string> {
  await pool.unary(
    host,
    "operator",
    { path: HEALTH_CHECK_PATH, requestSerialize: serializeHealthCheckRequest, responseDeserialize: deserializeHealthCheckResponse },
    { service: "" },
    timeoutMs,
  );
  const key = pool.peerKey(host, "operator");
  if (!key) throw new HostCallError("INTERNAL", `${host.name}'s operator agent answered without a checked certificate`);
  return key;
}
