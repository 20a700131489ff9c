// One TCP connect to an already vetted address: open, refused, timeout or unreachable.
// Nothing is sent; the socket is closed as soon as the handshake completes.
import { connect } from "node:net";

type ProbeStatus = "open" | "refused" | "timeout" | "unreachable" | "error";

export interface ProbeResult {
  port: number;
  status: ProbeStatus;
  connectMs: number | null;
  error: string | null;
}

const UNREACHABLE = new Set(["EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "ENETDOWN", "EHOSTDOWN"]);

export function probeTcp(address: string, family: 4 | 6, port: number, timeoutMs: number, signal?: AbortSignal): Promise<ProbeResult> {
  return new Promise<ProbeResult>((resolve) => {
    const started = performance.now();
    const socket = connect({ host: address, port, family });
    let settled = false;
    const finish = (status: ProbeStatus, error: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve({ port, status, connectMs: Math.round((performance.now() - started) * 100) / 100, error });
    };
    const timer = setTimeout(() => finish("timeout", `no answer within ${timeoutMs} ms`), timeoutMs);
    const onAbort = () => finish("timeout", "cancelled: the call's deadline passed");
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => finish("open", null));
    socket.once("error", (err: NodeJS.ErrnoException) => {
      const code = err.code ?? "";
      if (code === "ECONNREFUSED") finish("refused", "connection refused");
      else if (code === "ETIMEDOUT") finish("timeout", "connection timed out");
      else if (UNREACHABLE.has(code)) finish("unreachable", `${code}: ${err.message}`);
      else finish("error", `${code || "error"}: ${err.message}`);
    });
  });
}
