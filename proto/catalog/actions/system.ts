// Host-wide actions: DNS cache flush, log rotation and a scheduled reboot. Each runs fixed
// commands chosen by the helper from the host's own state (the preview's facts); none takes a
// free-form value.
import { z } from "zod";
import { defineAction } from "../define-action";

export const flushDnsCache = defineAction({
  name: "flush_dns_cache",
  title: "Flush the DNS cache",
  summary:
    "Empties the host's DNS resolver cache (unbound or systemd-resolved, whichever runs). Harmless: the next lookups are slower. Use it after a DNS record changed.",
  impact: "LOW",
  params: z.strictObject({}),
  timeoutMs: 30_000,
  allowlist: "none",
  needsSystemd: true,
  preview: "resolver",
  material: ["resolver"],
  prechecks: [{ text: "unbound.service or systemd-resolved.service is active (unbound first); refused when neither runs" }],
  steps: [
    { id: "unbound", program: "unbound-control", options: ["flush_zone", "."], when: { fact: "resolver", equals: "unbound.service" } },
    { id: "resolved", program: "resolvectl", options: ["flush-caches"], when: { fact: "resolver", equals: "systemd-resolved.service" } },
    { id: "show-after", program: "systemctl", options: ["show", "--no-pager", "--property=Id,ActiveState,SubState"], values: ["{resolver}"], quiet: true, when: { fact: "resolver", oneOf: ["unbound.service", "systemd-resolved.service"] } },
  ],
  postchecks: [{ text: "the command exits 0 and the resolver unit is still active" }],
  examples: [{ description: "Flush the resolver cache", params: {} }],
});

const rotateLogs = defineAction({
  name: "rotate_logs",
  title: "Rotate logs",
  summary: "Runs the system's own logrotate job now (logrotate.service with /etc/logrotate.conf). Use it when /var/log is filling up.",
  impact: "LOW",
  params: z.strictObject({}),
  timeoutMs: 120_000,
  allowlist: "none",
  needsSystemd: true,
  preview: "logrotate",
  material: ["loadState"],
  prechecks: [{ text: "logrotate.service is loaded" }],
  steps: [
    { id: "start", program: "systemctl", options: ["start", "--no-pager", "--no-ask-password"], values: ["logrotate.service"] },
    { id: "show-after", program: "systemctl", options: ["show", "--no-pager", "--property=Id,LoadState,ActiveState,SubState,Result,ExecMainStatus"], values: ["logrotate.service"], quiet: true },
  ],
  postchecks: [{ text: "logrotate.service finished with Result=success" }],
  examples: [{ description: "Rotate logs now", params: {} }],
});

const rebootSystem = defineAction({
  name: "reboot_system",
  title: "Reboot the host",
  summary:
    "Schedules a reboot of the whole host `delaySeconds` from now (60..3600, default 60), so this result returns before the host goes down. Every service on the host stops; the preview lists who is logged in and what runs.",
  impact: "HIGH",
  params: z.strictObject({
    delaySeconds: z.number().int().min(60).max(3600).default(60).describe("seconds until the reboot (the helper rounds up to whole minutes)"),
  }),
  timeoutMs: 30_000,
  allowlist: "reboot",
  needsSystemd: true,
  preview: "reboot",
  material: ["users"],
  prechecks: [{ text: "actions.yaml has `reboot: true`" }, { text: "the users logged in are still those the preview listed" }],
  steps: [{ id: "shutdown", program: "shutdown", options: ["-r", "+{minutes}"], note: "(minutes: delaySeconds rounded up)" }],
  postchecks: [{ text: "the reboot is scheduled (systemd reports the pending shutdown)" }],
  examples: [
    { description: "Reboot in one minute", params: {} },
    { description: "Reboot in ten minutes", params: { delaySeconds: 600 } },
  ],
});

export const systemActions = [flushDnsCache, rotateLogs, rebootSystem] as const;
