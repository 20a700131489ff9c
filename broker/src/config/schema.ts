// The three files of a broker configuration directory (contract 3), as strict zod schemas: unknown
// keys are refused, every value is bounded. Cross-file checks (a policy naming an unknown host,
// tool or group) live in load.ts, which knows the catalog.
import { isAbsolute } from "node:path";
import { z } from "zod";
import { IMPACTS } from "../../../proto/catalog/approval";
import { hostLabel, hostName, tagLabel, tcpPort } from "../../../proto/catalog/grammar";
import { TracingConfigSchema } from "../../../shared/tracing-config";
import { groupName, personName, type UserEntry } from "./users";

// The inventory's names and tags are grammar tokens of the catalog (proto/catalog/grammar.ts), so
// the runbooks (proto/catalog/runbooks/) validate their host and tag arguments with the same rule.
export { hostLabel, tagLabel };

const DEFAULT_PORTS = { reader: 7443, operator: 7444 };

export const HostEntrySchema = z.strictObject({
  name: hostLabel,
  /** Where the agent listens: a DNS name or an IP literal. */
  address: hostName,
  ports: z.strictObject({ reader: tcpPort.default(7443), operator: tcpPort.default(7444) }).default(DEFAULT_PORTS),
  tags: z.array(tagLabel).max(64, { message: "at most 64 tags per host" }).default([]),
  /** The DNS SAN expected on the agent's certificate; defaults to `name`. */
  certName: hostName.optional(),
});

export const HostsFileSchema = z
  .strictObject({ hosts: z.array(HostEntrySchema).max(10_000, { message: "at most 10000 hosts" }) })
  .superRefine((file, ctx) => {
    const seen = new Map<string, number>();
    file.hosts.forEach((h, i) => {
      const first = seen.get(h.name);
      if (first !== undefined) {
        ctx.addIssue({ code: "custom", path: ["hosts", i, "name"], message: `duplicate host name "${h.name}" (first defined at hosts.${first})` });
      } else seen.set(h.name, i);
    });
  });

/** A policy target: one host name, `tag:NAME` or `*` (a rule names one target; use several rules for more). */
const RuleTargetSchema = z
  .string()
  .max(80, { message: "target is longer than 80 characters" })
  .refine((t) => t === "*" || (t.startsWith("tag:") ? tagLabel.safeParse(t.slice(4)).success : hostLabel.safeParse(t).success), {
    message: 'target must be one host name, "tag:NAME" or "*"',
  });

/** A tool reference in a rule: a tool name, `group:NAME` or `*` (checked against the catalog in load.ts). */
const toolRef = z.string().max(128).regex(/^(?:\*|group:[a-z]+|[a-z][a-z0-9_]*)$/, {
  message: 'must be a tool name (snake_case), "group:NAME" or "*"',
});

const PolicyRuleSchema = z.strictObject({
  target: RuleTargetSchema,
  allow: z.array(toolRef).max(1000).default([]),
  deny: z.array(toolRef).max(1000).default([]),
  /**
   * With either, the rule applies only to a caller named in `users` or in one of `groups` (the
   * users file's names and groups; a stdio caller is its OS user name). Names need not be in the
   * users file yet: people come and go in another file, and a name nobody has matches nobody.
   */
  users: z.array(personName).min(1, { message: "list at least one user, or leave users out" }).max(1000).optional(),
  groups: z.array(groupName).min(1, { message: "list at least one group, or leave groups out" }).max(1000).optional(),
});

export const PolicyFileSchema = z.strictObject({
  rules: z.array(PolicyRuleSchema).max(10_000, { message: "at most 10000 rules" }),
  /**
   * Actions up to this impact may be approved in the MCP client's own dialog (elicitation), signed
   * with broker.yaml's elicitationKey. Absent: no action is approved through elicitation.
   */
  elicitation: z
    .strictObject({
      maxImpact: z.enum(IMPACTS),
      /**
       * Also let the MCP Apps approval view's buttons (approve_in_app) decide, within maxImpact. Off by
       * default: a server cannot tell the view's call from the model's, so only turn it on for
       * clients that keep app-only tools from the model.
       */
      appView: z.boolean().default(false),
    })
    .optional(),
});

const absolutePath = z.string().min(1).max(4096).refine((p) => isAbsolute(p), { message: "must be an absolute path" });

const DEFAULT_FANOUT = { concurrency: 32, hostTimeoutMs: 10_000 };
const DEFAULT_MAX_OUTPUT_BYTES = 262_144;
const DEFAULT_APPROVAL_TTL_SECONDS = 900;
const DEFAULT_AUDIT_LOCK_WAIT_MS = 2_000;
const DEFAULT_BUDGETS = { proposalsPerSession: 20, proposalsPerHour: 60 };

