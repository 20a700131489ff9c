// Service actions: restart, reload or start one allowlisted systemd unit. The helper resolves the
// unit's canonical Id (`systemctl show -p Id`) and compares THAT with /etc/hostward/actions.yaml
// `units`, so an alias or a missing ".service" suffix cannot slip past the allowlist.
import { z } from "zod";
import { defineAction } from "../define-action";
import { serviceUnitName } from "../grammar";

const unitParams = z.strictObject({
  unit: serviceUnitName.describe('a service unit; ".service" is added when no suffix is given (nginx → nginx.service, which is what is approved and run); other unit types are refused'),
});

const UNIT_PRECHECK =
  "The unit is loaded (LoadState=loaded) and its canonical Id is listed in /etc/hostward/actions.yaml `units`; " +
  "for caddy.service `caddy validate` and for unbound.service `unbound-checkconf` must pass first.";

const SHOW = "systemctl show --no-pager -p Id,LoadState,ActiveState,SubState,MainPID,NRestarts -- {unit}";
const CONFIG_CHECKS = [
  "caddy validate --config=/etc/caddy/Caddyfile   (caddy.service only)",
  "unbound-checkconf   (unbound.service only)",
];

export const restartService = defineAction({
  name: "restart_service",
  title: "Restart a service",
  summary:
    "Stops and starts one allowlisted systemd service. Brief downtime; use it when a service is failed or stuck. The result compares ActiveState and MainPID before and after.",
  impact: "MEDIUM",
  params: unitParams,
  timeoutMs: 120_000,
  precheck: UNIT_PRECHECK,
  postcheck: "ActiveState=active within 30 s and MainPID differs from the one before the restart.",
  runs: [SHOW, ...CONFIG_CHECKS, "systemctl restart --no-pager --no-ask-password -- {unit}", `${SHOW}   (until active, ≤ 30 s)`],
  examples: [
    { description: "Restart unbound", params: { unit: "unbound.service" } },
    { description: "Restart caddy (validated first)", params: { unit: "caddy" } },
  ],
});

export const reloadService = defineAction({
  name: "reload_service",
  title: "Reload a service",
  summary:
    "Asks one allowlisted systemd service to reload its configuration without stopping (ExecReload). No downtime; refused when the unit cannot reload (CanReload=no).",
  impact: "LOW",
  params: unitParams,
  timeoutMs: 60_000,
  precheck: `${UNIT_PRECHECK} The unit must be active and have CanReload=yes.`,
  postcheck: "ActiveState=active within 30 s (a reload keeps the same MainPID).",
  runs: [SHOW, ...CONFIG_CHECKS, "systemctl reload --no-pager --no-ask-password -- {unit}", `${SHOW}   (until active, ≤ 30 s)`],
  examples: [{ description: "Reload caddy after a config change", params: { unit: "caddy.service" } }],
});

export const startService = defineAction({
  name: "start_service",
  title: "Start a service",
  summary: "Starts one allowlisted systemd service that is stopped or failed. Does nothing to a service that is already active.",
  impact: "MEDIUM",
  params: unitParams,
  timeoutMs: 120_000,
  precheck: UNIT_PRECHECK,
  postcheck: "ActiveState=active within 30 s.",
  runs: [SHOW, ...CONFIG_CHECKS, "systemctl start --no-pager --no-ask-password -- {unit}", `${SHOW}   (until active, ≤ 30 s)`],
  examples: [{ description: "Start nginx", params: { unit: "nginx.service" } }],
});

export const serviceActions = [restartService, reloadService, startService] as const;
