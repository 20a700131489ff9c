// /etc/os-release (or /usr/lib/os-release): the distribution's own identification, os-release(5).
import { readOptional } from "./read";

/** Shell-style KEY=value lines; values may be "double" or 'single' quoted with \-escapes. */
function parseOsRelease(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let value = m[2] as string;
    const q = value[0];
    if ((q === '"' || q === "'") && value.endsWith(q) && value.length >= 2) {
      value = value.slice(1, -1);
      if (q === '"') value = value.replace(/\\(["\\`$])/g, "$1");
    }
    out.set(m[1] as string, value);
  }
  return out;
}

export async function readOsRelease(): Promise<Map<string, string>> {
  const text = (await readOptional("/etc/os-release")) ?? (await readOptional("/usr/lib/os-release")) ?? "";
  return parseOsRelease(text);
}
