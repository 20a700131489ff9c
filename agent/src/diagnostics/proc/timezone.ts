// The host's configured time zone: the /etc/localtime symlink target (what timedatectl reports),
// then /etc/timezone (Debian), then what the runtime resolved.
import { readlink } from "node:fs/promises";
import { readAttribute } from "./read";

export async function readTimezone(): Promise<string> {
  try {
    const target = await readlink("/etc/localtime");
    const at = target.indexOf("zoneinfo/");
    if (at >= 0) return target.slice(at + "zoneinfo/".length);
  } catch {
    // not a symlink (a copied file) or absent
  }
  return (await readAttribute("/etc/timezone")) ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** The current UTC offset as "+HH:MM" / "-HH:MM" in the agent's zone. */
export function utcOffset(date = new Date()): string {
  const minutes = -date.getTimezoneOffset();
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}
