// get_time_sync: systemd's view (timedatectl show) when systemd runs, otherwise what files and
// /proc tell. Never fails just because systemd is absent: unknown values are null with a note.
import { access } from "node:fs/promises";
import type { OutputOf } from "../../../../proto/catalog/define";
import { TIMEDATECTL_TIMEOUT_MS, type getTimeSync } from "../../../../proto/catalog/diagnostics/health";
import { ExecError, run } from "../../exec";
import { listPids } from "./processes";
import { capText, mapLimit, readAttribute } from "./read";
import { systemdIsRunning } from "./systemd";
import { readTimezone } from "./timezone";

type Output = OutputOf<typeof getTimeSync>;

/** comm (cut to 15 characters by the kernel) → the daemon's name. */
const TIME_DAEMONS: Readonly<Record<string, string>> = {
  "systemd-timesyn": "systemd-timesyncd",
  chronyd: "chronyd",
  ntpd: "ntpd", // ntp, ntpsec and OpenNTPD all name their daemon ntpd
  ptp4l: "ptp4l",
  phc2sys: "phc2sys",
};

/** Time daemons running on the host, found by process name in /proc. */
async function runningTimeDaemons(): Promise<string[]> {
  const comms = await mapLimit(await listPids(), 32, (pid) => readAttribute(`/proc/${pid}/comm`));
  const found = new Set<string>();
  for (const comm of comms) {
    const daemon = comm === null ? undefined : TIME_DAEMONS[comm];
    if (daemon) found.add(daemon);
  }
  return [...found].sort();
}

/** `timedatectl show` prints Key=value lines (Timezone, LocalRTC, NTP, NTPSynchronized, …). */
export function parseTimedatectl(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1).trim());
  }
  return out;
}

const yesNo = (v: string | undefined): boolean | null => (v === "yes" ? true : v === "no" ? false : null);

/** Asks systemd; null (with the reason pushed to notes) when it cannot answer. */
async function fromTimedatectl(signal: AbortSignal, notes: string[]): Promise<Map<string, string> | null> {
  try {
    const r = await run("timedatectl", ["show"], [], { timeoutMs: TIMEDATECTL_TIMEOUT_MS, maxBytes: 64 * 1024, signal });
    if (r.exitCode === 0) return parseTimedatectl(r.stdout);
    notes.push(`timedatectl failed (exit ${r.exitCode}): ${capText(r.stderr.trim().split("\n")[0] ?? "", 200)}`);
  } catch (err) {
    notes.push(`timedatectl could not run: ${err instanceof ExecError ? err.message : String(err)}`);
  }
  return null;
}

export async function readTimeSync(signal: AbortSignal): Promise<Output> {
  const notes: string[] = [];
  const [daemons, timezone, systemd] = await Promise.all([runningTimeDaemons(), readTimezone(), systemdIsRunning()]);
  const base = { ntpDaemons: daemons, timezone, systemTime: new Date().toISOString() };

  const props = systemd ? await fromTimedatectl(signal, notes) : null;
  if (!systemd) notes.push("systemd is not PID 1 on this host: timedatectl was not asked");
  if (props) {
    return {
      ...base,
      source: "timedatectl",
      synchronized: yesNo(props.get("NTPSynchronized")),
      ntpEnabled: yesNo(props.get("NTP")),
      timezone: props.get("Timezone") || timezone,
      localRtc: yesNo(props.get("LocalRTC")),
      notes,
    };
  }

  // Without systemd: timesyncd touches this file once it has synchronised the clock.
  const flag = await access("/run/systemd/timesync/synchronized").then(() => true, () => false);
  let synchronized: boolean | null = null;
  if (flag) synchronized = true;
  else if (daemons.includes("systemd-timesyncd")) synchronized = false;
  else if (daemons.length > 0) notes.push(`${daemons.join(", ")} runs, but its state cannot be read without systemd or its own client`);
  else notes.push("no time daemon runs and systemd cannot be asked: synchronisation unknown");
  return { ...base, source: "files", synchronized, ntpEnabled: null, localRtc: null, notes };
}
