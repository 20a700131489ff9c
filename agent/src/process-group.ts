// Ending a command's whole process tree at its deadline. Every command the agent or the helper
// starts runs in a process group of its own (spawn's `detached`, or the session node-pty makes
// for a pty): SIGKILL to the group ends the command and every child it left behind, so a
// grandchild holding the output pipe cannot keep the call (or the root helper) past its deadline.
// A process that made a session of its own has left the group; the caller also stops reading the
// pipes at the deadline, so even such a process cannot hold the call open.

/** SIGKILL to the process group `pid` leads; a group that is already gone is not an error. */
export function killProcessGroup(pid: number | undefined): void {
  if (pid === undefined || pid <= 1) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}
