// Who runs a roll-out, and when another broker may take it over (issue 14: "a broker restart
// resumes or clearly halts a roll-out — never repeats a host").
//
// A pid alone proves nothing: after a reboot or a container restart the same pid is another process
// (a broker that is PID 1 of its container comes back with the same pid), and a pid recorded in
// another PID namespace names some unrelated process here. So the record names its owner by a
// token this process drew, plus what proves on this machine that the process is gone: the boot id,
// the PID namespace and the process's start time. Another broker takes over when
//   - that proof holds: same boot, same PID namespace, and no process with that pid, or one that
//     started at another time (the owner died); or
//   - the owner's lease has lapsed: it renews `leaseUntil` while it runs, so a broker on another
//     machine, in another namespace, or frozen (SIGSTOP) for longer than the lease is taken over.
// A frozen owner that wakes after a takeover finds another token in the record and writes nothing
// more (service.ts checks the token under the record's lock); a host it was already contacting
// runs its part at most once whatever both brokers do — the helper's ledger refuses a second start
// of one request id, and a ledger query voids an id that never started.
// Clocks: the lease is judged on the wall clock. A clock stepped forward can make a lease look
// lapsed early (a takeover while the owner lives, safe for the reason above); stepped back, it
// delays a takeover (the safe direction).
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import type { RolloutOwner } from "./record";

/** How long a lease lasts, and how often the running broker renews it (RolloutService's defaults). */
export const LEASE_MS = 60_000;
export const RENEW_MS = 15_000;

function read(fn: () => string): string | undefined {
  try {
    return fn().trim();
  } catch {
    return undefined; // not Linux, or /proc not mounted: only the lease decides
  }
}

/**
 * Field 22 of /proc/<pid>/stat (starttime, clock ticks since boot; the command name before it may
 * hold spaces and parentheses). null: no such process (or one that has exited, not yet reaped); undefined: cannot tell.
 */
function startTimeOf(pid: number | "self"): string | null | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT" && existsSync("/proc/self/stat") ? null : undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // A zombie (Z) or a dead task (X) has exited: only its parent has not reaped it yet.
  if (pid !== "self" && (fields[0] === "Z" || fields[0] === "X")) return null;
  return fields[19];
}

let self: RolloutOwner | undefined;

/** This broker process as an owner (drawn once per process). */
export function processOwner(): RolloutOwner {
  if (!self) {
    const bootId = read(() => readFileSync("/proc/sys/kernel/random/boot_id", "latin1"));
    const pidNamespace = read(() => readlinkSync("/proc/self/ns/pid"));
    const startTime = startTimeOf("self");
    self = { token: randomBytes(16).toString("hex"), ...(bootId && { bootId }), ...(pidNamespace && { pidNamespace }), ...(startTime && { startTime }) };
  }
  return self;
}

/**
 * Whether the owner (pid `pid` when it recorded itself) is provably gone, judged on this machine:
 * true only when the boot and the PID namespace are this process's and that pid is free or now
 * another process. Anything else (another machine, namespace, no /proc) is not proof: wait for the lease.
 */
export function ownerGone(owner: RolloutOwner, pid: number, me: RolloutOwner = processOwner()): boolean {
  if (owner.token === me.token) return false;
  if (!owner.bootId || !owner.pidNamespace || !owner.startTime) return false;
  if (owner.bootId !== me.bootId || owner.pidNamespace !== me.pidNamespace) return false;
  const now = startTimeOf(pid);
  // No process with that pid: gone. A process that started at another time: the pid was reused.
  if (now === undefined) return false;
  return now === null || now !== owner.startTime;
}
