// Is systemd the init system? The same test as sd_booted(3): /run/systemd/system/ exists only
// when systemd runs as PID 1 (a stray /run/systemd from packages does not count).
import { stat } from "node:fs/promises";

export async function systemdIsRunning(): Promise<boolean> {
  try {
    return (await stat("/run/systemd/system")).isDirectory();
  } catch {
    return false;
  }
}
