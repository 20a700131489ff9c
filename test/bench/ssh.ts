// The design hostward replaces, rebuilt on loopback for comparison: OpenSSH's sshd on 127.0.0.1
// with a dedicated user whose only key carries a forced command — a wrapper script that
// whitelists a few fixed commands (the seed's "forced-command shell wrapper"). Three ways to call it:
//   (a) a new `ssh` connection per call, (b) `ssh` through a ControlMaster socket,
//   (c) the ssh2 npm client on one kept-open connection with TCP_NODELAY, a channel per call.
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, connect as tcpConnect, type AddressInfo } from "node:net";
import { join } from "node:path";
import { Client as Ssh2Client, utils as ssh2Utils } from "ssh2";
import { log, run, sleep, stopChild, track, waitForFile } from "./util";

export const SSH_USER = "hwbench";
/** What each wrapper command returns: the same data the hostward diagnostic reads. */
export const WRAPPER_COMMANDS = {
  load: "/bin/cat /proc/loadavg",
  disk: "/bin/df -P /",
  mem: "/bin/cat /proc/meminfo",
  service: "/bin/systemctl show --no-pager --property=ActiveState,SubState,MainPID -- ssh.service",
} as const;
export type WrapperCommand = keyof typeof WRAPPER_COMMANDS;

export interface SshFixture {
  dir: string;
  port: number;
  sshd: ChildProcess;
  clientKey: string;
  baseArgs: string[];
  hostKeyBlob: Buffer;
}

function wrapperScript(): string {
  const cases = Object.entries(WRAPPER_COMMANDS)
    .map(([name, cmd]) => `  ${name}) exec ${cmd} ;;`)
    .join("\n");
  return `#!/bin/sh
# Forced command: the only thing this key may run. Whitelist by exact name, no arguments.
case "$SSH_ORIGINAL_COMMAND" in
${cases}
  *) echo "denied: $SSH_ORIGINAL_COMMAND" >&2; exit 1 ;;
esac
`;
}

