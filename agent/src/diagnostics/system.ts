// System diagnostics: /proc and statfs on hot paths, systeminformation for inventory.
import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { systemDiagnostics } from "../../../proto/catalog/diagnostics/system";
import type { HandlerMap } from "./context";

export const systemHandlers: HandlerMap<typeof systemDiagnostics> = {
  async get_load() {
    const [loadavg, uptime] = await Promise.all([readFile("/proc/loadavg", "utf8"), readFile("/proc/uptime", "utf8")]);
    const [l1, l5, l15, tasks] = loadavg.trim().split(/\s+/);
    const [runnable, total] = (tasks ?? "0/0").split("/");
    return {
      load1: Number(l1),
      load5: Number(l5),
      load15: Number(l15),
      cpus: availableParallelism(),
      runnable: Number(runnable),
      tasks: Number(total),
      uptimeSeconds: Number(uptime.split(/\s+/)[0]),
    };
  },
};
