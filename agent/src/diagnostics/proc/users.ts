// uid → user name from /etc/passwd (read directly: getpwuid would need a native addon or a
// spawn). Users known only to NSS modules (LDAP, sssd) show as their numeric uid.
import { readFile, stat } from "node:fs/promises";

/** /etc/passwd larger than this is not parsed (names then fall back to numeric uids). */
const MAX_PASSWD_BYTES = 8 * 1024 * 1024;

export async function readUserNames(path = "/etc/passwd"): Promise<Map<number, string>> {
  const names = new Map<number, string>();
  try {
    if ((await stat(path)).size > MAX_PASSWD_BYTES) return names;
    for (const line of (await readFile(path, "utf8")).split("\n")) {
      const [name, , uid] = line.split(":");
      if (name && uid !== undefined && /^\d+$/.test(uid) && !names.has(Number(uid))) names.set(Number(uid), name);
    }
  } catch {
    // No readable passwd file: callers show numeric uids.
  }
  return names;
}

/** The user's name, or the uid as a string when no name is known. */
export function userLabel(names: ReadonlyMap<number, string>, uid: number): string {
  return names.get(uid) ?? String(uid);
}