async function ensureUser(): Promise<void> {
  try {
    await run("id", ["-u", SSH_USER]);
  } catch {
    await run("useradd", ["--no-create-home", "--home-dir", "/tmp", "--shell", "/bin/sh", SSH_USER]);
  }
  // A locked account ("!" in shadow) is refused by sshd when PAM is off; "*" means no password
  // login but an unlocked account (key only).
  await run("usermod", ["-p", "*", SSH_USER]);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

export async function startSshd(base: string): Promise<SshFixture> {
  if (process.getuid?.() !== 0) throw new Error("the SSH baselines need root (sshd switches to the bench user)");
  await ensureUser();
  const dir = join(base, "ssh");
  mkdirSync(dir, { recursive: true });
  chmodSync(base, 0o755);
  chmodSync(dir, 0o755);
  const wrapper = join(dir, "wrapper.sh");
  writeFileSync(wrapper, wrapperScript(), { mode: 0o755 });
  const hostKey = join(dir, "host_ed25519");
  const clientKey = join(dir, "client_ed25519");
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", clientKey]);
  const restrictions = "no-pty,no-agent-forwarding,no-port-forwarding,no-X11-forwarding,no-user-rc";
  writeFileSync(join(dir, "authorized_keys"), `command="${wrapper}",${restrictions} ${readFileSync(`${clientKey}.pub`, "utf8")}`, { mode: 0o644 });
  const port = await freePort();
  const hostPub = readFileSync(`${hostKey}.pub`, "utf8").trim().split(" ");
  writeFileSync(join(dir, "known_hosts"), `[127.0.0.1]:${port} ${hostPub[0]} ${hostPub[1]}\n`);
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      `AllowUsers ${SSH_USER}`,
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "PermitRootLogin no",
      // The bench directory lives under /tmp, which StrictModes would (rightly) reject.
      "StrictModes no",
      "X11Forwarding no",
      "AllowTcpForwarding no",
      "PrintMotd no",
      "PrintLastLog no",
      "UseDNS no",
      // Room for the 100 kept-open connections of the fan-out comparison.
      "MaxStartups 200:30:400",
      "LogLevel ERROR",
      "",
    ].join("\n"),
  );
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const sshd = track(spawn("/usr/sbin/sshd", ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] }));
  let sshdErr = "";
  sshd.stderr!.on("data", (c: Buffer) => (sshdErr += c.toString()));
  await waitForFile(join(dir, "sshd.pid"), 10_000, sshd).catch((err: Error) => {
    throw new Error(`sshd did not start: ${err.message}\n${sshdErr}`);
  });
  const baseArgs = [
    "-F", "/dev/null",
    "-i", clientKey,
    "-p", String(port),
    "-o", "BatchMode=yes",
    "-o", "IdentitiesOnly=yes",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${join(dir, "known_hosts")}`,
    "-o", "LogLevel=ERROR",
  ];
  const parsed = ssh2Utils.parseKey(readFileSync(`${hostKey}.pub`));
  if (parsed instanceof Error) throw parsed;
  const fixture: SshFixture = { dir, port, sshd, clientKey, baseArgs, hostKeyBlob: (Array.isArray(parsed) ? parsed[0] : parsed).getPublicSSH() };
  const probe = await sshExec(fixture, "load");
  if (!/^\d+\.\d+ /.test(probe)) throw new Error(`the forced command did not answer as expected: ${JSON.stringify(probe)}`);
  log(`sshd on 127.0.0.1:${port} (pid ${sshd.pid}), forced-command wrapper ${wrapper}`);
  return fixture;
}

/** (a) One call = one new `ssh` process and connection (key exchange, auth, channel, exit). */
export async function sshExec(fx: SshFixture, command: WrapperCommand, extra: string[] = []): Promise<string> {
  // The service command fails on a host without systemd as PID 1, like the diagnostic does.
  const { stdout } = await run("ssh", [...fx.baseArgs, ...extra, `${SSH_USER}@127.0.0.1`, command], { okCodes: command === "service" ? [0, 1] : [0] });
  return stdout;
}

/** (b) A ControlMaster kept open; each call still starts an `ssh` process that attaches to it. */
export async function startControlMaster(fx: SshFixture): Promise<{ args: string[]; stop(): Promise<void> }> {
  const sock = join(fx.dir, "cm.sock");
  const args = ["-o", `ControlPath=${sock}`];
  const master = track(spawn("ssh", [...fx.baseArgs, ...args, "-o", "ControlMaster=yes", "-N", `${SSH_USER}@127.0.0.1`], { stdio: "ignore" }));
  await waitForFile(sock, 10_000, master);
  return {
    args: [...args, "-o", "ControlMaster=no"],
    stop: async () => {
      await run("ssh", [...fx.baseArgs, ...args, "-O", "exit", `${SSH_USER}@127.0.0.1`]).catch(() => undefined);
      await stopChild(master);
    },
  };
}

/** (c) ssh2 on one kept-open TCP connection with TCP_NODELAY; each call opens an exec channel. */
export interface Ssh2Conn {
  exec(command: WrapperCommand): Promise<string>;
  close(): void;
}

export function connectSsh2(fx: SshFixture): Promise<Ssh2Conn> {
  return new Promise((resolve, reject) => {
    const sock = tcpConnect({ host: "127.0.0.1", port: fx.port });
    sock.setNoDelay(true);
    const conn = new Ssh2Client();
    conn.on("error", reject);
    conn.on("ready", () => {
      conn.removeListener("error", reject);
      conn.on("error", () => undefined);
      resolve({
        exec: (command) =>
          new Promise((res, rej) => {
            conn.exec(command, (err, stream) => {
              if (err) return rej(err);
              let out = "";
              stream.on("data", (c: Buffer) => (out += c.toString()));
              stream.stderr.on("data", () => undefined);
              stream.on("close", (code: number | null) =>
                code === 0 || (command === "service" && code === 1) ? res(out) : rej(new Error(`${command} exited ${code}`)),
              );
            });
          }),
        close: () => conn.end(),
      });
    });
    conn.connect({
      sock,
      username: SSH_USER,
      privateKey: readFileSync(fx.clientKey),
      hostVerifier: (key: Buffer) => key.equals(fx.hostKeyBlob),
      readyTimeout: 20_000,
    });
  });
}

/** Opens `n` kept-open ssh2 connections, a few at a time (sshd's MaxStartups throttles bursts). */
export async function connectMany(fx: SshFixture, n: number, parallel = 8): Promise<Ssh2Conn[]> {
  const conns: Ssh2Conn[] = [];
  for (let i = 0; i < n; i += parallel) {
    conns.push(...(await Promise.all(Array.from({ length: Math.min(parallel, n - i) }, () => connectSsh2(fx)))));
  }
  await sleep(100);
  return conns;
}

export async function stopSshd(fx: SshFixture): Promise<void> {
  await stopChild(fx.sshd);
  if (existsSync(join(fx.dir, "cm.sock"))) log("warning: ControlMaster socket left behind");
}
