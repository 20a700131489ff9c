// The SSH side of a host as operators have it: a user who may sudo (here without a password: the
// suite has no TTY to type one into), reached from a workstation whose ~/.ssh/config names the
// host. The containers run Debian's own openssh-server (in the cached rootfs); the workstation's
// ssh/scp (openssh-client) run inside the client namespace, so they reach only the containers.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Container } from "./container";
import { runOk, waitFor } from "./run";

export const SSH_USER = "admin";

export interface Workstation {
  /** HOME of the workstation user: ~/.ssh/id_ed25519, ~/.ssh/config, known_hosts. */
  home: string;
  /** The workstation's ~/.ssh/config. */
  sshConfig: string;
  publicKey: string;
  /** Adds `Host ALIAS` → address to ~/.ssh/config. */
  addHost(alias: string, address: string): void;
}

/**
 * A workstation home with an ed25519 key and an (initially empty) ~/.ssh/config. ssh takes the
 * home directory from the passwd entry (root's here), not from $HOME: the client namespace's
 * /etc/ssh/ssh_config includes this ~/.ssh/config instead (Network.etcFile), so that in that
 * namespace `ssh web1` reads it as a user's ~/.ssh/config would be read.
 */
export async function createWorkstation(home: string, net: { etcFile(relative: string, contents: string): void }): Promise<Workstation> {
  const ssh = join(home, ".ssh");
  mkdirSync(ssh, { recursive: true, mode: 0o700 });
  chmodSync(ssh, 0o700);
  await runOk("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "e2e-workstation", "-f", join(ssh, "id_ed25519")]);
  writeFileSync(join(ssh, "config"), "", { mode: 0o600 });
  net.etcFile("ssh/ssh_config", `# e2e: the workstation user's ~/.ssh/config (see test/e2e/support/ssh.ts)\nInclude ${join(ssh, "config")}\n`);
  return {
    home,
    sshConfig: join(ssh, "config"),
    publicKey: readFileSync(join(ssh, "id_ed25519.pub"), "utf8"),
    addHost(alias, address) {
      const entry = [
        `Host ${alias}`,
        `    HostName ${address}`,
        `    User ${SSH_USER}`,
        `    IdentityFile ${join(ssh, "id_ed25519")}`,
        `    UserKnownHostsFile ${join(ssh, "known_hosts")}`,
        // First contact with a host the test just booted (an operator would have met it before).
        "    StrictHostKeyChecking accept-new",
        "    BatchMode yes",
        "    ConnectTimeout 10",
        "",
      ].join("\n");
      writeFileSync(join(ssh, "config"), readFileSync(join(ssh, "config"), "utf8") + entry, { mode: 0o600 });
    },
  };
}

/** The `admin` user with the workstation's key and passwordless sudo; waits for sshd to listen. */
export async function prepareSshHost(c: Container, publicKey: string): Promise<void> {
  await c.execOk(["useradd", "--create-home", "--shell", "/bin/bash", SSH_USER]);
  await c.execOk(["install", "-d", "-m", "0700", "-o", SSH_USER, "-g", SSH_USER, `/home/${SSH_USER}/.ssh`]);
  writeFileSync(c.path(`/home/${SSH_USER}/.ssh/authorized_keys`), publicKey, { mode: 0o600 });
  await c.execOk(["chown", `${SSH_USER}:${SSH_USER}`, `/home/${SSH_USER}/.ssh/authorized_keys`]);
  writeFileSync(c.path(`/etc/sudoers.d/${SSH_USER}`), `${SSH_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n`, { mode: 0o440 });
  await c.execOk(["visudo", "-cf", `/etc/sudoers.d/${SSH_USER}`]);
  // Debian's openssh-server: ssh.service (bookworm), or socket activation (ssh.socket) on trixie.
  await waitFor(
    `${c.name}: sshd listening on :22`,
    async () => {
      const r = await c.exec(["ss", "-Htln", "sport", "= :22"]);
      return r.stdout.includes(":22") ? true : undefined;
    },
    30_000,
    250,
  );
}
