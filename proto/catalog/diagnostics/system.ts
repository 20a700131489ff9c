// System diagnostics: hardware, OS, load, memory, disks, processes.
import { z } from "zod";
import { defineDiagnostic } from "../define";
import { absolutePath, count, literalText, userName } from "../grammar";

/** Highest pid Linux can hand out (PID_MAX_LIMIT, 2^22). */
export const PID_MAX = 4_194_304;
/** Characters of a command line returned by list_processes and get_process_info. */
export const COMMAND_MAX_CHARS = 512;
/** Filesystems get_disk_usage reports at most. */
export const DISK_MOUNTS_MAX = 200;
/** Milliseconds get_disk_usage waits for one filesystem's statfs. */
export const STATFS_TIMEOUT_MS = 2000;
/** Devices and partitions get_block_devices reports at most. */
export const BLOCK_DEVICES_MAX = 512;
/** Interval between the two CPU samples of get_cpu_info and list_processes. */
export const CPU_SAMPLE_MS = 200;
/** Per-CPU rows get_cpu_info reports at most. */
export const PER_CPU_MAX = 256;
/** Processes list_processes examines at most. */
export const PROCESS_SCAN_MAX = 32_768;

const isoTime = z.string().describe("ISO 8601 time, UTC");

export const getSystemInfo = defineDiagnostic({
  name: "get_system_info",
  group: "system",
  title: "System information",
  summary:
    "Host name, operating system (os-release), kernel, architecture, virtual machine / container detection, boot time, uptime and time zone. Use it to learn what kind of host you are looking at.",
  input: () => z.strictObject({}),
  output: () => z.object({
    hostname: z.string(),
    os: z.object({
      prettyName: z.string().nullable().describe('PRETTY_NAME of os-release, e.g. "Debian GNU/Linux 12 (bookworm)"'),
      id: z.string().nullable().describe('ID of os-release: "debian", "ubuntu", "rhel", "fedora", …'),
      idLike: z.array(z.string()).describe("ID_LIKE of os-release: the families this distribution follows"),
      versionId: z.string().nullable(),
      versionCodename: z.string().nullable(),
    }),
    kernel: z.object({
      release: z.string().describe("uname -r"),
      version: z.string().describe("uname -v (build number and date)"),
    }),
    arch: z.string().describe('machine hardware name (uname -m): "x86_64", "aarch64", …'),
    hardware: z.object({
      vendor: z.string().nullable().describe("DMI system vendor; null when the host exposes no DMI tables"),
      product: z.string().nullable(),
    }),
    virtualization: z.object({
      vm: z
        .string()
        .nullable()
        .describe(
          'hypervisor ("kvm", "qemu", "vmware", "microsoft", "xen", "amazon", "google", "oracle", …); "unidentified" when the CPU reports a hypervisor whose vendor is not visible; null when none is detected',
        ),
      container: z
        .string()
        .nullable()
        .describe('container manager ("docker", "podman", "lxc", "systemd-nspawn", "wsl", …); null when not in a container'),
    }),
    logicalCpus: z.number().int(),
    memoryTotalBytes: z.number().int(),
    bootTime: isoTime,
    uptimeSeconds: z.number(),
    timezone: z.string().describe('IANA zone the host is configured for, e.g. "Europe/Berlin"'),
    utcOffset: z.string().describe('current offset from UTC, "+HH:MM"'),
  }),
  limits: ["No arguments; reads /etc/os-release, /proc and /sys only, nothing spawned; constant-size reply."],
  examples: [{ description: "What OS and kernel does the host run", input: {} }],
});

