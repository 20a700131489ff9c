// The runbooks (issue 17): the incidents sysadmins meet most, each a defineRunbook of steps (typed
// diagnostics and broker tools, with their arguments and what to look for in their output) and of
// typed repairs. Served as MCP prompts (their names) and rendered into docs/runbooks.md by
// `npm run gen`; test/contract/runbooks.test.ts checks each against the catalog and the broker's
// tools (checkRunbook). In the order the issue lists them.
import { journalTime } from "../grammar";
import { defineRunbook, type RunbookArgument, type RunbookDef } from "./define";

const HOST: RunbookArgument = { name: "host", description: "the host (its inventory name, see list_hosts)", required: true, kind: "host" };
const SINCE: RunbookArgument = {
  name: "since",
  description: 'how far back to read logs and errors: "-1h", "-30min", "-1d", "today" or "YYYY-MM-DD HH:MM"',
  required: false,
  kind: "text",
  default: "-1h",
  grammar: journalTime,
  example: "-2h",
};

const MiB = 1024 * 1024;

const unitFailed = defineRunbook({
  name: "unit_failed",
  title: "A unit failed or will not start",
  description:
    "One systemd unit on one host is failed, restarting in a loop or will not start. Find out why from systemd's own state, its logs and its dependencies before proposing to start or restart it: a restart that meets the same cause fails again.",
  arguments: [HOST, { name: "unit", description: 'the unit, e.g. "nginx" or "nginx.service"', required: true, kind: "unit", hostArgument: "host" }, SINCE],
  fill: {
    failedDependency: { from: "a unit of step 5's failedDependencies[].unit", example: "postgresql.service" },
  },
  steps: [
    {
      tool: "list_failed_units",
      target: "{host}",
      why: "What else has failed on the host: several failed units at once point at a shared cause (a mount, the network, a full disk), not at this unit.",
      lookFor: [{ field: "units", op: "nonEmpty", meaning: "failed units; more than this one: look for what they share before repairing any" }],
    },
    {
      tool: "get_service_status",
      target: "{host}",
      input: { unit: "{unit}" },
      why: "systemd's view of the unit: whether it is loaded, failed or activating, how its main process last ended and how often it was restarted.",
      lookFor: [
        { field: "loadState", op: "!=", value: "loaded", meaning: "the unit file is missing, masked or broken (not-found, masked, bad-setting, error): no start or restart helps; see loadError" },
        { field: "loadError", op: "!=", value: null, meaning: "why systemd could not load the unit file" },
        { field: "activeState", op: "==", value: "failed", meaning: "the unit failed; `result` says how" },
        {
          field: "result",
          op: "!=",
          value: "success",
          meaning: "how it last failed: exit-code (the program exited with an error: read its logs), signal (killed: SIGKILL 9 is often the OOM killer), timeout (did not start or stop in time), start-limit-hit (restarted too often: systemd refuses to start it until its failed state is reset)",
        },
        { field: "lastExit.status", op: "!=", value: 0, meaning: "the exit status (or signal number, when lastExit.code is killed or dumped) of the last run" },
        { field: "restarts", op: ">=", value: 3, meaning: "systemd restarted it automatically several times: a crash loop, whose cause a restart by hand does not remove" },
        { field: "unitFileState", op: "==", value: "disabled", meaning: "not started at boot: if it should be, that is why it is down after a reboot" },
      ],
    },
    {
      tool: "get_service_logs",
      target: "{host}",
      input: { unit: "{unit}", since: "{since}", lines: 100 },
      why: "The unit's own words: the last lines before it stopped name the cause far more often than its state does.",
      lookFor: [
        { field: "entries[].priority", op: "==", value: "err", meaning: "its errors: the first one after the start attempt is usually the cause, the rest follow from it" },
        { field: "entries[].message", op: "contains", value: "Address already in use", meaning: "another process holds its port: see step 6 before restarting" },
        { field: "entries[].message", op: "contains", value: "No space left on device", meaning: "a full filesystem: run the disk_filling runbook first" },
        { field: "entries[].message", op: "contains", value: "Permission denied", meaning: "a file or directory it needs has the wrong owner or mode: no typed action changes that (escalate)" },
        { field: "truncated", op: "==", value: true, meaning: "older lines exist: widen `since`, or page on with get_journal_logs from `cursor`" },
      ],
    },
    {
      tool: "analyze_errors",
      target: "{host}",
      input: { since: "{since}", top: 20 },
      why: "Errors of the whole host over the same window, grouped: a database, DNS or a disk failing at the same time is a cause outside the unit.",
      lookFor: [
        { field: "groups[].unit", meaning: "which units logged errors; others than this one around the same time (firstSeen, lastSeen) may be the cause" },
        { field: "groups[].count", op: ">=", value: 10, meaning: "an error that repeats: the pattern (sample is the newest message) is a cause, not noise" },
      ],
    },
    {
      tool: "check_service_health",
      target: "{host}",
      input: { unit: "{unit}", since: "{since}" },
      why: "One verdict with its reasons: the unit's state, its recent errors, the sockets it listens on and its failed dependencies.",
      lookFor: [
        { field: "verdict", op: "!=", value: "healthy", meaning: "failed, degraded or inactive; `reasons` says why" },
        { field: "failedDependencies", op: "nonEmpty", meaning: "a unit it Requires=, Wants= or BindsTo= is failed: repair that one first (failedDependency)" },
        { field: "listening.sockets", op: "empty", meaning: "it listens nowhere: a server that is active but has no socket is not serving (if `listening.readable` is true)" },
      ],
    },
    {
      tool: "get_listening_ports",
      target: "{host}",
      input: { protocol: "tcp" },
      if: "when its logs say the address is already in use",
      why: "Which process holds the port the unit wants.",
      lookFor: [{ field: "sockets[].process", meaning: "the process on the unit's port (with `sockets[].port`); an old instance of the same program, or another service" }],
    },
  ],
  repairs: [
    {
      action: "reset_failed_unit",
      params: { unit: "{unit}" },
      when: "result is start-limit-hit (systemd refuses to start it again), or the unit failed once and is not needed now, so alerting stops; starts nothing",
    },
    {
      action: "start_service",
      params: { unit: "{unit}" },
      when: "the unit is inactive or failed and the cause is gone (the dependency is back, the disk has room, the port is free); after reset_failed_unit when the start limit was hit",
    },
    {
      action: "restart_service",
      params: { unit: "{unit}" },
      when: "the unit is active but stuck or degraded (verdict degraded, errors repeating), or after the cause was fixed while it kept running",
    },
    { action: "start_service", params: { unit: "{failedDependency}" }, when: "a dependency it needs is failed (step 5): start the dependency first, then this unit" },
    { action: "enable_service", params: { unit: "{unit}" }, when: "it should run at boot but unitFileState is disabled; enabling does not start it now" },
  ],
  noRepair:
    "A unit that does not load (loadState not loaded), a configuration error, a missing file, wrong permissions or a program that crashes at start whatever is done: hostward has no action that edits files, unit files or configuration. Stop there and escalate to a human with the unit's status fields (loadState, result, lastExit) and the first error lines of its logs. An action on a unit the host's actions.yaml does not list is refused by the host.",
});

