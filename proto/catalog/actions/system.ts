// Host-wide actions: DNS cache flush, log rotation and a scheduled reboot. Each runs one fixed
// command chosen by the helper from the host's own state; none takes a free-form value.
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
  precheck: "unbound.service or systemd-resolved.service is active (unbound first); refused when neither runs.",
  postcheck: "The command exits 0 and the resolver unit is still active.",
  runs: ["unbound-control flush_zone .   (when unbound.service is active)", "resolvectl flush-caches   (otherwise, when systemd-resolved.service is active)"],
  examples: [{ description: "Flush the resolver cache", params: {} }],
});

export const rotateLogs = defineAction({
  name: "rotate_logs",
  title: "Rotate logs",
  summary: "Runs the system's own logrotate job now (logrotate.service with /etc/logrotate.conf). Use it when /var/log is filling up.",
  impact: "LOW",
  params: z.strictObject({}),
  timeoutMs: 120_000,
  precheck: "logrotate.service is loaded.",
  postcheck: "logrotate.service finished with Result=success.",
  runs: ["systemctl start --no-pager --no-ask-password -- logrotate.service", "systemctl show --no-pager -p Result,ExecMainStatus -- logrotate.service"],
  examples: [{ description: "Rotate logs now", params: {} }],
});

export const rebootSystem = defineAction({
  name: "reboot_system",
  title: "Reboot the host",
  summary:
    "Schedules a reboot of the whole host `delaySeconds` from now (60..3600, default 60), so this result returns before the host goes down. Every service on the host stops.",
  impact: "HIGH",
  params: z.strictObject({
    delaySeconds: z.number().int().min(60).max(3600).default(60).describe("seconds until the reboot (the helper rounds up to whole minutes)"),
  }),
  timeoutMs: 30_000,
  precheck: "/etc/hostward/actions.yaml has `reboot: true`.",
  postcheck: "The reboot is scheduled (systemd reports the pending shutdown).",
  runs: ["shutdown -r +MINUTES   (MINUTES = {delaySeconds} s rounded up to whole minutes)"],
  examples: [
    { description: "Reboot in one minute", params: {} },
    { description: "Reboot in ten minutes", params: { delaySeconds: 600 } },
  ],
});

export const systemActions = [flushDnsCache, rotateLogs, rebootSystem] as const;