export const getCpuInfo = defineDiagnostic({
  name: "get_cpu_info",
  group: "system",
  title: "CPU information and utilisation",
  summary:
    "CPU model, vendor, cores (physical and logical), clock, and current utilisation (user/system/iowait/steal/idle) measured over a 200 ms window, overall and per CPU. Use it when a host is slow to see whether the CPUs are busy and with what.",
  input: () => z.strictObject({}),
  output: () => z.object({
    model: z.string().nullable(),
    vendor: z.string().nullable(),
    logicalCpus: z.number().int().describe("online CPUs (hardware threads)"),
    physicalCores: z.number().int().nullable().describe("distinct cores across sockets; null when the kernel exposes no topology"),
    sockets: z.number().int().nullable(),
    mhz: z.number().nullable().describe("average current clock of the online CPUs; null when not exposed (common in VMs)"),
    maxMhz: z.number().nullable(),
    sampleMs: z.number().int().describe("length of the window the percentages were measured over"),
    utilisation: z
      .object({
        userPercent: z.number().describe("user + nice time"),
        systemPercent: z.number().describe("kernel time including hard and soft interrupts"),
        iowaitPercent: z.number().describe("idle while waiting for I/O: high values point at slow storage"),
        stealPercent: z.number().describe("time the hypervisor gave to other guests: high values mean a noisy neighbour"),
        idlePercent: z.number(),
        busyPercent: z.number().describe("everything but idle and iowait"),
      })
      .describe("share of all online CPUs' time during the window, 0..100"),
    perCpu: z.array(z.object({ cpu: z.number().int(), busyPercent: z.number(), iowaitPercent: z.number() })),
    perCpuTruncated: z.boolean(),
  }),
  limits: [
    "No arguments; reads /proc and /sys only, nothing spawned.",
    `Takes about ${CPU_SAMPLE_MS} ms (two /proc/stat samples); at most ${PER_CPU_MAX} per-CPU rows.`,
  ],
  examples: [{ description: "Are the CPUs busy right now", input: {} }],
});

export const getMemoryInfo = defineDiagnostic({
  name: "get_memory_info",
  group: "system",
  title: "Memory and swap",
  summary:
    "Physical memory and swap in bytes from /proc/meminfo: total, available, used, free, buffers, cache, shared, swap. Use it when a host is slow or processes are being OOM-killed; 'available' is what new work can use.",
  input: () => z.strictObject({}),
  output: () => z.object({
    totalBytes: z.number().int(),
    availableBytes: z
      .number()
      .int()
      .describe("MemAvailable: memory new work can get without swapping (free + reclaimable cache)"),
    usedBytes: z.number().int().describe("total − available, as free(1) of procps 4 reports it"),
    usedPercent: z.number().describe("usedBytes / totalBytes × 100"),
    freeBytes: z.number().int().describe("MemFree: memory holding nothing at all (low values are normal)"),
    buffersBytes: z.number().int(),
    cachedBytes: z.number().int().describe("page cache + reclaimable slab (Cached + SReclaimable), as free(1) shows it"),
    sharedBytes: z.number().int().describe("Shmem: tmpfs and shared memory; not reclaimable while in use"),
    swapTotalBytes: z.number().int(),
    swapFreeBytes: z.number().int(),
    swapUsedBytes: z.number().int(),
    swapUsedPercent: z.number().describe("0 when there is no swap"),
  }),
  limits: ["No arguments; reads /proc/meminfo only, nothing spawned; constant-size reply."],
  examples: [{ description: "Is the host short of memory", input: {} }],
});

export const getDiskUsage = defineDiagnostic({
  name: "get_disk_usage",
  group: "system",
  title: "Disk usage (space and inodes)",
  summary:
    "Space and inode usage of every mounted storage filesystem (like df -h and df -i together), or of one mount point. Kernel pseudo filesystems are left out; tmpfs, overlay and network filesystems are included. A filesystem that does not answer in time (hung NFS) is reported with an error instead of blocking.",
  input: () => z.strictObject({
    mountPoint: absolutePath
      .optional()
      .describe("only the filesystem mounted exactly at this path (e.g. /var); absent: every storage filesystem"),
  }),
  output: () => z.object({
    filesystems: z.array(
      z.object({
        mountPoint: z.string(),
        device: z.string().describe('what is mounted: "/dev/vda1", "server:/export", "tmpfs", "overlay", …'),
        fsType: z.string(),
        readOnly: z.boolean(),
        totalBytes: z.number().int().nullable(),
        usedBytes: z.number().int().nullable(),
        availableBytes: z.number().int().nullable().describe("space unprivileged users can still write (excludes root's reserve)"),
        usedPercent: z.number().nullable().describe("used / (used + available) × 100, as df computes Use%"),
        inodesTotal: z.number().int().nullable().describe("0 on filesystems without a fixed inode table (btrfs, some network filesystems)"),
        inodesUsed: z.number().int().nullable(),
        inodesFree: z.number().int().nullable(),
        inodesUsedPercent: z.number().nullable().describe("null when the filesystem has no fixed inode count"),
        error: z
          .string()
          .nullable()
          .describe("why the numbers are missing (statfs timed out on a hung mount, permission denied, …); null when they are present"),
      }),
    ),
    totalMounts: z.number().int().describe("storage filesystems found before the cap"),
    truncated: z.boolean().describe(`true when more than ${DISK_MOUNTS_MAX} filesystems matched and the rest were left out`),
  }),
  limits: [
    "Reads /proc/self/mountinfo and calls statfs per mount; nothing spawned.",
    `Each statfs waits at most ${STATFS_TIMEOUT_MS} ms; a mount whose earlier statfs never returned is not retried.`,
    `At most ${DISK_MOUNTS_MAX} filesystems. Skipped types: proc, sysfs, cgroup/cgroup2, devpts, devtmpfs, debugfs, tracefs, securityfs, bpf, mqueue, hugetlbfs, autofs, squashfs, … and anything under /proc or /sys.`,
  ],
  examples: [
    { description: "Which filesystems are filling up", input: {} },
    { description: "How full is /var", input: { mountPoint: "/var" } },
  ],
});