const diskFilling = defineRunbook({
  name: "disk_filling",
  title: "A disk is filling up",
  description:
    "A filesystem of one host is full or filling (space or inodes). Find which filesystem and what broke because of it, then free space with the typed actions whose preview says how many bytes each frees. Nothing here deletes application data.",
  arguments: [
    HOST,
    { name: "mount", description: "a mount point to look at, e.g. /var (absent: every filesystem)", required: false, kind: "path", example: "/var" },
    { name: "logFile", description: "a log file you suspect grew, under the host's log roots (e.g. /var/log/app/debug.log)", required: false, kind: "path" },
  ],
  fill: {
    failedUnit: { from: "a service of step 3's units[].unit that failed for lack of space", example: "postgresql.service" },
  },
  steps: [
    {
      tool: "get_disk_usage",
      target: "{host}",
      input: { mountPoint: "{mount}" },
      why: "Which filesystem is full, by space and by inodes (df -h and df -i in one answer).",
      lookFor: [
        { field: "filesystems[].usedPercent", op: ">=", value: 90, meaning: "nearly full (df's Use%): act before 100 %, when writes start failing" },
        { field: "filesystems[].availableBytes", op: "==", value: 0, meaning: "full for every user but root (root's reserve may remain)" },
        { field: "filesystems[].inodesUsedPercent", op: ">=", value: 90, meaning: "out of inodes: writes fail with space free; millions of small files (a spool, a cache, sessions), which these repairs free few of" },
        { field: "filesystems[].readOnly", op: "==", value: true, meaning: "mounted read-only: after file system errors the kernel remounts it so (see step 5); freeing space does not help" },
        { field: "filesystems[].error", op: "!=", value: null, meaning: "the filesystem did not answer (a hung network mount): not a space problem" },
      ],
    },
    {
      tool: "get_journal_logs",
      target: "{host}",
      input: { grep: "No space left on device", since: "-1d", lines: 50 },
      why: "What already failed to write, and since when.",
      lookFor: [
        { field: "entries", op: "nonEmpty", meaning: "programs that hit the full disk: their units (entries[].unit) may need a restart once space is free" },
        { field: "entries[].unit", meaning: "who writes where: the unit filling the disk is often the one complaining first" },
      ],
    },
    {
      tool: "list_failed_units",
      target: "{host}",
      why: "Services that died because they could not write.",
      lookFor: [{ field: "units", op: "nonEmpty", meaning: "failed units (failedUnit): start them again once space is free, not before" }],
    },
    {
      tool: "read_log_file",
      target: "{host}",
      input: { path: "{logFile}", tailLines: 50 },
      requires: ["logFile"],
      why: "How large the suspected log file is, and what it says: truncating it destroys its content, so read what matters first.",
      lookFor: [
        { field: "size", op: ">=", value: 1073741824, meaning: "over 1 GiB: worth emptying, once its last lines are read (lines)" },
        { field: "lines", meaning: "what keeps writing to it: a loop of the same error is a cause to report, or it grows again" },
      ],
    },
    {
      tool: "get_kernel_messages",
      target: "{host}",
      input: { priority: "err", lines: 50 },
      if: "when a filesystem is read-only or has an error",
      why: "File system and disk errors of this boot.",
      lookFor: [
        { field: "entries[].message", op: "contains", value: "I/O error", meaning: "the disk or its controller fails: escalate, do not free space" },
        { field: "entries[].message", op: "contains", value: "Remounting filesystem read-only", meaning: "the kernel protected the filesystem after errors: it needs a check by a human" },
      ],
    },
  ],
  repairs: [
    {
      action: "vacuum_journal",
      params: { by: "size", maxBytes: 512 * MiB },
      when: "the filesystem holding /var/log/journal (/ or /var) is filling: the journal is kept to 512 MiB; the host's preview says how many bytes it frees before anyone approves",
    },
    { action: "clean_package_cache", when: "/ or /var is filling: downloaded packages are deleted (downloaded again when needed); the preview says how many bytes" },
    { action: "rotate_logs", when: "log files under /var/log grew: the host's own logrotate rotates, compresses and removes old ones as configured" },
    {
      action: "truncate_log",
      params: { path: "{logFile}" },
      when: "one log file (step 4) takes the space and its content was read: it is emptied in place, its writer keeps writing; the file must be under the host's actions.yaml logFiles",
    },
    { action: "start_service", params: { unit: "{failedUnit}" }, when: "a service failed for lack of space (step 3), once space is free" },
  ],
  noRepair:
    "A filesystem full of application data, databases, backups, uploads or container images, one out of inodes, or one mounted read-only or with I/O errors: hostward has no action that deletes data, grows a volume or checks a filesystem. Escalate to a human with the mount point, usedPercent and inodesUsedPercent, and the kernel messages.",
});

