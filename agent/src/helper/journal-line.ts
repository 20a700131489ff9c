// The helper's records also go straight to the journal, over journald's stream socket (the
// protocol systemd itself uses to connect a service's stdout), so that they survive the operator
// agent dying mid-action: the helper's stderr is a pipe to the agent, and a dead agent's pipe
// loses every line written after it. No process is spawned. Best effort by design: the root-owned
// ledger file (ledger.ts) is the durable record; without a journald (a container without systemd,
// a local development fleet) this does nothing.
import { createConnection } from "node:net";

const JOURNAL_STREAM = "/run/systemd/journal/stdout";
const PRIORITY_INFO = 6;

/** Sends one line to the journal as `hostward-action`; resolves when sent or given up (≤ 1 s). */
export function journalLine(line: string, socketPath: string = JOURNAL_STREAM): Promise<void> {
  return new Promise((resolve) => {
    const sock = createConnection({ path: socketPath });
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve();
    };
    const timer = setTimeout(done, 1000);
    sock.once("error", done);
    sock.once("connect", () => {
      // identifier, unit id, priority, level prefix, forward to syslog, kmsg, console; then the text.
      const header = `hostward-action\n\n${PRIORITY_INFO}\n0\n0\n0\n0\n`;
      sock.end(`${header}${line.replace(/\n/g, " ")}\n`, done);
    });
  });
}
