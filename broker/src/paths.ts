// Where the broker keeps configuration and state, per platform convention. The broker runs on
// Linux, macOS and Windows: no Linux-only path here.
//   Linux:   $XDG_CONFIG_HOME/hostward (~/.config/hostward), $XDG_STATE_HOME/hostward (~/.local/state/hostward)
//   macOS:   ~/Library/Application Support/hostward, ~/Library/Application Support/hostward/state
//   Windows: %APPDATA%\hostward, %LOCALAPPDATA%\hostward\state
import { homedir } from "node:os";
import { join } from "node:path";

export interface PlatformEnv {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  home: string;
}

const current = (): PlatformEnv => ({ platform: process.platform, env: process.env, home: homedir() });

/** $HOSTWARD_CONFIG (or the older $HOSTWARD_CONFIG_DIR) when set: for MCP clients that take the
 *  server command alone and pass no --config (the MCP Inspector keeps --config for itself). */
export function defaultConfigDir(p: PlatformEnv = current()): string {
  if (p.env.HOSTWARD_CONFIG) return p.env.HOSTWARD_CONFIG;
  if (p.env.HOSTWARD_CONFIG_DIR) return p.env.HOSTWARD_CONFIG_DIR;
  switch (p.platform) {
    case "win32":
      return join(p.env.APPDATA ?? join(p.home, "AppData", "Roaming"), "hostward");
    case "darwin":
      return join(p.home, "Library", "Application Support", "hostward");
    default:
      return join(p.env.XDG_CONFIG_HOME || join(p.home, ".config"), "hostward");
  }
}

export function defaultStateDir(p: PlatformEnv = current()): string {
  if (p.env.HOSTWARD_STATE_DIR) return p.env.HOSTWARD_STATE_DIR;
  switch (p.platform) {
    case "win32":
      return join(p.env.LOCALAPPDATA ?? join(p.home, "AppData", "Local"), "hostward", "state");
    case "darwin":
      return join(p.home, "Library", "Application Support", "hostward", "state");
    default:
      return join(p.env.XDG_STATE_HOME || join(p.home, ".local", "state"), "hostward");
  }
}

/** Files inside a broker configuration directory. */
export function configFiles(dir: string) {
  return {
    hosts: join(dir, "hosts.yaml"),
    policy: join(dir, "policy.yaml"),
    broker: join(dir, "broker.yaml"),
    /** Team mode's people (hostward pki issue-user): names, groups, token hashes. */
    users: join(dir, "users.jsonl"),
    tlsDir: join(dir, "tls"),
    caCert: join(dir, "tls", "ca.crt"),
    clientCert: (role: "reader" | "operator") => join(dir, "tls", `${role}.crt`),
    clientKey: (role: "reader" | "operator") => join(dir, "tls", `${role}.key`),
    pkiDir: join(dir, "pki"),
  };
}