const highLoad = defineRunbook({
  name: "high_load",
  title: "High load or memory pressure",
  description:
    "One host is slow: load above its CPUs, the CPUs busy or waiting for I/O, memory or swap exhausted. Tell which resource is short and which process uses it before proposing anything; high load is often a symptom (I/O, swapping) rather than busy CPUs.",
  arguments: [HOST],
  fill: {
    pid: { from: "a pid of step 4's or step 5's processes[].pid (the busiest or largest)", example: 1234 },
    processUnit: { from: "the systemdUnit of step 6 (the service that owns the process)", example: "worker.service" },
  },
  steps: [
    {
      tool: "get_load",
      target: "{host}",
      why: "How loaded it is relative to its CPUs, and whether it is rising.",
      lookFor: [
        { field: "load5", op: ">", value: { field: "cpus" }, meaning: "more runnable (or I/O-blocked) tasks than CPUs for five minutes: work is queueing" },
        { field: "load1", op: ">", value: { field: "load15" }, meaning: "rising: it started in the last minutes (compare with deploys, cron jobs, traffic)" },
        { field: "runnable", op: ">", value: { field: "cpus" }, meaning: "CPU-bound right now; when load is high but runnable is low, tasks wait for I/O" },
      ],
    },
    {
      tool: "get_cpu_info",
      target: "{host}",
      why: "What the CPUs do over 200 ms: user work, the kernel, waiting for disks, or stolen by the hypervisor.",
      lookFor: [
        { field: "utilisation.busyPercent", op: ">=", value: 90, meaning: "the CPUs are saturated: find the process (step 4)" },
        { field: "utilisation.iowaitPercent", op: ">=", value: 20, meaning: "waiting for storage: the load is I/O, not CPU (processes in disk-sleep, step 4)" },
        { field: "utilisation.stealPercent", op: ">=", value: 10, meaning: "the hypervisor gives the CPUs to other guests: nothing on this host fixes it (escalate to whoever runs the hypervisor)" },
        { field: "utilisation.systemPercent", op: ">=", value: 30, meaning: "much kernel time: interrupts, many small I/Os or memory reclaim (see step 3)" },
      ],
    },
    {
      tool: "get_memory_info",
      target: "{host}",
      why: "Whether memory is short: a host that swaps is slow with idle CPUs.",
      lookFor: [
        { field: "usedPercent", op: ">=", value: 90, meaning: "little memory available to new work (availableBytes): the largest processes are in step 5" },
        { field: "swapUsedPercent", op: ">=", value: 50, meaning: "much swapped out: if the host is also slow, it is thrashing" },
        { field: "sharedBytes", meaning: "tmpfs and shared memory, which no process list shows and which is not reclaimed while in use" },
      ],
    },
    {
      tool: "list_processes",
      target: "{host}",
      input: { sortBy: "cpu", limit: 10 },
      why: "The busiest processes (CPU over 200 ms, in % of one CPU).",
      lookFor: [
        { field: "processes[].cpuPercent", op: ">=", value: 90, meaning: "a process keeping at least one CPU busy (200 = two CPUs)" },
        { field: "processes[].state", op: "==", value: "disk-sleep", meaning: "blocked on I/O (D state): it counts in the load without using CPU" },
        { field: "processes[].user", meaning: "whose it is: a login user's job is not a service hostward can act on" },
      ],
    },
    {
      tool: "list_processes",
      target: "{host}",
      input: { sortBy: "memory", limit: 10 },
      why: "The largest processes by resident memory.",
      lookFor: [{ field: "processes[].memoryPercent", op: ">=", value: 30, meaning: "one process holds a third of the memory or more: a leak, or a workload too large for the host" }],
    },
    {
      tool: "get_process_info",
      target: "{host}",
      input: { pid: "{pid}" },
      why: "The service that owns the process, which is what a typed action can act on.",
      lookFor: [
        { field: "systemdUnit", op: "!=", value: null, meaning: "the service (processUnit) whose restart would end the process" },
        { field: "startTime", meaning: "when it started: a process that has grown since days is a leak; one started minutes ago is a new job" },
      ],
    },
    {
      tool: "get_kernel_messages",
      target: "{host}",
      input: { priority: "err", lines: 100 },
      why: "The kernel's view: the OOM killer and tasks blocked on I/O.",
      lookFor: [
        { field: "entries[].message", op: "contains", value: "Out of memory", meaning: "the OOM killer ran: memory, not CPU, is the problem" },
        { field: "entries[].message", op: "contains", value: "blocked for more than", meaning: "tasks hung on I/O: slow or failing storage (escalate)" },
      ],
    },
    {
      tool: "compare_hosts",
      input: { host: "{host}", diagnostic: "get_load", input: {}, target: "*" },
      why: "Whether this host alone is loaded or the whole fleet is (a traffic peak, a shared dependency).",
      lookFor: [{ field: "differences", op: "nonEmpty", meaning: "where it stands apart from the fleet's usual answer; empty: the fleet is as loaded, look at what they share" }],
    },
  ],
  repairs: [
    {
      action: "restart_service",
      params: { unit: "{processUnit}" },
      when: "one service's process is runaway (a CPU loop, a memory leak: step 4 to 6) and a short interruption of that service is acceptable",
    },
    {
      action: "stop_service",
      params: { unit: "{processUnit}" },
      when: "a service that can wait (a batch worker, a backup) starves the host's real work: stop it now and start it again later (start_service, its undo); the preview lists the units that would stop with it",
    },
  ],
  noRepair:
    "Load from I/O wait or CPU steal, memory taken by a workload simply larger than the host, or a process outside any service (a login user's, a cron job's): hostward has no action that kills an arbitrary process, changes limits or adds capacity. Escalate to a human with the load, the utilisation and the top processes.",
});

