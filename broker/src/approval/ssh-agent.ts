// A minimal ssh-agent client (draft-miller-ssh-agent): list identities, sign. The approver's key
// stays in the agent (or on the hardware token behind it); the broker only ever sees signatures.
// Unix socket from SSH_AUTH_SOCK (on Windows, the OpenSSH agent's named pipe path works the same
// with node:net).
import { connect, type Socket } from "node:net";

const SSH_AGENT_FAILURE = 5;
const SSH2_AGENTC_REQUEST_IDENTITIES = 11;
const SSH2_AGENT_IDENTITIES_ANSWER = 12;
const SSH2_AGENTC_SIGN_REQUEST = 13;
const SSH2_AGENT_SIGN_RESPONSE = 14;

/** Largest agent reply accepted (an identities list of many keys is a few KiB). */
const MAX_REPLY = 256 * 1024;
const TIMEOUT_MS = 30_000; // a hardware token may wait for a touch

export class AgentError extends Error {
  override name = "AgentError";
}

export interface AgentIdentity {
  blob: Buffer;
  comment: string;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

function sshString(data: Buffer): Buffer {
  return Buffer.concat([u32(data.length), data]);
}

function readString(buf: Buffer, off: number): [Buffer, number] {
  if (off + 4 > buf.length) throw new AgentError("ssh-agent reply is truncated");
  const n = buf.readUInt32BE(off);
  if (off + 4 + n > buf.length) throw new AgentError("ssh-agent reply is truncated");
  return [buf.subarray(off + 4, off + 4 + n), off + 4 + n];
}

/** Sends one request and resolves with the reply's type and payload. */
function exchange(socketPath: string, type: number, payload: Buffer): Promise<{ type: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(socketPath);
    let data = Buffer.alloc(0);
    const fail = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    socket.setTimeout(TIMEOUT_MS, () => fail(new AgentError(`ssh-agent at ${socketPath} did not answer within ${TIMEOUT_MS / 1000} s`)));
    socket.on("error", (err) => fail(new AgentError(`cannot talk to ssh-agent at ${socketPath}: ${err.message}`)));
    socket.on("connect", () => {
      const msg = Buffer.concat([Buffer.from([type]), payload]);
      socket.write(Buffer.concat([u32(msg.length), msg]));
    });
    socket.on("data", (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (data.length < 4) return;
      const len = data.readUInt32BE(0);
      if (len === 0 || len > MAX_REPLY) return fail(new AgentError(`ssh-agent sent a reply of ${len} bytes`));
      if (data.length < 4 + len) return;
      socket.end();
      resolve({ type: data[4]!, body: data.subarray(5, 4 + len) });
    });
    socket.on("end", () => fail(new AgentError("ssh-agent closed the connection before answering")));
  });
}

export function agentSocket(env: NodeJS.ProcessEnv = process.env): string {
  const sock = env.SSH_AUTH_SOCK;
  if (!sock) throw new AgentError("SSH_AUTH_SOCK is not set: start ssh-agent and ssh-add your approver key, or use --key FILE");
  return sock;
}

export async function agentIdentities(socketPath: string): Promise<AgentIdentity[]> {
  const reply = await exchange(socketPath, SSH2_AGENTC_REQUEST_IDENTITIES, Buffer.alloc(0));
  if (reply.type !== SSH2_AGENT_IDENTITIES_ANSWER) throw new AgentError(`ssh-agent refused to list keys (reply type ${reply.type})`);
  if (reply.body.length < 4) throw new AgentError("ssh-agent reply is truncated");
  const count = reply.body.readUInt32BE(0);
  if (count > 1000) throw new AgentError(`ssh-agent lists ${count} keys`);
  const out: AgentIdentity[] = [];
  let off = 4;
  for (let i = 0; i < count; i++) {
    const [blob, next] = readString(reply.body, off);
    const [comment, after] = readString(reply.body, next);
    out.push({ blob: Buffer.from(blob), comment: comment.toString("utf8") });
    off = after;
  }
  return out;
}

/** Asks the agent to sign `data` with the key `blob`; returns the SSH signature blob (string type || string sig). */
export async function agentSign(socketPath: string, blob: Buffer, data: Buffer): Promise<Buffer> {
  const reply = await exchange(socketPath, SSH2_AGENTC_SIGN_REQUEST, Buffer.concat([sshString(blob), sshString(data), u32(0)]));
  if (reply.type === SSH_AGENT_FAILURE) throw new AgentError("ssh-agent refused to sign (key not loaded, confirmation denied, or token not touched)");
  if (reply.type !== SSH2_AGENT_SIGN_RESPONSE) throw new AgentError(`ssh-agent sent reply type ${reply.type} to a sign request`);
  const [signature] = readString(reply.body, 0);
  return Buffer.from(signature);
}
