// Container actions: podman containers by name or full ID. The helper's preview resolves the name
// to the container's full ID (`podman container inspect`, fact `id`) and compares the ID and the
// container's name with /etc/hostward/actions.yaml `containers`, so a prefix of another
// container's ID cannot match; the commands name the full ID.
//
// podman writes its storage and runtime state (/var/lib/containers, /run/containers …), which the
// operator unit's sandbox makes read-only, so the commands that change a container run as a
// transient systemd unit; KillMode=process leaves the container's conmon running when podman
// itself exits.
import { z } from "zod";
import { defineAction, type StepDef } from "../define-action";
import { containerName } from "../grammar";

const params = z.strictObject({ name: containerName.describe("container name or full 64-character ID (an ID prefix is refused)") });
const inspect = (id: "inspect" | "inspect-after", note?: string): StepDef => ({
  id,
  program: "podman",
  options: ["container", "inspect"],
  values: ["{id}"],
  quiet: true,
  ...(note !== undefined && { note }),
});
const podman = (verb: string): StepDef => ({ id: verb, program: "podman", options: [verb], values: ["{id}"], transient: { properties: ["KillMode=process"] } });
const COMMON = { params, allowlist: "container", needsSystemd: false, preview: "container", material: ["id"] } as const;
const EXISTS = { text: "the container exists and its exact name or full ID is listed in actions.yaml `containers`" };

const restartContainer = defineAction({
  ...COMMON,
  name: "restart_container",
  title: "Restart a container",
  summary:
    "Restarts one allowlisted podman container (stop with its stop timeout, then start). Brief downtime of what it serves; the result compares state and start time before and after.",
  impact: "MEDIUM",
  timeoutMs: 90_000,
  prechecks: [EXISTS],
  steps: [inspect("inspect"), podman("restart"), inspect("inspect-after")],
  postchecks: [{ text: "the container is running and its StartedAt changed" }],
  examples: [{ description: "Restart the web container", params: { name: "web" } }],
});

const stopContainer = defineAction({
  ...COMMON,
  name: "stop_container",
  title: "Stop a container",
  summary: "Stops one allowlisted podman container (SIGTERM, then SIGKILL after its stop timeout). What it serves is down until it is started again.",
  impact: "MEDIUM",
  timeoutMs: 90_000,
  prechecks: [EXISTS, { text: "the container is running" }],
  steps: [inspect("inspect"), podman("stop"), inspect("inspect-after")],
  postchecks: [{ text: "the container is no longer running (exited or stopped)" }],
  inverse: "start_container",
  examples: [{ description: "Stop the batch container", params: { name: "batch" } }],
});

const startContainer = defineAction({
  ...COMMON,
  name: "start_container",
  title: "Start a container",
  summary: "Starts one allowlisted podman container that exists and is not running.",
  impact: "MEDIUM",
  timeoutMs: 90_000,
  prechecks: [EXISTS, { text: "the container is not running" }],
  steps: [inspect("inspect"), podman("start"), inspect("inspect-after")],
  postchecks: [{ text: "the container is running" }],
  inverse: "stop_container",
  examples: [{ description: "Start the web container", params: { name: "web" } }],
});

export const containerActions = [restartContainer, stopContainer, startContainer] as const;