const dnsFailing = defineRunbook({
  name: "dns_failing",
  title: "DNS resolution failing",
  description:
    "Names do not resolve on one host. Find whether it is the host's resolver configuration, its local resolver, the network to its name servers, its clock (DNSSEC) or the name itself, by asking from the host and from the fleet.",
  arguments: [HOST, { name: "name", description: "a name that fails to resolve, e.g. db.internal.example", required: true, kind: "domain" }],
  fill: {
    nameserver: { from: "a remote server of step 1's resolvConf.nameservers", example: "10.0.0.53" },
  },
  steps: [
    {
      tool: "get_dns_config",
      target: "{host}",
      why: "Which resolvers the host asks: a local stub (systemd-resolved, unbound) or remote servers.",
      lookFor: [
        { field: "resolvConf", op: "==", value: null, meaning: "no /etc/resolv.conf: nothing resolves (escalate: no action writes it)" },
        { field: "resolvConf.nameservers", op: "empty", meaning: "no name server configured" },
        { field: "localStub", op: "==", value: "systemd-resolved", meaning: "the host asks systemd-resolved on 127.0.0.53: check it (step 3)" },
        { field: "localStub", op: "==", value: "loopback", meaning: "another local resolver answers on the loopback, usually unbound: check it (step 4)" },
        { field: "nsswitchHosts", meaning: "where names are looked up, in order (files before dns: /etc/hosts wins)" },
      ],
    },
    {
      tool: "dns_lookup",
      target: "{host}",
      input: { name: "{name}", recordType: "A" },
      why: "The failing lookup itself, through the host's own resolvers.",
      lookFor: [
        { field: "status", op: "==", value: "NXDOMAIN", meaning: "the name does not exist for this resolver: a typo or a missing record, not a host problem (unless only this host says so: step 7)" },
        { field: "status", op: "==", value: "SERVFAIL", meaning: "the resolver could not get an answer: upstream down or DNSSEC validation failed (check the clock, step 6)" },
        { field: "status", op: "==", value: "TIMEOUT", meaning: "no answer at all: the resolver is down or unreachable" },
        { field: "status", op: "==", value: "REFUSED", meaning: "the server refuses this host's queries (its access control)" },
        { field: "status", op: "==", value: "NODATA", meaning: "the name exists without an A record: try AAAA or CNAME" },
      ],
    },
    {
      tool: "check_service_health",
      target: "{host}",
      input: { unit: "systemd-resolved.service" },
      if: "when step 1's localStub is systemd-resolved",
      why: "The local stub resolver's state and recent errors.",
      lookFor: [
        { field: "verdict", op: "!=", value: "healthy", meaning: "the stub itself is failed or degraded: restart it (repairs)" },
        { field: "recentErrors[].message", meaning: "what it could not reach or validate" },
      ],
    },
    {
      tool: "check_service_health",
      target: "{host}",
      input: { unit: "unbound.service" },
      if: "when step 1's localStub is loopback",
      why: "The local resolver's state and recent errors (unbound is the usual one).",
      lookFor: [
        { field: "verdict", op: "!=", value: "healthy", meaning: "the local resolver is failed or degraded" },
        { field: "listening.sockets", op: "empty", meaning: "it does not listen: nothing answers on the loopback" },
      ],
    },
    {
      tool: "test_connectivity",
      target: "{host}",
      input: { host: "{nameserver}", ports: [53], timeoutMs: 2000 },
      if: "when resolv.conf names remote servers",
      why: "Whether the host reaches its name server at all (TCP 53; most servers also answer over TCP).",
      lookFor: [
        { field: "results[].status", op: "==", value: "timeout", meaning: "dropped on the way: a firewall or a route (escalate to the network's owner)" },
        { field: "results[].status", op: "==", value: "refused", meaning: "the server host is up but nothing listens on 53" },
        { field: "results[].status", op: "==", value: "unreachable", meaning: "no route to the server: see get_routing_table" },
      ],
    },
    {
      tool: "get_time_sync",
      target: "{host}",
      why: "A clock far off makes DNSSEC signatures look expired or not yet valid: SERVFAIL for every signed zone.",
      lookFor: [
        { field: "synchronized", op: "==", value: false, meaning: "the clock is not synchronised: compare systemTime with your own" },
        { field: "systemTime", meaning: "the host's clock when it answered" },
      ],
    },
    {
      tool: "dns_lookup",
      target: "*",
      view: "summary",
      input: { name: "{name}", recordType: "A" },
      why: "The same lookup from every host: one host failing is that host; all failing is the zone or a shared resolver.",
      lookFor: [{ field: "status", op: "!=", value: "NOERROR", meaning: "the hosts that fail too (the summary groups hosts by their answer)" }],
    },
  ],
  repairs: [
    {
      action: "flush_dns_cache",
      when: "the record changed recently or the resolver holds a stale or negative answer (NXDOMAIN here, NOERROR on the other hosts): the host's resolver cache is emptied",
    },
    { action: "restart_service", params: { unit: "systemd-resolved.service" }, when: "systemd-resolved is failed or degraded (step 3)" },
    { action: "restart_service", params: { unit: "unbound.service" }, when: "unbound is failed or degraded (step 4); its configuration is checked (unbound-checkconf) before the restart" },
    {
      action: "flush_dns_cache",
      target: "*",
      rollout: true,
      strategy: {
        canaries: 1,
        batchSize: "25%",
        maxFailures: 0,
        gates: [{ diagnostic: "dns_lookup", input: { name: "{name}" }, when: [{ field: "status", op: "==", value: "NOERROR" }] }],
      },
      when: "many hosts cache the stale answer (step 7): one approval, host by host, each checked to resolve the name afterwards",
    },
  ],
  noRepair:
    "Wrong name servers or search domains in resolv.conf, a firewall dropping DNS, a missing or wrong record in the zone, or a clock that will not synchronise: hostward has no action that edits resolver configuration, firewall rules or DNS zones. Escalate to a human with the lookup's status from the host and from the fleet.",
});