export const getBlockDevices = defineDiagnostic({
  name: "get_block_devices",
  group: "system",
  title: "Block devices",
  summary:
    "Disks and their partitions from /sys/block (like lsblk): name, type, size, model, removable, rotational, read-only, file system type and mount points. Use it to see which physical or virtual disks a host has and where they are mounted.",
  input: () => z.strictObject({}),
  output: () => z.object({
    devices: z.array(
      z.object({
        name: z.string().describe("kernel name (vda, sda1, nvme0n1p2); device-mapper devices show their mapper name"),
        type: z.string().describe('"disk", "part", "loop", "dm" (LVM/crypt), "raid", "rom", "zram", "nbd", "ram"'),
        parent: z.string().nullable().describe("the disk a partition belongs to; null for whole devices"),
        sizeBytes: z.number().int(),
        model: z.string().nullable(),
        vendor: z.string().nullable(),
        removable: z.boolean(),
        rotational: z.boolean().nullable().describe("true for spinning disks; null when the kernel does not say"),
        readOnly: z.boolean(),
        fsType: z.string().nullable().describe("type of the mounted file system; null when not mounted"),
        mountPoints: z.array(z.string()),
      }),
    ),
    truncated: z.boolean(),
  }),
  limits: [
    "No arguments; reads /sys/block and /proc/self/mountinfo only, nothing spawned.",
    `At most ${BLOCK_DEVICES_MAX} devices and partitions; empty loop devices are left out.`,
  ],
  examples: [{ description: "Which disks does the host have", input: {} }],
});

/** What the host did to a command line before it left: the host redacts secrets (agent/src/redact.ts) and hides login users' command lines unless configured. */
const COMMAND_REDACTED = () =>
  z
    .enum(["none", "secrets", "hidden"])
    .describe('"secrets": values of password/token/key options, NAME=secret assignments, URL passwords or auth headers were replaced by <redacted> on the host; "hidden": a login user\'s process, only its name is shown (agent.yaml processes.showLoginUserCommandLines); "none": nothing was changed');

/** Said in the tools' descriptions: command lines are redacted on the host. */
const REDACTION_NOTE =
  " Command lines are redacted on the host before they leave it: secrets (password/token/key options and their values, NAME=secret assignments, URL passwords, authorization headers, and the host's own patterns) show as <redacted>, and login users' processes show only their name unless the host's configuration allows more.";

export const listProcesses = defineDiagnostic({
  name: "list_processes",
  group: "system",
  title: "Processes (top N)",
  summary:
    "The top processes by CPU (measured over 200 ms), memory (RSS) or pid, optionally only one user's or those whose name contains a text: pid, parent, user, name, state, CPU %, RSS, start time and command line. Use it to find what is using the CPU or memory." + REDACTION_NOTE,
  input: () => z.strictObject({
    limit: count(1, 200, 20).describe("processes to return, 1..200 (default 20)"),
    sortBy: z.enum(["cpu", "memory", "pid"]).default("cpu").describe('"cpu" (busiest first, default), "memory" (largest RSS first) or "pid"'),
    user: userName.optional().describe("only processes running as this user (effective uid)"),
    nameContains: literalText("nameContains", 64)
      .optional()
      .describe("only processes whose name or program file name contains this text (case-insensitive)"),
  }),
  output: () => z.object({
    processes: z.array(
      z.object({
        pid: z.number().int(),
        ppid: z.number().int(),
        user: z.string().describe("effective user name; the numeric uid when no name is known"),
        name: z.string().describe("kernel process name (comm, at most 15 characters)"),
        state: z.string().describe('"running", "sleeping", "disk-sleep" (uninterruptible, often I/O), "zombie", "stopped", "idle", …'),
        cpuPercent: z
          .number()
          .describe("CPU used during the 200 ms sampling window, in % of ONE CPU (a process busy on 2 CPUs shows 200), as top does"),
        rssBytes: z.number().int().describe("resident memory (VmRSS)"),
        memoryPercent: z.number().describe("rssBytes / total memory × 100"),
        threads: z.number().int(),
        startTime: isoTime,
        command: z.string().describe(`command line, at most ${COMMAND_MAX_CHARS} characters ("…" marks a cut), secrets redacted; kernel threads show as [name]; a login user's process only its name unless the host allows more`),
        commandRedacted: COMMAND_REDACTED(),
      }),
    ),
    total: z.number().int().describe("processes matching the filters (before the limit)"),
    scanned: z.number().int().describe("processes examined on the host"),
    sampleMs: z.number().int(),
  }),
  volatile: ["processes[].pid", "processes[].ppid"],
  limits: [
    "Reads /proc only (no ps), nothing spawned; processes that exit while being read are skipped.",
    `limit 1..200 (default 20); command lines cut to ${COMMAND_MAX_CHARS} characters; at most ${PROCESS_SCAN_MAX} processes examined; takes about ${CPU_SAMPLE_MS} ms.`,
  ],
  examples: [
    { description: "Top 10 processes by CPU", input: { limit: 10 } },
    { description: "Largest nginx processes by memory", input: { sortBy: "memory", nameContains: "nginx" } },
  ],
});

