// StateWatch for the file store: inotify (fs.watch) on <stateDir>/actions and <stateDir>/rollouts.
// Records are replaced by rename (write a temporary file, fsync, rename), so every change ends with
// an event naming `<id>.json`; events are coalesced per record for a few ms. A directory that does
// not exist yet is created (0700, as the stores create it); a watch that fails (the directory
// removed, inotify limits) is reported once and retried on the next subscription.
import { mkdirSync, watch, type FSWatcher } from "node:fs";
import { join } from "node:path";
import { ACTION_ID } from "../actions/request";
import { ROLLOUT_RECORD_ID } from "../rollouts/record";
import type { StateChange, StateWatch } from "./store";

const COALESCE_MS = 25;

const DIRS: ReadonlyArray<{ dir: string; kind: StateChange["kind"]; id: RegExp }> = [
  { dir: "actions", kind: "action", id: new RegExp(`^(${ACTION_ID.source.slice(1, -1)})\\.json$`) },
  { dir: "rollouts", kind: "rollout", id: new RegExp(`^(${ROLLOUT_RECORD_ID.source.slice(1, -1)})\\.json$`) },
];

export function watchStateFiles(stateDir: string, warn: (message: string) => void = () => undefined): StateWatch {
  const listeners = new Set<(change: StateChange) => void>();
  let watchers: FSWatcher[] = [];
  const pending = new Map<string, StateChange>();
  let timer: NodeJS.Timeout | undefined;

  const flush = () => {
    timer = undefined;
    const changes = [...pending.values()];
    pending.clear();
    for (const change of changes) for (const l of listeners) l(change);
  };
  const start = () => {
    for (const { dir, kind, id } of DIRS) {
      const path = join(stateDir, dir);
      try {
        mkdirSync(path, { recursive: true, mode: 0o700 });
        const w = watch(path, { persistent: false }, (_event, filename) => {
          const m = typeof filename === "string" ? id.exec(filename) : null;
          if (!m?.[1]) return;
          pending.set(`${kind}:${m[1]}`, { kind, id: m[1] });
          timer ??= setTimeout(flush, COALESCE_MS);
        });
        w.on("error", (err) => {
          warn(`watching ${path} stopped: ${err.message}`);
          w.close();
          watchers = watchers.filter((x) => x !== w);
        });
        watchers.push(w);
      } catch (err) {
        warn(`cannot watch ${path} for changes (subscribed clients will not be told of them): ${(err as Error).message}`);
      }
    }
  };
  const stop = () => {
    for (const w of watchers) w.close();
    watchers = [];
    if (timer) clearTimeout(timer);
    timer = undefined;
    pending.clear();
  };
  return {
    watch(listener) {
      listeners.add(listener);
      if (watchers.length === 0) start();
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) stop();
      };
    },
  };
}