const tlsExpiring = defineRunbook({
  name: "tls_expiring",
  title: "A TLS certificate is expiring or expired",
  description:
    "A site's certificate expires soon or has expired. Read the certificate the server really serves, then find why it was not renewed (the renewal job, the clock) and have the server load the renewed one. hostward requests and installs no certificate itself.",
  arguments: [
    { name: "host", description: "the host that serves the URL (the check runs from it)", required: true, kind: "host" },
    { name: "url", description: "the https:// URL whose certificate to check, e.g. https://www.example.org/", required: true, kind: "url" },
    { name: "unit", description: "the service that serves it (caddy, nginx, haproxy …)", required: false, kind: "unit", hostArgument: "host" },
    SINCE,
  ],
  fill: {
    renewalUnit: { from: "the service a renewal timer of step 3 activates (timers[].activates, e.g. certbot.service)", example: "certbot.service" },
  },
  steps: [
    {
      tool: "check_http",
      target: "{host}",
      input: { url: "{url}", method: "HEAD", insecureSkipVerify: true },
      why: "The certificate the server serves now (read even when it does not verify): its expiry, issuer and names.",
      lookFor: [
        { field: "tls.daysLeft", op: "<", value: 14, meaning: "expires within two weeks: ACME clients renew at 30 days, so the renewal is failing" },
        { field: "tls.daysLeft", op: "<", value: 0, meaning: "expired: clients refuse the site" },
        { field: "tls.verified", op: "==", value: false, meaning: "does not verify: tls.verifyError says why (expired, a name missing from subjectAltNames, an incomplete chain)" },
        { field: "tls.validTo", meaning: "the expiry date to report" },
        { field: "tls", op: "==", value: null, meaning: "no certificate read: an http:// URL, or the handshake failed (see error)" },
        { field: "error.kind", op: "==", value: "tls", meaning: "the TLS handshake failed: error.message says how" },
      ],
    },
    {
      tool: "get_time_sync",
      target: "{host}",
      why: "A clock off makes a valid certificate look expired or not yet valid, on the client and on the renewal job.",
      lookFor: [{ field: "synchronized", op: "==", value: false, meaning: "not synchronised: compare systemTime with your own before blaming the certificate" }],
    },
    {
      tool: "list_timers",
      target: "{host}",
      why: "The renewal job (certbot.timer, an acme timer): when it last ran and runs next. Servers such as caddy renew by themselves and have none.",
      lookFor: [
        { field: "timers[].activates", op: "contains", value: "certbot", meaning: "the renewal service it starts (renewalUnit)" },
        { field: "timers[].last", op: "==", value: null, meaning: "it never ran" },
        { field: "timers[].next", op: "==", value: null, meaning: "not scheduled any more" },
      ],
    },
    {
      tool: "get_service_logs",
      target: "{host}",
      input: { unit: "{renewalUnit}", since: "-7d", lines: 100 },
      why: "Why the last renewals failed.",
      lookFor: [
        { field: "entries[].priority", op: "==", value: "err", meaning: "the failures: a challenge the CA could not reach (firewall, DNS pointing elsewhere), a rate limit, a permission problem" },
        { field: "entries[].message", op: "contains", value: "Congratulations", meaning: "a renewal succeeded: the server only needs to load the new certificate" },
      ],
    },
    {
      tool: "analyze_errors",
      target: "{host}",
      input: { unit: "{unit}", since: "{since}" },
      requires: ["unit"],
      why: "The serving unit's own errors: servers that renew by themselves (caddy) log their ACME failures here.",
      lookFor: [{ field: "groups[].sample", meaning: "the newest message of each error; ACME, challenge or certificate errors explain the missing renewal" }],
    },
  ],
  repairs: [
    {
      action: "start_service",
      params: { unit: "{renewalUnit}" },
      when: "the renewal job failed or did not run and its cause is fixed: starting its (oneshot) service runs a renewal now",
    },
    {
      action: "reload_service",
      params: { unit: "{unit}" },
      when: "the renewed certificate is on disk (the renewal logs say so) but check_http still shows the old expiry: a reload loads it without downtime",
    },
    { action: "restart_service", params: { unit: "{unit}" }, when: "the server cannot reload (the preview says CanReload=no) or a reload did not pick the new certificate up" },
  ],
  noRepair:
    "A renewal that fails for a reason outside the host (DNS pointing elsewhere, a firewall, a CA rate limit), or a certificate no ACME client manages: hostward has no action that requests, edits or installs a certificate. Escalate to a human with tls.validTo, tls.issuer and the renewal's errors, in time: say how many days are left.",
});