export const BrokerFileSchema = z.strictObject({
  /** Where the audit log and the HTTP token live; default: the platform's state directory. */
  stateDir: absolutePath.optional(),
  /** Log to this file instead of stderr (never stdout: stdout is the MCP channel). */
  logFile: absolutePath.optional(),
  fanout: z
    .strictObject({
      concurrency: z.number().int().min(1).max(1024).default(DEFAULT_FANOUT.concurrency),
      hostTimeoutMs: z.number().int().min(100).max(300_000).default(DEFAULT_FANOUT.hostTimeoutMs),
    })
    .default(DEFAULT_FANOUT),
  /** Cap on one tool result's structured content, bytes of JSON. */
  maxOutputBytes: z.number().int().min(4096).max(16 * 1024 * 1024).default(DEFAULT_MAX_OUTPUT_BYTES),
  /** The ed25519 key (OpenSSH or PKCS#8) that signs approvals given through MCP elicitation. */
  elicitationKey: absolutePath.optional(),
  /** How long a proposed action waits for approval, and how long an approval stays valid, seconds. */
  approvalTtlSeconds: z.number().int().min(60).max(86_400).default(DEFAULT_APPROVAL_TTL_SECONDS),
  audit: z
    .strictObject({
      /**
       * How long a call waits for the audit log's lock (held by another broker on this state
       * directory) before it is refused — before any host is called. Milliseconds.
       */
      lockWaitMs: z.number().int().min(10).max(60_000).default(DEFAULT_AUDIT_LOCK_WAIT_MS),
    })
    .default({ lockWaitMs: DEFAULT_AUDIT_LOCK_WAIT_MS }),
  /** Per-caller bounds on what the model may ask for; each refusal names the limit. */
  budgets: z
    .strictObject({
      /** propose_action calls one MCP session may make. */
      proposalsPerSession: z.number().int().min(1).max(10_000).default(DEFAULT_BUDGETS.proposalsPerSession),
      /** Proposals one requester (client, transport, token) may make in any hour, across sessions and restarts. */
      proposalsPerHour: z.number().int().min(1).max(100_000).default(DEFAULT_BUDGETS.proposalsPerHour),
    })
    .default(DEFAULT_BUDGETS),
  /**
   * Who is told that a proposal waits for a human. The notice names the request, host, action and
   * impact and how to approve; it carries no token, no link that approves and none of the model's
   * words: it cannot approve anything.
   */
  notify: z
    .strictObject({
      webhook: z
        .strictObject({
          /** http:// or https:// (a Slack incoming webhook, an ntfy topic URL, any JSON receiver). */
          url: z
            .string()
            .max(2048)
            .url()
            .refine((u) => /^https?:\/\//i.test(u), "must be an http:// or https:// URL"),
          /** json: {text, id, host, action, impact, expiresAt, howToApprove}; slack: {text}; ntfy: the text as the body, a Title header. */
          format: z.enum(["json", "slack", "ntfy"]).default("json"),
          /** Extra request headers (an ntfy access token: Authorization: Bearer …). */
          headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "a header name"), z.string().max(1024)).default({}),
          timeoutMs: z.number().int().min(100).max(30_000).default(5000),
        })
        .optional(),
    })
    .default({}),
  /**
   * Where action requests, approvals, roll-outs and the audit chain live. Absent: files under
   * stateDir (one workstation). `postgres`: a shared PostgreSQL database (team mode, several brokers).
   */
  state: z
    .strictObject({
      postgres: z.strictObject({
        /**
         * postgres://ROLE@HOST:PORT/DATABASE[?sslmode=…] — the broker's own role (made by `hostward
         * state setup`), never the tables' owner. No password here (this file is configuration, often
         * shared): PGPASSWORD, ~/.pgpass or passwordFile.
         */
        url: z
          .string()
          .max(2048)
          .refine((u) => /^postgres(ql)?:\/\/[^/?#]*\//.test(u), "must be a postgres:// URL naming a database (postgres://ROLE@HOST:PORT/DATABASE)")
          .refine((u) => !/^postgres(ql)?:\/\/[^/@?#]*:[^/@?#]*@/.test(u), "must not carry a password: use passwordFile, PGPASSWORD or ~/.pgpass"),
        /** A file holding the role's password (one line; mode 0600). */
        passwordFile: absolutePath.optional(),
        /** Connections this broker keeps (a quarter of them, at least one, for audit appends; one more listens for change notices). */
        maxConnections: z.number().int().min(2).max(100).default(8),
        connectTimeoutMs: z.number().int().min(100).max(60_000).default(5_000),
      }),
    })
    .optional(),
  /** OpenTelemetry traces over OTLP/HTTP: a span per tool call and per host call. Absent: off. */
  tracing: TracingConfigSchema.optional(),
  /**
   * GET /metrics on `serve --http`'s listener (Prometheus text format). It needs the same bearer
   * token as /mcp unless `public: true` (then anyone who reaches the listener can read the counts:
   * tool and host names, nothing else).
   */
  metrics: z.strictObject({ public: z.boolean().default(false) }).default({ public: false }),
});

export type HostEntry = z.output<typeof HostEntrySchema>;
export type PolicyRule = z.output<typeof PolicyRuleSchema>;
export type Policy = z.output<typeof PolicyFileSchema>;
export type BrokerSettings = z.output<typeof BrokerFileSchema>;

/** A loaded, cross-checked configuration. Immutable: reload builds a new one. */
export interface BrokerConfig {
  dir: string;
  hosts: readonly HostEntry[];
  policy: Policy;
  settings: BrokerSettings;
  /** users.jsonl: the people of team mode (empty without the file). */
  users: readonly UserEntry[];
  /** sha256 of the files' bytes, to tell a real change from a no-op reload. */
  digest: string;
}