const limitValue = z.union([z.number(), z.literal("unlimited")]);

export const getProcessInfo = defineDiagnostic({
  name: "get_process_info",
  group: "system",
  title: "Process details",
  summary:
    "Details of one process by pid: name, state, user, parent, command line, program, threads, open file descriptors, resource limits, the systemd unit (cgroup) it belongs to, start time, CPU time and memory. Use it after list_processes to look at one process closely." + REDACTION_NOTE,
  input: () => z.strictObject({
    pid: z.number().int().min(1).max(PID_MAX).describe(`process id, 1..${PID_MAX}`),
  }),
  output: () => z.object({
    pid: z.number().int(),
    ppid: z.number().int(),
    name: z.string(),
    state: z.string(),
    user: z.string(),
    uid: z.number().int().describe("effective uid"),
    gid: z.number().int().describe("effective gid"),
    command: z.string().describe(`command line, at most ${COMMAND_MAX_CHARS} characters, secrets redacted; a login user's process only its name unless the host allows more`),
    commandRedacted: COMMAND_REDACTED(),
    exe: z.string().nullable().describe("file name (basename) of the running program; null when not readable"),
    threads: z.number().int(),
    nice: z.number().int(),
    fdCount: z.number().int().nullable().describe("open file descriptors; null when not readable (see fdError)"),
    fdError: z.string().nullable().describe("why fdCount is null, e.g. EACCES when the agent may not inspect this process"),
    limits: z
      .array(z.object({ name: z.string(), soft: limitValue, hard: limitValue, units: z.string().nullable() }))
      .describe("resource limits (/proc/<pid>/limits), e.g. Max open files"),
    cgroup: z.string().nullable().describe("cgroup path (cgroup v2 or the systemd hierarchy of v1)"),
    systemdUnit: z
      .string()
      .nullable()
      .describe('the systemd service or scope that owns the process, from its cgroup ("nginx.service"); null when none'),
    startTime: isoTime,
    cpuSeconds: z.number().describe("user + system CPU time used since the process started"),
    rssBytes: z.number().int(),
    vszBytes: z.number().int().describe("virtual memory size"),
  }),
  limits: [`Reads /proc/<pid> only, nothing spawned; command line cut to ${COMMAND_MAX_CHARS} characters; at most 32 limit rows.`],
  examples: [{ description: "Look at process 1234", input: { pid: 1234 } }],
});

export const getLoad = defineDiagnostic({
  name: "get_load",
  group: "system",
  title: "Load average",
  summary:
    "Load averages over 1, 5 and 15 minutes with the CPU count and runnable/total task counts, read from /proc/loadavg. Use it first when a host is slow.",
  input: () => z.strictObject({}),
  output: () => z.object({
    load1: z.number(),
    load5: z.number(),
    load15: z.number(),
    cpus: z.number().int().describe("online CPUs; load above this means queued work"),
    runnable: z.number().int().describe("tasks running or ready to run right now"),
    tasks: z.number().int().describe("all tasks (threads) on the host"),
    uptimeSeconds: z.number(),
  }),
  limits: ["No arguments; reads /proc only, nothing spawned."],
  examples: [{ description: "How loaded is the host", input: {} }],
});

export const systemDiagnostics = [
  getSystemInfo,
  getCpuInfo,
  getLoad,
  getMemoryInfo,
  getDiskUsage,
  getBlockDevices,
  listProcesses,
  getProcessInfo,
] as const;