const hostUnreachable = defineRunbook({
  name: "host_unreachable",
  title: "A host is unreachable",
  description:
    "The broker cannot reach a host's agent. Tell a host that is down from an agent that stopped, a network or firewall problem, a name that moved or a certificate problem, looking from the broker, from the fleet and from a neighbour.",
  arguments: [
    { name: "host", description: "the host that does not answer", required: true, kind: "host" },
    { name: "from", description: "another host to test from, ideally on the same network", required: false, kind: "host", example: "web2" },
  ],
  fill: {
    address: { from: "host.address of step 3 (what the broker dials)", example: "10.0.0.12" },
    ports: { from: "host.ports.reader and host.ports.operator of step 3, and 22 to tell whether the machine itself is up", example: [7443, 7444, 22] },
  },
  steps: [
    {
      tool: "ping_hosts",
      target: "{host}",
      view: "hosts",
      why: "How the reader agent fails to answer: the error code tells a refused connection from a timeout or a certificate problem.",
      lookFor: [
        { field: "results[].ok", op: "==", value: false, meaning: "no answer; results[].error says why" },
        {
          field: "results[].error.code",
          meaning: "UNAVAILABLE: no connection (host down, agent stopped, network or firewall); DEADLINE_EXCEEDED: it connects but answers too late (overloaded, or a firewall dropping); a TLS or permission error: a certificate expired or was revoked",
        },
        { field: "results[].data.catalogMatch", op: "==", value: false, meaning: "it answers, but serves another catalog: an agent of another version (upgrade it)" },
        { field: "broker.clientCertificate.warning", op: "!=", value: null, meaning: "the broker's own client certificate expires or has expired: every host would refuse it" },
      ],
    },
    {
      tool: "ping_hosts",
      target: "*",
      view: "summary",
      why: "One host or many: several unreachable hosts point at the broker's side, a shared network or the CA, not at this host.",
      lookFor: [{ field: "summary.failed", op: ">", value: 1, meaning: "other hosts fail too: look at what they share (fleet.outliers.errors names them by error code)" }],
    },
    {
      tool: "describe_host",
      input: { name: "{host}" },
      why: "What the broker dials: an address or ports that changed (a re-IP, a moved name) explain a timeout.",
      lookFor: [
        { field: "host.address", meaning: "the address (or name) the broker connects to (address)" },
        { field: "host.ports.reader", meaning: "the reader agent's port" },
        { field: "host.ports.operator", meaning: "the operator agent's port: it can restart the reader if it still answers" },
      ],
    },
    {
      tool: "test_connectivity",
      target: "{from}",
      input: { host: "{address}", ports: "{ports}", timeoutMs: 2000 },
      requires: ["from"],
      why: "The same ports from a neighbour: whether the host is up and which agent listens.",
      lookFor: [
        { field: "results[].status", op: "==", value: "open", meaning: "reachable from its own network: the problem lies between the broker and the host (a firewall, a route)" },
        { field: "results[].status", op: "==", value: "refused", meaning: "the machine is up and nothing listens on that port: on the reader's port, the reader agent stopped" },
        { field: "results[].status", op: "==", value: "timeout", meaning: "dropped or down: with port 22 timing out too, the machine is likely down" },
        { field: "results[].status", op: "==", value: "unreachable", meaning: "no route from the neighbour either" },
      ],
    },
    {
      tool: "dns_lookup",
      target: "{from}",
      input: { name: "{address}", recordType: "A" },
      requires: ["from"],
      if: "when the address is a DNS name",
      why: "Whether the name the broker dials still resolves, and to what.",
      lookFor: [
        { field: "status", op: "!=", value: "NOERROR", meaning: "the name no longer resolves: the inventory or the zone must change (a human)" },
        { field: "answers[].value", meaning: "the address it resolves to now: another than the host's means it moved" },
      ],
    },
  ],
  repairs: [
    {
      action: "restart_service",
      params: { unit: "hostward-reader.service" },
      when: "the reader's port refuses while the operator's is open (step 4): the reader agent stopped; the proposal reaches the host through its operator agent (the host's actions.yaml must list hostward-reader.service)",
    },
  ],
  noRepair:
    "When neither agent answers (timeout or unreachable on both ports), hostward cannot act on the host: every action runs through the host's own operator agent. Escalate to a human with the error codes and what the neighbour saw: console or out-of-band access, the hypervisor, the network's owner, or the inventory when the host moved.",
});

