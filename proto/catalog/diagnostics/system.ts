// System diagnostics: hardware, OS, load, memory, disks, processes.
import { z } from "zod";
import { defineDiagnostic } from "../define";

export const getLoad = defineDiagnostic({
  name: "get_load",
  group: "system",
  title: "Load average",
  summary:
    "Load averages over 1, 5 and 15 minutes with the CPU count and runnable/total task counts, read from /proc/loadavg. Use it first when a host is slow.",
  input: z.strictObject({}),
  output: z.object({
    load1: z.number(),
    load5: z.number(),
    load15: z.number(),
    cpus: z.number().int().describe("online CPUs; load above this means queued work"),
    runnable: z.number().int(),
    tasks: z.number().int(),
    uptimeSeconds: z.number(),
  }),
  limits: ["No arguments; reads /proc only, nothing spawned."],
  examples: [{ description: "How loaded is the host", input: {} }],
});

// TODO(helper): get_system_info, get_cpu_info, get_memory_info, get_disk_usage, get_block_devices, list_processes, get_process_info
export const systemDiagnostics = [getLoad] as const;
