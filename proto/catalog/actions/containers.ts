// Container actions: podman containers by name or ID. The helper resolves the name to the
// container's full ID (`podman container inspect`) and compares the ID and the container's name
// with /etc/hostward/actions.yaml `containers`, so a prefix of another container's ID cannot match.
import { z } from "zod";
import { defineAction } from "../define-action";
import { containerName } from "../grammar";

const INSPECT = "podman container inspect --format {{.Id}} {{.State.Status}} {{.State.StartedAt}} -- {name}";

export const restartContainer = defineAction({
  name: "restart_container",
  title: "Restart a container",
  summary:
    "Restarts one allowlisted podman container (stop with its stop timeout, then start). Brief downtime of what it serves; the result compares state and start time before and after.",
  impact: "MEDIUM",
  params: z.strictObject({ name: containerName.describe("container name or ID, resolved to the full ID on the host") }),
  timeoutMs: 90_000,
  precheck: "The container exists and its full ID or name is listed in /etc/hostward/actions.yaml `containers`.",
  postcheck: "The container is running within 30 s and its StartedAt changed.",
  runs: [INSPECT, "podman restart -- FULL_ID_OF_{name}", `${INSPECT}   (until running, ≤ 30 s)`],
  examples: [{ description: "Restart the web container", params: { name: "web" } }],
});

export const containerActions = [restartContainer] as const;