const afterReboot = defineRunbook({
  name: "after_reboot",
  title: "Checks after a reboot",
  description:
    "A host has just rebooted, planned or not. Check that it booted the expected kernel, that its services came back, that its filesystems and clock are sound, and find why it rebooted if nobody asked it to.",
  arguments: [HOST, { name: "tag", description: "a tag of peers that should run the same services (for a comparison)", required: false, kind: "tag" }],
  fill: {
    failedUnit: { from: "a service of step 3's units[].unit", example: "nginx.service" },
  },
  steps: [
    {
      tool: "get_system_info",
      target: "{host}",
      why: "When it booted and into which kernel.",
      lookFor: [
        { field: "uptimeSeconds", op: "<", value: 3600, meaning: "it rebooted within the hour (bootTime says when): was it planned?" },
        { field: "kernel.release", meaning: "the kernel it runs now" },
      ],
    },
    {
      tool: "get_reboot_required",
      target: "{host}",
      why: "Whether the reboot did what it was for.",
      lookFor: [
        { field: "required", op: "==", value: true, meaning: "it still needs one: the newest kernel did not boot (runningKernel against newestInstalledKernel: a fallback, or the boot loader's default)" },
      ],
    },
    {
      tool: "list_failed_units",
      target: "{host}",
      why: "Units that did not come back.",
      lookFor: [{ field: "units", op: "nonEmpty", meaning: "failed at boot (failedUnit): often started before the network, a mount or a dependency was ready" }],
    },
    {
      tool: "get_journal_logs",
      target: "{host}",
      input: { boot: 0, priority: "err", lines: 100 },
      why: "The errors of this boot.",
      lookFor: [{ field: "entries[].unit", meaning: "which units logged errors while starting: the first ones explain the failed units" }],
    },
    {
      tool: "get_journal_logs",
      target: "{host}",
      input: { boot: -1, priority: "warning", lines: 50 },
      why: "The end of the previous boot: a clean shutdown logs services stopping; a crash, a power loss or a watchdog ends abruptly.",
      lookFor: [
        { field: "entries", op: "empty", meaning: "no previous boot in the journal (a volatile journal): the cause cannot be read here" },
        { field: "entries[].message", op: "contains", value: "Out of memory", meaning: "the OOM killer ran before the reboot" },
        { field: "entries[].time", meaning: "when the previous boot's last entries were written: a gap before bootTime is an abrupt end" },
      ],
    },
    {
      tool: "get_kernel_messages",
      target: "{host}",
      input: { priority: "err", lines: 100 },
      why: "Hardware, disk and file system errors of this boot.",
      lookFor: [
        { field: "entries[].message", op: "contains", value: "I/O error", meaning: "a disk or controller error (escalate)" },
        { field: "entries[].message", op: "contains", value: "EXT4-fs error", meaning: "file system errors found at mount" },
      ],
    },
    {
      tool: "get_disk_usage",
      target: "{host}",
      why: "Whether every filesystem came back writable.",
      lookFor: [
        { field: "filesystems[].readOnly", op: "==", value: true, meaning: "mounted read-only (errors, or a failed check): escalate" },
        { field: "filesystems[].mountPoint", meaning: "what is mounted: a missing data mount explains services failing at boot" },
      ],
    },
    {
      tool: "get_time_sync",
      target: "{host}",
      why: "A clock not yet synchronised after boot breaks TLS, Kerberos and log order.",
      lookFor: [{ field: "synchronized", op: "==", value: false, meaning: "not synchronised yet (ntpDaemons: which time daemon runs)" }],
    },
    {
      tool: "ping_hosts",
      target: "{host}",
      view: "hosts",
      why: "The agent came back, with the catalog this broker expects.",
      lookFor: [{ field: "results[].data.catalogMatch", op: "==", value: false, meaning: "another agent version came up (installed before the reboot)" }],
    },
    {
      tool: "compare_hosts",
      input: { host: "{host}", diagnostic: "list_services", input: { state: "running" }, target: "tag:{tag}" },
      requires: ["tag"],
      why: "Services its peers run that it does not.",
      lookFor: [{ field: "differences", op: "nonEmpty", meaning: "where its running services differ from its peers': a service missing here did not start" }],
    },
  ],
  repairs: [
    { action: "start_service", params: { unit: "{failedUnit}" }, when: "a service failed at boot and what it waited for is there now (the network, a mount, a dependency)" },
    { action: "reset_failed_unit", params: { unit: "{failedUnit}" }, when: "a unit failed once at boot and is not needed now, so alerting stops; starts nothing" },
    { action: "enable_service", params: { unit: "{failedUnit}" }, when: "a service its peers run did not start because it is not enabled at boot (then start_service it)" },
  ],
  noRepair:
    "A kernel that did not boot, a filesystem mounted read-only, disk or memory errors, or an unexplained crash: hostward has no action that changes the boot loader, checks a filesystem or reads a crash dump. Escalate to a human with the kernel messages and the last entries of the previous boot.",
});

const fleetHealthSweep = defineRunbook({
  name: "fleet_health_sweep",
  title: "Fleet-wide health sweep",
  description:
    "A routine look at many hosts at once: which answer, which have failed units, full disks, high load, memory pressure, an unsynchronised clock or a pending reboot. Summary answers name the outliers; then compare one host with the fleet, and run the matching runbook on it.",
  arguments: [
    {
      name: "target",
      description: 'the hosts: "all" (or "*") for the whole fleet, "tag:NAME", a host, or a comma list',
      required: false,
      kind: "target",
      default: "*",
    },
  ],
  fill: {
    host: { from: "a host a summary named (fleet.outliers.errors, fleet.outliers.apart, or a group apart)", example: "web3" },
    diagnostic: { from: "the diagnostic whose summary named it (e.g. get_disk_usage)", example: "get_disk_usage" },
    unit: { from: "a unit failed on many hosts (step 2's fleet.groups)", example: "nginx.service" },
  },
  steps: [
    {
      tool: "ping_hosts",
      target: "{target}",
      view: "summary",
      why: "Which hosts answer, and with the expected agent.",
      lookFor: [
        { field: "summary.failed", op: ">", value: 0, meaning: "hosts that do not answer: fleet.outliers.errors names them by error code (host_unreachable for each)" },
        { field: "summary.denied", op: ">", value: 0, meaning: "hosts policy does not let you ping: not a fault, but not swept either" },
        { field: "broker.clientCertificate.warning", op: "!=", value: null, meaning: "the broker's client certificate expires soon: renew it before every host refuses it" },
      ],
    },
    {
      tool: "list_failed_units",
      target: "{target}",
      view: "summary",
      why: "Hosts with failed units, grouped by what failed.",
      lookFor: [{ field: "units", op: "nonEmpty", meaning: "hosts with failed units; one unit failed on many hosts is one cause (unit_failed on one of them first)" }],
    },
    {
      tool: "get_disk_usage",
      target: "{target}",
      view: "summary",
      why: "Filesystems filling up, by space and inodes.",
      lookFor: [
        { field: "filesystems[].usedPercent", op: ">=", value: 85, meaning: "filling (fleet.numbers gives the maximum and the host at it): disk_filling on it" },
        { field: "filesystems[].inodesUsedPercent", op: ">=", value: 85, meaning: "running out of inodes" },
        { field: "filesystems[].readOnly", op: "==", value: true, meaning: "mounted read-only: escalate" },
      ],
    },
    {
      tool: "get_load",
      target: "{target}",
      view: "summary",
      why: "Hosts loaded beyond their CPUs.",
      lookFor: [{ field: "load5", op: ">", value: { field: "cpus" }, meaning: "queueing work (outliers.apart names the hosts far from the fleet's median): high_load on them" }],
    },
    {
      tool: "get_memory_info",
      target: "{target}",
      view: "summary",
      why: "Memory pressure.",
      lookFor: [
        { field: "usedPercent", op: ">=", value: 90, meaning: "short of memory" },
        { field: "swapUsedPercent", op: ">=", value: 50, meaning: "swapping" },
      ],
    },
    {
      tool: "get_time_sync",
      target: "{target}",
      view: "summary",
      why: "Clocks that drift break TLS, Kerberos, DNSSEC and log order.",
      lookFor: [{ field: "synchronized", op: "==", value: false, meaning: "not synchronised (a group of hosts answering false)" }],
    },
    {
      tool: "get_reboot_required",
      target: "{target}",
      view: "summary",
      why: "Hosts waiting for a reboot after updates.",
      lookFor: [{ field: "required", op: "==", value: true, meaning: "a reboot is pending (reasons, packages): plan it in a maintenance window" }],
    },
    {
      tool: "compare_hosts",
      input: { host: "{host}", diagnostic: "{diagnostic}", input: {}, target: "{target}" },
      why: "How one outlier differs from the fleet's usual answer, field by field.",
      lookFor: [
        { field: "differences", op: "nonEmpty", meaning: "the fields where it stands apart (share: how much of the fleet has the usual value); then run the runbook that matches" },
        { field: "result.ok", op: "==", value: false, meaning: "the host itself did not answer" },
      ],
    },
  ],
  repairs: [
    {
      action: "vacuum_journal",
      target: "{target}",
      rollout: true,
      params: { by: "size", maxBytes: 512 * MiB },
      strategy: { canaries: 1, batchSize: "25%", maxFailures: 0 },
      when: "many hosts' / or /var fill up and the journal is a large part of it: one approval, a canary first, then a quarter of the hosts at a time; every host's preview says what it frees",
    },
    {
      action: "clean_package_cache",
      target: "{target}",
      rollout: true,
      strategy: { canaries: 1, batchSize: "25%", maxFailures: 0 },
      when: "many hosts' / or /var fill up: downloaded packages are deleted everywhere at once, harmlessly",
    },
    {
      action: "restart_service",
      target: "{target}",
      rollout: true,
      params: { unit: "{unit}" },
      strategy: {
        canaries: 1,
        batchSize: "10%",
        maxFailures: 0,
        gates: [{ diagnostic: "check_service_health", input: { unit: "{unit}" }, when: [{ field: "verdict", op: "==", value: "healthy" }] }],
      },
      when: "the same service is failed or stuck on many hosts and its cause is understood (unit_failed on one first): each host is checked healthy before the next batch",
    },
    {
      action: "reboot_system",
      target: "{host}",
      params: { delaySeconds: 600 },
      when: "one host needs its pending reboot (required: true) and a maintenance window allows it: HIGH impact, one host at a time, in ten minutes",
    },
  ],
  noRepair:
    "Hosts down, filesystems read-only, clocks that do not synchronise, load from a workload larger than the host: hostward has no action for these. Run the matching runbook on one host to confirm, then escalate to a human with the hosts the summaries named.",
});

export const runbooks: readonly RunbookDef[] = [unitFailed, diskFilling, highLoad, dnsFailing, tlsExpiring, hostUnreachable, afterReboot, fleetHealthSweep];

/** The runbook named `name` (an MCP prompt name), or undefined. */
export function findRunbook(name: string): RunbookDef | undefined {
  return runbooks.find((r) => r.name === name);
}
